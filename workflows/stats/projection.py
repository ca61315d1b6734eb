"""Projections: the expected background and expected limits of a future exposure.

The future exposure is taken under the conditions of the chosen catalog periods (beam,
intensity, cuts), shared among them in proportion to their catalog EOT. Its background
is the simulation's expected box events per EOT at the per-EOT rates (the model's tails
and the seeds/002 Table 1 mechanisms) times the exposure; the sideband estimate per EOT
of already processed periods, where present, is shown beside it. The signal uses the
measured efficiency table (``na64 signal``) and the A' yield per EOT; the limit is the
merged counting model's expected CLs band (nothing observed yet).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from workflows.processing.catalog import Period
    from workflows.signal.efficiency import EfficiencyTable
    from workflows.stats.exclusion import Exclusion

#: Relative uncertainty of a projected background (assumption): that of the published
#: 2016-2018 budget, 0.17 / 0.53 (seeds/002 Table 1).
BACKGROUND_REL_ERROR = 0.17 / 0.53


@dataclass(frozen=True)
class Projection:
    """A projected exposure: its background, the assumptions and the expected exclusion."""

    eot: float
    periods: tuple[str, ...]
    shares: dict[str, float]
    background: float
    background_error: float
    background_by_source: dict[str, float]
    sideband_per_eot: float | None
    exclusion: Exclusion
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"eot": self.eot, "periods": list(self.periods), "shares": self.shares,
                "background": {"total": self.background, "error": self.background_error,
                               "by_source": self.background_by_source},
                "sideband_background_per_eot": self.sideband_per_eot,
                "sideband_background_projected": (None if self.sideband_per_eot is None
                                                  else self.sideband_per_eot * self.eot),
                "assumptions": list(self.assumptions),
                "exclusion": self.exclusion.to_json()}


def model_background(period: Period, eot: float) -> dict[str, float]:
    """The simulation's expected box events of ``eot`` under ``period``'s conditions."""
    from workflows.simulation.config import SimulationConfig, pileup_probability
    from workflows.simulation.expectations import box_background_per_eot

    config = SimulationConfig.model_validate({})
    pu = pileup_probability(config.detector, period.beam.intensity)
    per_eot = box_background_per_eot(config, period.beam.energy, period.beam.particle, pu,
                                     period.cuts)
    return {k: v * eot for k, v in per_eot.items()}


def project(eot: float, periods: Sequence[Period], efficiency: EfficiencyTable,
            sideband_per_eot: float | None = None, masses: np.ndarray | None = None,
            cl: float = 0.9) -> Projection:
    """The projection of ``eot`` under the conditions of ``periods``."""
    from workflows.stats.exclusion import Exclusion, PeriodSignal, counting_upper_limit, mass_grid

    if not eot > 0:
        raise ValueError(f"the exposure must be > 0 EOT, got {eot}")
    if not periods:
        raise ValueError("no period to project from")
    masses = mass_grid() if masses is None else masses
    total_eot = sum(p.eot for p in periods)
    shares = {p.name: p.eot / total_eot for p in periods}
    by_source: dict[str, float] = {}
    for p in periods:
        for k, v in model_background(p, eot * shares[p.name]).items():
            by_source[k] = by_source.get(k, 0.0) + v
    background = by_source.pop("total")
    error = BACKGROUND_REL_ERROR * background
    signals = [PeriodSignal(p.name, eot * shares[p.name], p.beam.energy, p.cuts.box_ecal_max,
                            efficiency.at(p.name, masses)) for p in periods]
    # Exact Poisson CLs of the known background (fast at any exposure): the background
    # uncertainty is quoted, not folded into the limit (an assumption printed below).
    total = np.sum([s.events(masses) for s in signals], axis=0)
    band = np.asarray(counting_upper_limit(0, background, cl=cl, expected=True).expected)
    with np.errstate(divide="ignore"):
        scale = np.where(total > 0, 1.0 / total, np.inf)
    exclusion = Exclusion(masses, total, None, np.outer(band, scale), "merged", "exact", cl)
    assumptions = (
        f"{eot:.3g} EOT under the conditions of {', '.join(shares)} (beam, intensity, cuts), "
        "shared as their catalog EOT",
        "background: the simulation's per-EOT rates (workflows.simulation.config.RateModel: "
        "the model's tails and the seeds/002 Table 1 mechanisms) times the exposure",
        f"background uncertainty {100 * BACKGROUND_REL_ERROR:.0f} % (that of seeds/002 Table 1)",
        "signal efficiencies: the measured table of `na64 signal` (per period, interpolated in "
        "log mass); A' yield per EOT of workflows.signal.aprime",
        "expected limits: merged counting model, exact Poisson CLs of the expected background "
        "(its uncertainty quoted, not folded in), nothing observed yet (expected band)",
    )
    return Projection(eot, tuple(shares), shares, background, error, by_source,
                      sideband_per_eot, exclusion, assumptions)


def sideband_background_per_eot(backgrounds: Sequence[Any]) -> float | None:
    """Sideband estimate per EOT of processed periods (``PeriodBackground``), or None."""
    eot = sum(b.eot for b in backgrounds)
    if not backgrounds or not eot > 0:
        return None
    value: float = sum(b.background for b in backgrounds) / eot
    return value if math.isfinite(value) else None


def expected_counts(background: float) -> list[int]:
    """Box counts at the -2..+2 sigma quantiles of Poisson(background) (those of the exact
    calculator's expected band)."""
    from workflows.stats.limits.calculators import band_counts

    return [int(k) for k in band_counts(background)]


def cls_upper_limit(n: int, background: float, cl: float = 0.9) -> float:
    """Exact CLs upper limit on the signal count for n observed over a known background:
    P(N <= n | s + b) / P(N <= n | b) = 1 - cl (n = 0: s = -ln(1 - cl), 2.30 at 90 %)."""
    from workflows.stats.exclusion import counting_upper_limit

    return float(counting_upper_limit(n, background, cl=cl).observed)
