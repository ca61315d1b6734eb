"""Systematics breakdown of the expected limit: which uncertainties cost how much.

:func:`limit_breakdown` computes the expected (median) CLs upper limit on the POI
(:func:`workflows.stats.limits.upper_limit`, ``method="asymptotic"``, index 2 of the band)

* with every uncertainty (``all``),
* statistics only (``stats only``): every constrained modifier (``normsys``, ``histosys``,
  ``staterror``, ``shapesys``, ``lumi``) removed; the free ``normfactor``/``shapefactor``
  parameters (``mu``, ``bkg_norm_<p>``) stay, so the Poisson statistics of the sidebands
  still enter through the fitted background normalisation,
* and with each group of nuisances removed in turn,

removing modifiers with :meth:`pyhf.Workspace.prune`. Each row gives the limit and its
relative change against ``all``: (limit - limit_all) / limit_all (negative: the group
costs sensitivity). Group rows are ordered by that change, the most costly first.

``blind=True`` (default) replaces the observations of every channel that holds a signal
sample (a sample with the POI's normfactor) by the sum of its other samples' nominal
yields: the Asimov background, as :func:`~workflows.stats.model.build_workspace` puts in a
blinded box. The sidebands keep their counts. The breakdown then does not depend on what
an unblinded box observed, and the expected limit of a blinded workspace is unchanged.

:func:`group_by_source` forms the groups of a workspace: modifier names that differ only
by a ``_<period>`` suffix belong together (``srd_efficiency_2022`` and
``srd_efficiency_2023`` form ``srd_efficiency``, ``eot_2022`` ... form ``eot``), and all
``bkg_extrap_*`` form ``background extrapolation``.

Cost: one asymptotic limit (~2 s on a two-period box + sidebands workspace) per row.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processors.jsonio import Reader, encode_float, open_document

__all__ = [
    "ALL",
    "BACKGROUND_EXTRAPOLATION",
    "BREAKDOWN_VERSION",
    "CONSTRAINED_TYPES",
    "STATS_ONLY",
    "BreakdownRow",
    "LimitBreakdown",
    "blinded_spec",
    "constrained_modifiers",
    "group_by_source",
    "limit_breakdown",
]

#: Version of the layout written by :meth:`LimitBreakdown.to_json`.
BREAKDOWN_VERSION = 1
ALL = "all"
STATS_ONLY = "stats only"
BACKGROUND_EXTRAPOLATION = "background extrapolation"
#: Modifier types with a constraint term: what "statistics only" removes.
CONSTRAINED_TYPES = ("normsys", "histosys", "staterror", "shapesys", "lumi")


@dataclass(frozen=True)
class BreakdownRow:
    """One expected limit: ``removed`` are the modifiers taken out of the workspace."""

    label: str
    removed: tuple[str, ...]
    expected: float
    relative_change: float

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "removed": list(self.removed), "expected": encode_float(self.expected),
                "relative_change": encode_float(self.relative_change)}

    @classmethod
    def read(cls, r: Reader) -> BreakdownRow:
        return cls(r.text("label"), tuple(r.texts("removed")), r.number("expected", null=math.inf),
                   r.number("relative_change", null=math.inf))


@dataclass(frozen=True)
class LimitBreakdown:
    """Expected limits with all uncertainties, statistics only and each group removed.

    ``rows[0]`` is ``all``, ``rows[1]`` ``stats only``, then one row per group (most costly
    first). ``seconds``: wall time of the whole breakdown.
    """

    cl: float
    poi: str
    method: str
    blind: bool
    rows: tuple[BreakdownRow, ...]
    seconds: float = 0.0

    @property
    def all(self) -> BreakdownRow:
        return self.rows[0]

    @property
    def stats_only(self) -> BreakdownRow:
        return self.rows[1]

    @property
    def groups(self) -> tuple[BreakdownRow, ...]:
        return self.rows[2:]

    def row(self, label: str) -> BreakdownRow:
        for r in self.rows:
            if r.label == label:
                return r
        raise KeyError(label)

    def to_json(self) -> dict[str, Any]:
        """The document (strict JSON)::

            {"schema_version": 1, "cl": 0.9, "poi": "mu", "method": "asymptotic", "blind": true,
             "seconds": s,
             "rows": [{"label": "all", "removed": [], "expected": x, "relative_change": 0.0},
                      {"label": "stats only", "removed": [...], ...}, {"label": group, ...}...]}
        """
        return {"schema_version": BREAKDOWN_VERSION, "cl": self.cl, "poi": self.poi, "method": self.method,
                "blind": self.blind, "seconds": encode_float(self.seconds),
                "rows": [r.to_json() for r in self.rows]}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "limit breakdown") -> LimitBreakdown:
        """The breakdown :meth:`to_json` wrote; :class:`InputError` naming ``source`` and the
        key if malformed."""
        r, _ = open_document(data, source, "limit breakdown", BREAKDOWN_VERSION)
        return cls.read(r)

    @classmethod
    def read(cls, r: Reader) -> LimitBreakdown:
        """The breakdown in the object ``r`` reads (its ``schema_version`` is not read)."""
        return cls(cl=r.number("cl"), poi=r.text("poi"), method=r.text("method"), blind=r.flag("blind"),
                   rows=tuple(BreakdownRow.read(x) for x in r.objects("rows")), seconds=r.number("seconds"))


def _modifiers(spec: Mapping[str, Any]) -> dict[str, set[str]]:
    """Modifier name -> its types, over all channels and samples."""
    out: dict[str, set[str]] = {}
    for channel in spec["channels"]:
        for sample in channel["samples"]:
            for mod in sample["modifiers"]:
                out.setdefault(mod["name"], set()).add(mod["type"])
    return out


def constrained_modifiers(spec: Mapping[str, Any]) -> list[str]:
    """Names of the modifiers with a constraint term (:data:`CONSTRAINED_TYPES`), sorted."""
    return sorted(name for name, types in _modifiers(spec).items() if types & set(CONSTRAINED_TYPES))


def group_by_source(spec: Mapping[str, Any], periods: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The constrained modifiers of ``spec`` grouped by source (module docstring).

    ``periods`` are period names (as given to the workspace builder, or already as the
    parameter keys it makes of them: characters other than letters, digits and ``_``
    become ``_``). Groups are sorted by name, their members too.
    """
    suffixes = sorted({s for p in periods for s in (p, re.sub(r"[^A-Za-z0-9_]", "_", p))},
                      key=len, reverse=True)  # the longest suffix first: "2022_b" before "b"
    groups: dict[str, list[str]] = {}
    for name in constrained_modifiers(spec):
        source = name
        for suffix in suffixes:
            if name.endswith("_" + suffix) and len(name) > len(suffix) + 1:
                source = name[: -len(suffix) - 1]
                break
        if name == "bkg_extrap" or name.startswith("bkg_extrap_"):
            source = BACKGROUND_EXTRAPOLATION
        groups.setdefault(source, []).append(name)
    return {g: tuple(sorted(groups[g])) for g in sorted(groups)}


def _poi(spec: Mapping[str, Any]) -> str:
    poi = spec["measurements"][0]["config"].get("poi")
    if not poi:
        raise ValueError("the workspace's measurement names no POI")
    return str(poi)


def blinded_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` whose channels with a signal sample observe their background
    expectation (the sum of the other samples' nominal yields); other channels unchanged."""
    out = copy.deepcopy(dict(spec))
    poi = _poi(spec)
    observed = {o["name"]: o for o in out["observations"]}
    for channel in out["channels"]:
        samples = channel["samples"]
        is_signal = [any(m["name"] == poi and m["type"] == "normfactor" for m in s["modifiers"]) for s in samples]
        if not any(is_signal):
            continue
        background = [sum(s["data"][i] for s, sig in zip(samples, is_signal) if not sig)
                      for i in range(len(samples[0]["data"]))]
        observed[channel["name"]]["data"] = [float(x) for x in background]
    return out


def _prune(spec: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    import pyhf

    ws = pyhf.Workspace(copy.deepcopy(dict(spec)))
    return dict(ws.prune(modifiers=list(names))) if names else dict(ws)


def limit_breakdown(
    spec: Mapping[str, Any],
    groups: Mapping[str, Sequence[str]],
    cl: float = 0.9,
    *,
    blind: bool = True,
    rtol: float = 1e-4,
) -> LimitBreakdown:
    """Expected limit with all uncertainties, statistics only and each group removed.

    ``groups``: label -> names of constrained modifiers of ``spec`` (e.g. from
    :func:`group_by_source`); a name that is not one is refused (ValueError: a typo would
    otherwise remove nothing and look like a negligible systematic). The labels ``all``
    and ``stats only`` are reserved. ``rtol``: the limits' root-finding tolerance (the
    breakdown needs ~1e-4; the default of :func:`upper_limit`, 1e-8, costs ~20 % more).
    """
    from workflows.stats.diagnostics import quiet
    from workflows.stats.limits import upper_limit

    start = time.perf_counter()
    constrained = constrained_modifiers(spec)
    known = set(constrained)
    for label, names in groups.items():
        if label in (ALL, STATS_ONLY):
            raise ValueError(f"group label {label!r} is reserved")
        unknown = sorted(set(names) - known)
        if unknown:
            raise ValueError(f"group {label!r}: not constrained modifiers of the workspace: {', '.join(unknown)} "
                             f"(those are: {', '.join(constrained) or 'none'})")
    base = blinded_spec(spec) if blind else copy.deepcopy(dict(spec))
    poi = _poi(base)

    def expected(removed: Sequence[str]) -> float:
        with quiet():
            if blind:
                # On the background expectation the observed limit *is* the median expected
                # one (the Asimov data of the background-only fit are the data themselves,
                # every nuisance at its nominal value), and it needs one root finding
                # instead of six (observed and the five band values): ~6x faster.
                return float(upper_limit(_prune(base, removed), cl=cl, method="asymptotic", rtol=rtol,
                                         expected=False).observed)
            result = upper_limit(_prune(base, removed), cl=cl, method="asymptotic", rtol=rtol)
        assert result.expected is not None  # expected=True is upper_limit's default
        return float(result.expected[2])

    reference = expected(())

    def row(label: str, removed: Sequence[str]) -> BreakdownRow:
        value = reference if not removed else expected(removed)
        return BreakdownRow(label, tuple(sorted(removed)), value, (value - reference) / reference)

    rows = [row(ALL, ()), row(STATS_ONLY, constrained)]
    group_rows = [row(label, list(names)) for label, names in groups.items()]
    group_rows.sort(key=lambda r: (r.relative_change, r.label))
    return LimitBreakdown(cl=cl, poi=poi, method="asymptotic", blind=blind, rows=tuple(rows + group_rows),
                          seconds=time.perf_counter() - start)
