"""HistFactory (pyhf JSON) workspace for the multi-period missing-energy search.

The statistical model follows the NA64 method: each run period is one *bin* of a
single signal-box channel (the papers' multi-bin RooStats combination), and the
sideband control regions A and C are channels with one bin per period.

Channels: ``signal_box`` (one bin per period, in the order given) and, if any period
has non-empty sidebands, ``sideband_A`` and ``sideband_C`` (one bin per such period,
same order). Model, period ``k`` (``p`` = sanitised period name)::

    box_k  ~ Poisson( mu * s_k * S_k(alpha)  +  theta_k * b_k * E_k(alpha) )
    A_k    ~ Poisson( theta_k * a_k )            (only if the period has sidebands)
    C_k    ~ Poisson( theta_k * c_k )

* ``mu`` (the POI) scales the signal expected at the reference coupling
  ``eps_ref``: since N_sig is proportional to eps^2, ``eps_up = eps_ref * sqrt(mu_up)``.
* Sideband connection (data-driven background): ``b_k`` is the background that the
  extrapolation puts in the box for the observed sideband counts ``a_k + c_k``, so the
  extrapolation factor ``tau_k = b_k / (a_k + c_k)`` is a fixed ratio. A free
  normalisation ``theta_k`` (``bkg_norm_<p>``, or one shared ``bkg_norm``) scales the
  sideband templates (``a_k``, ``c_k``) and the box background together, so the
  sideband Poisson terms carry the statistical error of the estimate and the fitted
  ``theta_k`` is 1 for the nominal inputs. The uncertainty of ``tau_k`` (variation of
  the extrapolation functions, ``background_error``) is a log-normal ``normsys``
  ``bkg_extrap_<p>`` on the box background only. With sidebands,
  ``background_error`` must therefore be the *systematic* (extrapolation) part only.
* Periods without sideband counts (``a_observed``/``c_observed`` None) or with empty
  sidebands (A + C = 0, which cannot normalise anything) fall back to a background
  constrained only by the log-normal ``bkg_extrap_<p>`` (``b_k +- background_error``);
  :func:`build_notes` says so.
* Log-normal nuisances are ``normsys`` with ``hi = k``, ``lo = 1/k`` (``k = 1 + r`` for a
  relative error ``r``): the factor is ``k**alpha`` with a unit Gaussian ``alpha``, i.e.
  log-normal with ``sigma_ln = ln k``. pyhf's normsys *interpolation code 1* is exactly
  ``k**alpha``. Note that pyhf 0.7.6's *model default* is code 4 (identical for
  ``|alpha| >= 1``, a 6th-order polynomial matching value and two derivatives at
  ``|alpha| = 1`` inside), which is also ROOT 6.40's HistFactory default (its
  FlexibleInterpVar code 5). A JSON workspace cannot carry the code, so anyone refitting
  gets code 4; pass ``modifier_settings=LOGNORMAL_MODIFIER_SETTINGS`` for the exact
  log-normal. For hi = k, lo = 1/k the two agree closely: limits differ by ~1e-8
  relative on the test workspaces.
  Built-in signal nuisances (none unless asked for: the defaults are 0, since the
  numbers belong in ``datasets/systematics.yaml``, which ``na64 fit`` turns into
  ``extra_systematics``, see :mod:`workflows.stats.systematics`): ``eot_<p>`` (EOT
  count), ``sig_eff_<p>`` (signal efficiency), ``sig_extra_<p>`` (any further
  uncorrelated signal error) per period, and one ``aprime_yield`` (A' production cross
  section) correlated across periods.
* Extra nuisances (``extra_systematics``) are ``normsys`` (or ``histosys``) modifiers on
  the box samples; a period whose up and down yields both equal its nominal one gets no
  modifier from it (an uncorrelated nuisance ``<name>_<period>`` acts on its period only).
* Edge cases (never NaN): a period with zero expected signal (zero efficiency)
  has no signal sample (it still constrains its background); a zero background (and
  an empty sideband A or C template) is kept as a tiny positive floor
  (``BACKGROUND_FLOOR`` events) so that every bin has a positive expectation under
  the background-only hypothesis (an observed event on a zero expectation would give
  a log-likelihood of -inf; ROOT also rejects zero-expectation bins); no period
  with signal at all is an error.
* Blinded periods (``box_observed is None``) get the Asimov background expectation
  (``b_k``, all nuisances nominal) as box data and the measurement name ends in
  ``_expected_only``: a limit from such a workspace is an expected limit only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

BOX_CHANNEL = "signal_box"
SIDEBAND_A_CHANNEL = "sideband_A"
SIDEBAND_C_CHANNEL = "sideband_C"
POI_NAME = "mu"
APRIME_YIELD = "aprime_yield"
BACKGROUND_FLOOR = 1e-6
EXPECTED_ONLY_TAG = "_expected_only"
LOGNORMAL_MODIFIER_SETTINGS: dict[str, dict[str, str]] = {
    "normsys": {"interpcode": "code1"},
    "histosys": {"interpcode": "code0"},
}

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class PeriodInputs:
    """Counts and uncertainties of one run period (one bin of every channel).

    Attributes:
        name: period name (letters, digits, ``_ . -``).
        eot: electrons on target (bookkeeping; the signal already includes it).
        background: expected background events in the signal box.
        background_error: absolute uncertainty of ``background`` from the extrapolation
            (systematic part only when sideband counts are given).
        signal: expected signal events in the box at the reference coupling (mu = 1).
        box_observed: events observed in the box; None while the box is blinded.
        a_observed, c_observed: events in sidebands A and C (None: no sideband term).
        eot_rel_error: relative uncertainty of the EOT count.
        efficiency_rel_error: relative uncertainty of the signal efficiency.
        signal_rel_error: any further uncorrelated relative signal uncertainty.
    """

    name: str
    eot: float
    background: float
    background_error: float
    signal: float
    box_observed: int | None = None
    a_observed: int | None = None
    c_observed: int | None = None
    eot_rel_error: float = 0.0
    efficiency_rel_error: float = 0.0
    signal_rel_error: float = 0.0

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"period name {self.name!r}: use letters, digits, '_', '.', '-'")
        for attr in ("eot", "background", "background_error", "signal", "eot_rel_error",
                     "efficiency_rel_error", "signal_rel_error"):
            value = getattr(self, attr)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"period {self.name}: {attr} must be finite and >= 0, got {value}")
        for attr in ("box_observed", "a_observed", "c_observed"):
            value = getattr(self, attr)
            if value is not None and (int(value) != value or value < 0):
                raise ValueError(f"period {self.name}: {attr} must be a count >= 0, got {value}")
        if (self.a_observed is None) != (self.c_observed is None):
            raise ValueError(f"period {self.name}: give both sideband counts (A and C) or neither")

    @property
    def blinded(self) -> bool:
        return self.box_observed is None

    @property
    def sideband_total(self) -> int | None:
        if self.a_observed is None or self.c_observed is None:
            return None
        return int(self.a_observed) + int(self.c_observed)

    @property
    def uses_sidebands(self) -> bool:
        """True when the sidebands can normalise the background (A + C > 0)."""
        return bool(self.sideband_total)


@dataclass(frozen=True)
class Systematic:
    """An extra systematic variation, correlated across periods (one nuisance).

    ``up``/``down`` are the varied yields of ``sample`` per period (same order as the
    periods). ``kind="normsys"`` turns them into per-period factors up/nominal,
    down/nominal (log-normal-like); ``kind="histosys"`` uses them as shape variations.
    """

    sample: Literal["signal", "background"]
    up: Sequence[float]
    down: Sequence[float]
    kind: Literal["normsys", "histosys"] = "normsys"

    def __post_init__(self) -> None:
        if self.sample not in ("signal", "background"):
            raise ValueError("systematic sample must be 'signal' or 'background', "
                             f"not {self.sample!r}")
        if self.kind not in ("normsys", "histosys"):
            raise ValueError(f"systematic kind must be 'normsys' or 'histosys', not {self.kind!r}")
        values = [*self.up, *self.down]
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise ValueError("systematic up/down yields must be finite and >= 0")


@dataclass(frozen=True)
class _Layout:
    """Bin order and parameter names shared by all builders below."""

    periods: tuple[PeriodInputs, ...]
    keys: tuple[str, ...]
    norm_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def nbins(self) -> int:
        return len(self.periods)

    def one_hot(self, index: int, value: float) -> list[float]:
        data = [0.0] * self.nbins
        data[index] = float(value)
        return data


def _sanitise(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _lognormal(name: str, rel_error: float) -> dict[str, Any] | None:
    """normsys with hi = k, lo = 1/k, k = 1 + rel_error (None when rel_error is 0)."""
    if rel_error <= 0:
        return None
    k = 1.0 + rel_error
    return {"name": name, "type": "normsys", "data": {"hi": k, "lo": 1.0 / k}}


def _box_background(period: PeriodInputs) -> float:
    return max(period.background, BACKGROUND_FLOOR)


def _signal_modifiers(period: PeriodInputs, key: str, poi: str,
                      yield_rel_error: float) -> list[dict[str, Any]]:
    mods: list[dict[str, Any] | None] = [
        {"name": poi, "type": "normfactor", "data": None},
        _lognormal(f"eot_{key}", period.eot_rel_error),
        _lognormal(f"sig_eff_{key}", period.efficiency_rel_error),
        _lognormal(f"sig_extra_{key}", period.signal_rel_error),
        _lognormal(APRIME_YIELD, yield_rel_error),
    ]
    return [m for m in mods if m is not None]


def _background_modifiers(period: PeriodInputs, key: str, norm: str | None) -> list[dict[str, Any]]:
    mods: list[dict[str, Any]] = []
    if norm is not None:
        mods.append({"name": norm, "type": "normfactor", "data": None})
    if period.background > 0:
        extrap = _lognormal(f"bkg_extrap_{key}", period.background_error / period.background)
        if extrap is not None:
            mods.append(extrap)
    return mods


def _extra_modifier(name: str, syst: Systematic, index: int, nominal: float,
                    layout: _Layout) -> dict[str, Any] | None:
    up, down = float(syst.up[index]), float(syst.down[index])
    if syst.kind == "histosys":
        return {"name": name, "type": "histosys",
                "data": {"hi_data": layout.one_hot(index, up),
                         "lo_data": layout.one_hot(index, down)}}
    if nominal <= 0:
        return None
    hi, lo = up / nominal, down / nominal
    if hi == 1.0 and lo == 1.0:  # this nuisance does not move this period
        return None
    if hi <= 0 or lo <= 0:
        raise ValueError(f"systematic {name}: normsys variations must stay positive "
                         f"(period {layout.periods[index].name}: up={up}, down={down})")
    return {"name": name, "type": "normsys", "data": {"hi": hi, "lo": lo}}


def _box_samples(layout: _Layout, poi: str, yield_rel_error: float,
                 extra: Mapping[str, tuple[Systematic, ...]]) -> list[dict[str, Any]]:
    samples = []
    for i, (period, key) in enumerate(zip(layout.periods, layout.keys)):
        if period.signal > 0:
            mods = _signal_modifiers(period, key, poi, yield_rel_error)
            mods += _extras_for("signal", i, period.signal, layout, extra)
            samples.append({"name": f"signal_{key}", "data": layout.one_hot(i, period.signal),
                            "modifiers": mods})
        nominal_b = _box_background(period)
        mods = _background_modifiers(period, key, layout.norm_names.get(period.name))
        mods += _extras_for("background", i, period.background, layout, extra)
        samples.append({"name": f"background_{key}", "data": layout.one_hot(i, nominal_b),
                        "modifiers": mods})
    return samples


def _extras_for(sample: str, index: int, nominal: float, layout: _Layout,
                extra: Mapping[str, tuple[Systematic, ...]]) -> list[dict[str, Any]]:
    mods = []
    for name, systs in extra.items():
        for syst in systs:
            if syst.sample == sample:
                mod = _extra_modifier(name, syst, index, nominal, layout)
                if mod is not None:
                    mods.append(mod)
    return mods


def _sideband_periods(layout: _Layout) -> list[tuple[PeriodInputs, str]]:
    """Periods whose sidebands normalise the background: the bins of the sideband channels."""
    return [(p, k) for p, k in zip(layout.periods, layout.keys) if p.name in layout.norm_names]


def _sideband_channel(name: str, attr: str, layout: _Layout) -> dict[str, Any]:
    periods = _sideband_periods(layout)
    samples = []
    for i, (period, key) in enumerate(periods):
        data = [0.0] * len(periods)
        data[i] = max(float(getattr(period, attr)), BACKGROUND_FLOOR)
        samples.append({"name": f"background_{key}", "data": data,
                        "modifiers": [{"name": layout.norm_names[period.name],
                                       "type": "normfactor", "data": None}]})
    return {"name": name, "samples": samples}


def _sideband_data(attr: str, layout: _Layout) -> list[float]:
    return [float(getattr(p, attr)) for p, _ in _sideband_periods(layout)]


def _box_data(layout: _Layout) -> list[float]:
    """Observed box counts; blinded periods get the Asimov background expectation."""
    return [_box_background(p) if p.box_observed is None else float(p.box_observed)
            for p in layout.periods]


def _parameters(layout: _Layout, poi: str) -> list[dict[str, Any]]:
    total_signal = sum(p.signal for p in layout.periods)
    params = [{"name": poi, "bounds": [[0.0, max(10.0, 100.0 / total_signal)]], "inits": [1.0]}]
    for norm in sorted(set(layout.norm_names.values())):
        counts = [p.sideband_total or 0 for p in layout.periods if layout.norm_names.get(p.name) == norm]
        upper = max(10.0, 1.0 + 10.0 / math.sqrt(sum(counts)))
        params.append({"name": norm, "bounds": [[0.0, upper]], "inits": [1.0]})
    return params


def _layout(periods: Sequence[PeriodInputs], background_norm: str) -> _Layout:
    if not periods:
        raise ValueError("no periods given")
    keys = tuple(_sanitise(p.name) for p in periods)
    if len(set(keys)) != len(keys):
        raise ValueError(f"period names must be unique (after mapping to parameter names): {keys}")
    if background_norm not in ("per_period", "shared"):
        raise ValueError("background_norm must be 'per_period' or 'shared', "
                         f"not {background_norm!r}")
    norms = {p.name: ("bkg_norm" if background_norm == "shared" else f"bkg_norm_{k}")
             for p, k in zip(periods, keys) if p.uses_sidebands}
    return _Layout(tuple(periods), keys, norms)


def _normalise_extra(extra: Mapping[str, Systematic | Sequence[Systematic]] | None
                     ) -> dict[str, tuple[Systematic, ...]]:
    """Every nuisance as the tuple of its effects (one per sample at most)."""
    out: dict[str, tuple[Systematic, ...]] = {}
    for name, value in (extra or {}).items():
        systs = (value,) if isinstance(value, Systematic) else tuple(value)
        samples = [s.sample for s in systs]
        if not systs or len(set(samples)) != len(samples):
            raise ValueError(f"systematic {name}: give one effect per sample (signal, background), "
                             f"got {samples or 'none'}")
        out[name] = systs
    return out


def _check_extra(extra: Mapping[str, tuple[Systematic, ...]], layout: _Layout,
                 yield_rel_error: float) -> None:
    # Names of the built-in nuisances this model really has (a zero one adds no modifier).
    reserved = {POI_NAME} | ({APRIME_YIELD} if yield_rel_error > 0 else set())
    prefixes = ["bkg_extrap", "bkg_norm"]
    for attr, prefix in (("eot_rel_error", "eot"), ("efficiency_rel_error", "sig_eff"),
                         ("signal_rel_error", "sig_extra")):
        if any(getattr(p, attr) > 0 for p in layout.periods):
            prefixes.append(prefix)
    clash = re.compile(rf"^({'|'.join(prefixes)})(_|$)")
    for name, systs in extra.items():
        if any(len(s.up) != layout.nbins or len(s.down) != layout.nbins for s in systs):
            raise ValueError(f"systematic {name}: need one up and one down yield per period "
                             f"({layout.nbins})")
        if not _NAME_RE.match(name):
            raise ValueError(f"systematic name {name!r}: use letters, digits, '_', '.', '-'")
        if name in reserved or clash.match(name):
            raise ValueError(f"systematic name {name!r} clashes with a built-in nuisance")


def build_workspace(
    periods: Sequence[PeriodInputs],
    *,
    yield_rel_error: float = 0.0,
    extra_systematics: Mapping[str, Systematic | Sequence[Systematic]] | None = None,
    background_norm: Literal["per_period", "shared"] = "per_period",
    poi: str = POI_NAME,
    measurement_name: str = "NA64_invisible",
) -> dict[str, Any]:
    """pyhf JSON workspace: periods are the bins of the box and sideband channels.

    ``yield_rel_error`` is the A' yield uncertainty, correlated across periods (0: none;
    ``na64 fit`` gives it as the ``aprime_yield`` entry of ``datasets/systematics.yaml``).
    ``extra_systematics`` maps a nuisance name to its per-period variations: one
    :class:`Systematic`, or several (one per sample) for a nuisance that moves signal and
    background together (an energy-scale shift). See the module docstring for the model and
    its edge cases.
    """
    extra = _normalise_extra(extra_systematics)
    layout = _layout(periods, background_norm)
    _check_extra(extra, layout, yield_rel_error)
    if not any(p.signal > 0 for p in periods):
        raise ValueError("no period has a positive expected signal: "
                         "the POI would not be constrained")
    if not math.isfinite(yield_rel_error) or yield_rel_error < 0:
        raise ValueError(f"yield_rel_error must be finite and >= 0, got {yield_rel_error}")

    channels = [{"name": BOX_CHANNEL, "samples": _box_samples(layout, poi, yield_rel_error, extra)}]
    observations = [{"name": BOX_CHANNEL, "data": _box_data(layout)}]
    if layout.norm_names:
        sidebands = ((SIDEBAND_A_CHANNEL, "a_observed"), (SIDEBAND_C_CHANNEL, "c_observed"))
        for channel, attr in sidebands:
            channels.append(_sideband_channel(channel, attr, layout))
            observations.append({"name": channel, "data": _sideband_data(attr, layout)})

    if any(p.blinded for p in periods):
        measurement_name += EXPECTED_ONLY_TAG
    measurement = {"name": measurement_name,
                   "config": {"poi": poi, "parameters": _parameters(layout, poi)}}
    return {"channels": channels, "observations": observations,
            "measurements": [measurement], "version": "1.0.0"}


def build_notes(periods: Sequence[PeriodInputs]) -> list[str]:
    """Human-readable notes on how each period enters the model."""
    notes = []
    for p in periods:
        if p.blinded:
            notes.append(f"{p.name}: box blinded, Asimov background used (expected only)")
        if p.signal <= 0:
            notes.append(f"{p.name}: no expected signal, no signal sample")
        if p.sideband_total == 0:
            notes.append(f"{p.name}: empty sidebands cannot normalise the background; "
                         "log-normal extrapolation constraint only")
        elif p.sideband_total is None:
            notes.append(f"{p.name}: no sideband counts; log-normal background constraint only")
        if p.background <= 0:
            notes.append(f"{p.name}: zero background (kept as {BACKGROUND_FLOOR:g} events)")
    return notes


def is_expected_only(spec: Mapping[str, Any]) -> bool:
    """True for workspaces built with a blinded box (their 'observed' limit is expected)."""
    return any(m.get("name", "").endswith(EXPECTED_ONLY_TAG) for m in spec.get("measurements", []))


def write_workspace(spec: Mapping[str, Any], path: str | Path) -> Path:
    """Validate ``spec`` against pyhf's schema and write it as JSON (never NaN)."""
    import pyhf

    pyhf.Workspace(dict(spec))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path
