"""Published NA64 limits recomputed with the project's own yields, efficiencies and statistics.

For a :class:`~workflows.signal.publications.Publication` (its exposure, observed count,
background and signal box as the seeds give them), at each mass m:

    N_A'(m, eps) = EOT x eff(m) x n_A'(m, E0, E_A' > threshold, eps)           (PRD 97, Eq. 26)
    eps_90(m)    = 1e-4 x sqrt(N_90 / N_A'(m, 1e-4))                          (N_A' ~ eps^2)
    y_90         = eps_90^2 alpha_D (m_chi / m_A')^4, m_A' = 3 m_chi          (alpha_D = 0.1, 0.5)

* n_A': the project's yield per EOT (:mod:`workflows.signal.aprime`): dark bremsstrahlung
  alone where the publication has only that (``bremsstrahlung_per_eot``), otherwise
  bremsstrahlung plus resonant annihilation for the publication's beam particle
  (``yield_per_eot(..., particle=...)``), with K-factors.
* eff(m): the project's measured signal efficiency (``na64 signal``'s table,
  :class:`~workflows.signal.efficiency.EfficiencyTable`) of the run periods standing for
  the publication's data, weighted by their exposures, interpolated in log(mass) (held at
  the end values outside the table's masses: such masses are flagged).
* N_90: the paper's own value where it quotes one (PRD 97: 2.3); otherwise the CLs upper
  limit on the signal count from the observed count and the background, by the project's
  statistics code (:func:`workflows.stats.limits.upper_limit` on the one-bin counting
  model of :func:`workflows.stats.exclusion.merged_counting_workspace`). ``exact`` (default)
  uses the central background (at zero observed events CLs = exp(-s) whatever the
  background: 2.30 events); ``toys`` or ``asymptotic`` add its uncertainty as a
  log-normal nuisance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from processors.errors import ConfigurationError
from workflows.signal.efficiency import EFFICIENCY_FILE, EfficiencyTable
from workflows.signal.publications import Publication, PublishedLimit
from workflows.stats.exclusion import ALPHA_D, EPSILON_REF, Exclusion

log = logging.getLogger(__name__)

LIMIT_METHODS = ("exact", "toys", "asymptotic")
#: Where a reproduction keeps the efficiencies it had to measure itself: RESULTS/reproduce/NAME/.
REPRODUCE_DIR = "reproduce"
#: A' events per period and mass when the efficiencies are measured here (as the demo: its
#: ~10 % calibration triggers must give the 100 the shower reference needs at least).
DEFAULT_EVENTS = 2000


@dataclass(frozen=True)
class MassReproduction:
    """One mass of a reproduction (GeV; limits on epsilon, absolute)."""

    mass: float
    efficiency: float
    yield_per_eot: float
    signal_events: float
    eps90: float | None
    published: PublishedLimit | None
    y90: dict[float, float | None]
    extrapolated: bool

    @property
    def ratio(self) -> float | None:
        """Ours over published, where both exist."""
        if self.published is None or self.eps90 is None:
            return None
        return self.eps90 / self.published.eps90

    def to_json(self) -> dict[str, Any]:
        return {
            "mass": self.mass, "eps90": self.eps90,
            "eps90_published": None if self.published is None else self.published.eps90,
            "ratio": self.ratio,
            "y90": {f"{a:g}": y for a, y in self.y90.items()},
            "efficiency": self.efficiency, "yield_per_eot": self.yield_per_eot,
            "signal_events_eps1e-4": self.signal_events,
            "efficiency_extrapolated": self.extrapolated,
            **({"published_note": self.published.note} if self.published is not None else {}),
        }


@dataclass(frozen=True)
class Reproduction:
    """A publication recomputed: N_90 and how it was obtained, where the efficiencies come
    from, and one :class:`MassReproduction` per mass."""

    publication: Publication
    n90: float
    limit_method: str
    efficiency_file: str
    masses: tuple[MassReproduction, ...]

    def to_json(self) -> dict[str, Any]:
        p = self.publication
        return {
            "name": p.name, "title": p.title, "reference": p.reference,
            "particle": p.particle, "energy": p.energy, "threshold": p.threshold, "eot": p.eot,
            "observed": p.observed, "background": p.background,
            "background_error": p.background_error, "production": p.production,
            "k_factor": p.k_factor, "n90": self.n90, "limit_method": self.limit_method,
            "efficiency_file": self.efficiency_file,
            "efficiency_periods": {s.period: s.eot for s in p.periods},
            "sources": list(p.sources),
            "masses": [m.to_json() for m in self.masses],
        }


def signal_upper_limit(observed: int, background: float, background_error: float | None,
                       method: str = "exact", cl: float = 0.9) -> tuple[float, str]:
    """(N_90, method): the CLs upper limit on the number of signal events for ``observed``
    events over ``background``, by the project's limit code (see the module docstring)."""
    from workflows.stats.exclusion import counting_upper_limit

    if method not in LIMIT_METHODS:
        raise ConfigurationError(f"--method: one of {', '.join(LIMIT_METHODS)}, not {method!r}")
    result = counting_upper_limit(observed, background, background_error, method, cl)
    return float(result.observed), result.method


def aprime_yield(publication: Publication, masses: np.ndarray) -> np.ndarray:
    """A' per EOT at epsilon = 1e-4 with E_A' above the publication's threshold, for the
    production channels its limit includes."""
    from workflows.signal import aprime

    p = publication
    if p.production == "bremsstrahlung":
        values = aprime.bremsstrahlung_per_eot(masses, p.energy, p.threshold, EPSILON_REF,
                                               k_factor=p.k_factor)
    else:
        values = aprime.yield_per_eot(masses, p.energy, p.threshold, EPSILON_REF,
                                      k_factor=p.k_factor, particle=p.particle)
    return np.atleast_1d(np.asarray(values, dtype=float))


def combined_efficiency(publication: Publication, table: EfficiencyTable,
                        masses: np.ndarray) -> np.ndarray:
    """Exposure-weighted efficiency of the publication's periods at ``masses``."""
    if missing := missing_periods(publication, table):
        raise ConfigurationError(f"the efficiency table has no period {', '.join(missing)}")
    total = sum(s.eot for s in publication.periods)
    return np.sum([s.eot / total * table.at(s.period, masses) for s in publication.periods], axis=0)


def missing_periods(publication: Publication, table: EfficiencyTable) -> list[str]:
    return [s.period for s in publication.periods if s.period not in table.efficiency]


def reproduce(publication: Publication, table: EfficiencyTable, efficiency_file: str = "",
              method: str = "exact") -> Reproduction:
    """The publication's limits with the project's yield and the efficiencies of ``table``."""
    p = publication
    masses = np.asarray(p.masses, dtype=float)
    if p.n90 is not None:
        n90, how = p.n90, "fixed: the publication's own N_90"
    else:
        n90, how = signal_upper_limit(p.observed, p.background, p.background_error, method)
    eff = combined_efficiency(p, table, masses)
    n_a = aprime_yield(p, masses)
    signal = p.eot * eff * n_a
    lo, hi = min(table.masses), max(table.masses)
    rows = []
    for i, m in enumerate(masses):
        eps = float(EPSILON_REF * np.sqrt(n90 / signal[i])) if signal[i] > 0 else None
        y90 = {a: (None if eps is None else float(Exclusion.y(np.array(eps), a))) for a in ALPHA_D}
        rows.append(MassReproduction(float(m), float(eff[i]), float(n_a[i]), float(signal[i]), eps,
                                     p.published_at(float(m)), y90,
                                     bool(m < lo * (1 - 1e-9) or m > hi * (1 + 1e-9))))
    log.info("%s: N_90 = %.4g (%s), efficiencies from %s", p.name, n90, how, efficiency_file or "a table")
    return Reproduction(p, n90, how, efficiency_file, tuple(rows))


def check_beams(publication: Publication, catalog: Path, periods: Sequence[str] | None = None) -> None:
    """The catalog's periods standing for the publication (those it has) must have the
    publication's beam particle and energy; :class:`ConfigurationError` naming them if not."""
    from workflows.processing.catalog import load_catalog

    names = {s.period for s in publication.periods} if periods is None else set(periods)
    if not Path(catalog).exists():
        return
    wrong = [f"{q.source or q.name}: period {q.name} has a {q.beam.particle} beam of {q.beam.energy:g} GeV"
             for q in load_catalog(catalog, require_files=False) if q.name in names
             and (q.beam.particle != publication.particle or q.beam.energy != publication.energy)]
    if wrong:
        raise ConfigurationError("; ".join(wrong) + f": {publication.name} needs "
                                 f"{publication.particle} at {publication.energy:g} GeV")


def find_efficiencies(publication: Publication, results: Path, catalog: Path,
                      efficiency_file: Path | None = None, n_events: int = DEFAULT_EVENTS,
                      cluster: Any = None) -> tuple[EfficiencyTable, Path]:
    """The efficiency table for ``publication`` and its file.

    ``efficiency_file`` if given (it must hold every period of the publication); else
    ``RESULTS/signal_efficiency.json`` (``na64 signal``'s) if it has them, else one measured
    before for this publication under ``RESULTS/reproduce/NAME/``; else the periods' signal
    is simulated and measured now at the publication's masses (``n_events`` A' per period
    and mass, :func:`workflows.signal.efficiency.measure`) and kept there.
    """
    from workflows.signal.efficiency import measure

    check_beams(publication, catalog)
    if efficiency_file is not None:
        path = Path(efficiency_file)
        if not path.exists():
            raise ConfigurationError(f"--efficiency: {path} does not exist")
        table = EfficiencyTable.read(path)
        if missing := missing_periods(publication, table):
            raise ConfigurationError(
                f"{path}: key 'efficiency': no period {', '.join(missing)} ({publication.name} needs "
                f"{', '.join(s.period for s in publication.periods)}; it has "
                f"{', '.join(sorted(table.efficiency))}): run `na64 signal --period ...` or leave "
                "out --efficiency to have them measured")
        return table, path
    own = Path(results) / REPRODUCE_DIR / publication.name
    for path in (Path(results) / EFFICIENCY_FILE, own / EFFICIENCY_FILE):
        if path.exists():
            table = EfficiencyTable.read(path)
            if not missing_periods(publication, table):
                return table, path
            log.info("%s lacks periods %s", path, ", ".join(missing_periods(publication, table)))
    periods = [s.period for s in publication.periods]
    log.info("measuring the signal efficiency of %s at %d masses (%d A' each) under %s",
             ", ".join(periods), len(publication.masses), n_events, own)
    table = measure(catalog, own, publication.masses, n_events, periods, cluster=cluster)
    return table, own / EFFICIENCY_FILE
