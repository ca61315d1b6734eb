"""The systematics breakdown of the expected limit at a few A' masses, in the fit's own model.

At each mass the model of the exclusion is rebuilt (the merged counting bin, or the
multi-period model with sidebands) with every nuisance ``na64 fit`` puts in it, and
:func:`workflows.stats.limit_breakdown.limit_breakdown` gives its expected (blinded)
limit with all uncertainties, with statistics only, and with each source removed in turn
(sources: :func:`~workflows.stats.limit_breakdown.group_by_source`, so that the per-period
parameters of one source go together). The limit on the number of signal events becomes
a limit on epsilon as in the exclusion: eps_90 = eps_ref x sqrt(N_90 / S(m, eps_ref)).

Its own module: :mod:`workflows.stats.fit` assembles the results of the fit, this one
knows how to rebuild the model at one mass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from processors.jsonio import Reader, encode_float, open_document
from workflows.stats.exclusion import EPSILON_REF, PeriodSignal, merged_counting_workspace
from workflows.stats.limit_breakdown import BreakdownRow, LimitBreakdown, group_by_source, limit_breakdown

if TYPE_CHECKING:
    from workflows.stats.fit import PeriodBackground
    from workflows.stats.systematics import VariationNuisance
    from workflows.stats.systematics_file import SystematicsFile

#: Masses (GeV) of the breakdown: inside the default efficiency table (2, 20, 200, 900 MeV),
#: across the bremsstrahlung reach.
BREAKDOWN_MASSES = (0.002, 0.02, 0.2)
BREAKDOWN_VERSION = 1
#: Readable labels of the groups of the merged model's built-in nuisances.
_LABELS = {"background_norm": "background estimate (sidebands)"}


@dataclass(frozen=True)
class MassBreakdown:
    """The breakdown at one mass; ``signal``: A' events expected at eps_ref (all periods)."""

    mass: float
    signal: float
    limits: LimitBreakdown

    def epsilon(self, row: BreakdownRow) -> float:
        """The expected eps_90 of a row (inf without signal)."""
        if self.signal <= 0:
            return math.inf
        return EPSILON_REF * math.sqrt(row.expected / self.signal)

    def to_json(self) -> dict[str, Any]:
        out = {"mass": self.mass, "signal_events_eps_ref": self.signal, **self.limits.to_json()}
        out.pop("schema_version")
        out["eps90_expected"] = {r.label: encode_float(self.epsilon(r)) for r in self.limits.rows}
        return out

    @classmethod
    def read(cls, r: Reader) -> MassBreakdown:
        """The breakdown at one mass (``eps90_expected`` follows from the rows: not read)."""
        return cls(r.number("mass"), r.number("signal_events_eps_ref"), LimitBreakdown.read(r))


@dataclass(frozen=True)
class SystematicsBreakdown:
    """The breakdown of the expected limit at each of a few masses, in one model."""

    model: str
    masses: tuple[MassBreakdown, ...]

    def labels(self) -> list[str]:
        """Row labels, in the order of the first mass (all, stats only, most costly first)."""
        return [r.label for r in self.masses[0].limits.rows] if self.masses else []

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": BREAKDOWN_VERSION, "model": self.model,
                "masses": [m.to_json() for m in self.masses]}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "systematics breakdown") -> SystematicsBreakdown:
        r, _ = open_document(data, source, "systematics breakdown", BREAKDOWN_VERSION)
        return cls.read(r)

    @classmethod
    def read(cls, r: Reader) -> SystematicsBreakdown:
        return cls(r.text("model"), tuple(MassBreakdown.read(m) for m in r.objects("masses")))


def _labelled(groups: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return {_LABELS.get(k, k): v for k, v in groups.items()}


def systematics_breakdown(
    model: str,
    masses: Sequence[float],
    signals: Sequence[PeriodSignal],
    backgrounds: Sequence[PeriodBackground],
    variations: Sequence[VariationNuisance],
    fixed: SystematicsFile | None,
    cl: float = 0.9,
    client: Any = None,
) -> SystematicsBreakdown:
    """The breakdown at each of ``masses`` (GeV) in ``model`` ("merged" or "multibin"),
    with the nuisances ``na64 fit`` gives that model; masses without signal are left out.

    ``signals``: each period's signal with its efficiency at ``masses`` (one value per mass);
    ``client``: a ``distributed.Client`` that computes the masses in parallel."""
    from workflows.stats.fit import model_inputs, total_background
    from workflows.stats.model import build_workspace
    from workflows.stats.systematics import counting_nuisances, model_systematics

    names = [b.period for b in backgrounds]
    background, background_error = total_background(list(backgrounds))
    todo: list[tuple[float, float, dict[str, Any], dict[str, tuple[str, ...]]]] = []
    for i, mass in enumerate(masses):
        m = np.array([float(mass)])
        per_period = np.array([replace(s, efficiency=s.efficiency[i:i + 1]).events(m)
                               for s in signals])  # (periods, 1)
        total = float(per_period.sum())
        if total <= 0:
            continue
        if model == "merged":
            nuisances = counting_nuisances([b.background for b in backgrounds], variations, fixed, names,
                                           per_period, m)
            spec = merged_counting_workspace(None, background, background_error, 0.0, nuisances)
        else:
            inputs = model_inputs(list(backgrounds), {n: float(per_period[k, 0]) / total for k, n in enumerate(names)})
            spec = build_workspace(inputs, extra_systematics=model_systematics(inputs, variations, fixed, float(mass)))
        todo.append((float(mass), total, spec, _labelled(group_by_source(spec, names))))
    if client is not None and todo:
        futures = client.map(limit_breakdown, [t[2] for t in todo], [t[3] for t in todo], cl=cl, pure=False)
        limits = client.gather(futures)
    else:
        limits = [limit_breakdown(spec, groups, cl=cl) for _, _, spec, groups in todo]
    return SystematicsBreakdown(model, tuple(MassBreakdown(m, total, lim)
                                             for (m, total, _, _), lim in zip(todo, limits, strict=True)))

