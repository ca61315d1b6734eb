"""Background in the signal box, extrapolated from the sidebands.

As in the NA64 analyses (seeds/000: "BG central / BG average / BG error"; seeds/002:
"extrapolation of events from sidebands A and C into the signal region, assessing the
systematic uncertainties by varying the background fit functions"):

* the E_ECAL spectrum of sideband C (E_HCAL below the box edge) is fitted with a
  family of shapes over several fit ranges and each fit is integrated over the box,
  E_ECAL < box edge; the E_HCAL spectrum of sideband A is treated the same way
  towards E_HCAL < box edge;
* central = the exponential fitted over the whole sideband (the seeds' example);
  average = the mean over all converged (shape, range) fits;
  error = statistical error of the central fit (+) RMS spread of the fits around it;
* the E_ECAL fits stop 5 % of E0 below the physics-trigger threshold (~0.8 E0), whose
  turn-on bends the spectrum; the E_HCAL fits of sideband A cover its low side, up to
  its median; fits with a p-value below 1e-3, and fits less constrained than the
  central one, are shown but not used.

Fits are binned extended Poisson likelihood fits (iminuit ``ExtendedBinnedNLL``), so
empty bins are handled correctly. Sidebands with too few events give no fit: the
estimate is then 0 with ``fitted = False`` and a message saying why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import hist
import numpy as np
from iminuit import Minuit
from iminuit.cost import ExtendedBinnedNLL
from scipy import stats

from processors.jsonio import Reader, encode_float

if TYPE_CHECKING:
    from processors.cuts import Thresholds

#: Fewer sideband events than this in a fit range: that range is not fitted.
MIN_EVENTS = 5
#: The physics trigger requires in-time E_ECAL below ~80 GeV at 100 GeV (seeds/002:
#: "E_ECAL <~ 80-85 GeV"); near that threshold the trigger turn-on bends the spectrum,
#: so the E_ECAL fits of sideband C stop 5 % of E0 below it.
TRIGGER_FRACTION = 0.80
TRIGGER_MARGIN = 0.05
#: Fits worse than this p-value are reported but not used for the estimate.
MIN_P_VALUE = 1e-3


@dataclass(frozen=True)
class Shape:
    """A spectrum shape: its cumulative integral F(x; p), starting parameters, limits."""

    name: str
    cdf: Callable[..., np.ndarray]
    start: Callable[[np.ndarray, np.ndarray], dict[str, float]]
    limits: dict[str, tuple[float | None, float | None]]


def _exp_cdf(x: np.ndarray, a: float, b: float) -> np.ndarray:
    # density exp(a + b x); F(x) = exp(a + b x) / b
    return np.exp(a + b * x) / b


def _exp_const_cdf(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return np.exp(a + b * x) / b + c * x


def _power_cdf(x: np.ndarray, a: float, k: float, x0: float) -> np.ndarray:
    # density exp(a) (x / x0)^k; F(x) = exp(a) x0 / (k + 1) (x / x0)^(k + 1)
    f: np.ndarray = np.exp(a) * x0 / (k + 1.0) * np.power(np.clip(x, 0.0, None) / x0, k + 1.0)
    return f


def _exp_start(n: np.ndarray, xe: np.ndarray) -> dict[str, float]:
    centres = 0.5 * (xe[1:] + xe[:-1])
    width = xe[1] - xe[0]
    total = max(n.sum(), 1.0)
    mean = (n * centres).sum() / total
    # A rising exponential truncated at the top edge has mean ~ top - 1/b.
    b = 1.0 / max(xe[-1] - mean, 0.5 * width)
    a = np.log(total * b / max(np.exp(b * xe[-1]) - np.exp(b * xe[0]), 1e-300))
    return {"a": float(a), "b": float(b)}


SHAPES: tuple[Shape, ...] = (
    Shape("exponential", _exp_cdf, _exp_start, {"b": (1e-4, 5.0)}),
    Shape("exponential+constant", _exp_const_cdf, lambda n, xe: {**_exp_start(n, xe), "c": 0.01},
          {"b": (1e-4, 5.0), "c": (0.0, None)}),
    Shape("power law", _power_cdf, lambda n, xe: {"a": np.log(max(n.sum(), 1.0) / (xe[-1] - xe[0])), "k": 5.0},
          {"k": (-0.99, 200.0)}),
)


@dataclass
class Fit:
    shape: str
    fit_range: tuple[float, float]
    extrapolated: float
    stat_error: float
    valid: bool  # converged, finite and non-negative
    parameters: dict[str, float] = field(default_factory=dict)
    chi2: float = float("nan")
    ndof: int = 0

    @classmethod
    def from_json(cls, data: Any, source: str = "sideband fit") -> Fit:
        """A fit as :meth:`SidebandEstimate.to_json` writes it (``chi2`` null: NaN);
        :class:`InputError` naming ``source`` and the key if it is malformed."""
        return cls.read(Reader(data, source))

    @classmethod
    def read(cls, r: Reader) -> Fit:
        """The fit in the object ``r`` reads."""
        p = r.obj("parameters")
        return cls(r.text("shape"), _pair(r, "fit_range"), r.number("extrapolated", math.inf),
                   r.number("stat_error", math.inf), r.flag("valid"), {k: p.number(k, math.inf) for k in p.keys()},
                   r.number("chi2", null=float("nan")), r.integer("ndof"))


@dataclass
class SidebandEstimate:
    """Events expected in the box from one sideband."""

    sideband: str
    variable: str
    window: tuple[float, float]
    n_sideband: int
    central: float = 0.0
    average: float = 0.0
    error: float = 0.0
    stat_error: float = 0.0  # of the central fit
    syst_error: float = 0.0  # RMS spread of the fits around the central one
    fitted: bool = False
    message: str = ""
    fits: list[Fit] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Strict JSON: a number that is not finite (a failed fit's error) is written by
        :func:`processors.jsonio.encode_float` (read back by :meth:`from_json`); a fit's
        ``chi2`` that does not exist as null."""
        d = asdict(self)
        for f in d["fits"]:
            if not np.isfinite(f["chi2"]):
                f["chi2"] = None
            for k in ("extrapolated", "stat_error"):
                f[k] = encode_float(f[k])
            f["fit_range"] = [encode_float(x) for x in f["fit_range"]]
            f["parameters"] = {k: encode_float(v) for k, v in f["parameters"].items()}
        for k in ("central", "average", "error", "stat_error", "syst_error"):
            d[k] = encode_float(d[k])
        d["window"] = [encode_float(x) for x in d["window"]]
        return d

    @classmethod
    def from_json(cls, data: Any, source: str = "sideband estimate") -> SidebandEstimate:
        """The estimate :meth:`to_json` wrote; :class:`InputError` naming ``source`` and the
        key if it is malformed."""
        return cls.read(Reader(data, source))

    @classmethod
    def read(cls, r: Reader) -> SidebandEstimate:
        """The estimate in the object ``r`` reads."""
        return cls(r.text("sideband"), r.text("variable"), _pair(r, "window"), r.integer("n_sideband"),
                   r.number("central", math.inf), r.number("average", math.inf), r.number("error", math.inf),
                   r.number("stat_error", math.inf), r.number("syst_error", math.inf), r.flag("fitted"),
                   r.text("message"),
                   [Fit.read(f) for f in r.objects("fits")])


def _pair(r: Reader, key: str) -> tuple[float, float]:
    a = r.numbers(key, null=math.inf)
    if a.shape != (2,):
        raise r.error(key, f"two numbers (low, high) expected, got {a.size}")
    return float(a[0]), float(a[1])


def _fit(shape: Shape, n: np.ndarray, xe: np.ndarray, x0: float) -> tuple[Minuit, ExtendedBinnedNLL] | None:
    if shape.name == "power law":
        def cdf(x: np.ndarray, a: float, k: float) -> np.ndarray:
            return _power_cdf(x, a, k, x0)
    else:
        cdf = shape.cdf
    cost = ExtendedBinnedNLL(n, xe, cdf)
    m = Minuit(cost, **shape.start(n, xe))
    for name, lim in shape.limits.items():
        m.limits[name] = lim
    m.strategy = 1
    try:
        m.migrad(ncall=5000)
        m.hesse()
    except (RuntimeError, ValueError, FloatingPointError):
        return None
    return m, cost


def _integral(cdf: Callable[..., np.ndarray], params: np.ndarray, window: tuple[float, float]) -> float:
    lo, hi = window
    return float(cdf(np.array([hi]), *params)[0] - cdf(np.array([lo]), *params)[0])


def _propagate(cdf: Callable[..., np.ndarray], m: Minuit, window: tuple[float, float]) -> float:
    p = np.array(m.values)
    if m.covariance is None:
        return float("nan")
    jac = np.zeros(len(p))
    for i in range(len(p)):
        h = 1e-6 * max(abs(p[i]), 1e-3)
        up, dn = p.copy(), p.copy()
        up[i] += h
        dn[i] -= h
        jac[i] = (_integral(cdf, up, window) - _integral(cdf, dn, window)) / (2 * h)
    return float(np.sqrt(max(jac @ np.array(m.covariance) @ jac, 0.0)))


def extrapolate(
    spectrum: hist.Hist,
    fit_lows: list[float],
    fit_high: float,
    window: tuple[float, float],
    sideband: str,
) -> SidebandEstimate:
    """Fit ``spectrum`` (1D) above each of ``fit_lows`` up to ``fit_high``, integrate over ``window``."""
    edges = spectrum.axes[0].edges
    values = spectrum.values()
    variable = spectrum.axes[0].name
    est = SidebandEstimate(sideband, variable, window, int(round(values.sum())))
    for low in fit_lows:
        sel = (edges[:-1] >= low - 1e-9) & (edges[1:] <= fit_high + 1e-9)
        if sel.sum() < 3:
            continue
        n = values[sel]
        xe = np.append(edges[:-1][sel], edges[1:][sel][-1])
        if n.sum() < MIN_EVENTS:
            continue
        for shape in SHAPES:
            x0 = float(xe[-1])
            res = _fit(shape, n, xe, x0)
            if res is None:
                continue
            m, cost = res
            cdf = (lambda x, a, k, x0=x0: _power_cdf(x, a, k, x0)) if shape.name == "power law" else shape.cdf
            value = _integral(cdf, np.array(m.values), window)
            valid = bool(m.valid) and np.isfinite(value) and value >= 0
            est.fits.append(Fit(shape.name, (float(xe[0]), float(xe[-1])), value if np.isfinite(value) else 0.0,
                                _propagate(cdf, m, window) if valid else float("nan"), valid,
                                dict(zip(m.parameters, map(float, m.values), strict=True)),
                                float(m.fval), int(len(n) - m.nfit)))
    acceptable = [f for f in est.fits if f.valid and np.isfinite(f.stat_error)
                  and (f.ndof <= 0 or stats.chi2.sf(f.chi2, f.ndof) >= MIN_P_VALUE)]
    if not acceptable:
        est.message = (f"sideband {sideband} holds {est.n_sideband} events: "
                       + (f"too few for a fit (at least {MIN_EVENTS} in a range of at least 3 bins)"
                          if not est.fits else "no fit converged with an acceptable p-value")
                       + "; background set to 0")
        return est
    central = next((f for f in acceptable
                    if f.shape == "exponential" and f.fit_range[0] <= fit_lows[0] + 1e-9), acceptable[0])
    # A fit much less constrained than the central one (e.g. a free constant over a short
    # range: 56 +- 140 events) says nothing about the box: shown, not averaged.
    used = [f for f in acceptable if f.stat_error <= max(f.extrapolated, central.stat_error)]
    values_ = np.array([f.extrapolated for f in used])
    est.fitted = True
    est.central = central.extrapolated
    est.average = float(values_.mean())
    spread = float(np.sqrt(np.mean((values_ - central.extrapolated) ** 2)))
    est.stat_error = float(central.stat_error)
    est.syst_error = spread
    est.error = float(np.hypot(central.stat_error, spread))
    est.message = (f"{len(used)} of {len(est.fits)} fits used ({len(SHAPES)} shapes, fit ranges "
                   f"from {', '.join(f'{x:g}' for x in fit_lows)} to {fit_high:g})")
    return est


def estimate_box_background(hists: dict[str, hist.Hist], thresholds: Thresholds, beam_energy: float,
                            variation: str = "nominal") -> dict[str, SidebandEstimate]:
    """Box background from sideband C (E_ECAL) and sideband A (E_HCAL) of one period."""
    t = thresholds
    c_spec = hists["ecal_sideband_c"][{"variation": variation}]
    a_spec = hists["hcal_sideband_a"][{"variation": variation}]
    c_low = t.c_ecal_min
    c_high = min(_top_of_data(c_spec, beam_energy), (TRIGGER_FRACTION - TRIGGER_MARGIN) * beam_energy)
    a_low = t.a_hcal_min
    # Sideband A is a bump (E_HCAL ~ E0 - E_ECAL > E0 - box edge): only its low side
    # tells how events approach E_HCAL -> 0, so the fits stop at the spectrum's median.
    a_high = max(_median_of_data(a_spec), a_low + 10.0)
    return {
        "C": extrapolate(c_spec, [c_low, c_low + 5.0, c_low + 10.0], c_high, (0.0, t.box_ecal_max), "C"),
        "A": extrapolate(a_spec, [a_low, a_low + 2.0, a_low + 5.0], a_high, (0.0, t.box_hcal_max), "A"),
    }


def _median_of_data(spec: hist.Hist) -> float:
    edges = spec.axes[0].edges
    cum = np.cumsum(spec.values())
    if cum[-1] <= 0:
        return float(edges[-1])
    return float(edges[np.searchsorted(cum, 0.5 * cum[-1]) + 1])


def _top_of_data(spec: hist.Hist, beam_energy: float) -> float:
    edges = spec.axes[0].edges
    filled = np.flatnonzero(spec.values() > 0)
    if filled.size == 0:
        return float(edges[-1])
    return float(min(edges[filled[-1] + 1], edges[-1]))
