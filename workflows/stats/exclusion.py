"""Exclusion limits in (m_A', epsilon) and (m_chi, y) from the A' yield model.

The expected A' signal of period k at mass m and mixing epsilon is

    s_k(m, eps) = EOT_k x efficiency_k(m) x n_A'(m, E0_k, E_A' > E0_k - box edge) x (eps / 1e-4)^2

(PRD 97, 072002, Eq. 26), with n_A' the yield per EOT of :mod:`workflows.signal.aprime` at
epsilon = 1e-4: dark bremsstrahlung plus resonant annihilation, for the period's beam particle.
A CLs upper limit mu_90 on the signal strength at the reference
coupling gives eps_90 = 1e-4 x sqrt(mu_90), and the dark-matter variable
y = eps^2 alpha_D (m_chi / m_A')^4 with m_A' = 3 m_chi.

Two statistical models:

``merged`` (default)
    the papers' simplified method (PRD 97, 072002, Sec. IX: "merging all three runs
    into a single run ... agreed ... within a few %"): one counting bin holding all
    periods' box counts and backgrounds, log-normal uncertainties on background and
    signal. The limit N_90 on the total number of signal events does not depend on
    the mass, so it is computed once (toys or exact, whatever the auto rule says). The
    named nuisances of the full model act on the one bin as :class:`CountingNuisance`
    factors on the total signal and background (:func:`workflows.stats.systematics.counting_nuisances`
    says how a mass-dependent signal factor becomes one number).
``multibin``
    the full model of :mod:`workflows.stats.model` (periods as bins, sidebands A and C),
    one CLs limit per mass, masses in parallel on the Dask cluster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from processors.jsonio import Reader, encode_floats
from workflows.signal.aprime import yield_per_eot

if TYPE_CHECKING:
    from collections.abc import Mapping

    from workflows.stats.limits import LimitResult
    from workflows.stats.model import PeriodInputs, Systematic
    from workflows.stats.systematics_file import SystematicsFile

EPSILON_REF = 1e-4
ALPHA_D = (0.1, 0.5)
#: m_A' = 3 m_chi, the benchmark of the seeds (seeds/000, seeds/002).
MASS_RATIO = 3.0


@dataclass(frozen=True)
class CountingNuisance:
    """A named nuisance of the merged counting model: log-normal-like factors (hi, lo) on
    the total signal and/or the total background (None: that sample is not moved);
    ``mass``: the A' mass (GeV) whose signal factor was taken, None if not mass dependent."""

    name: str
    signal: tuple[float, float] | None = None
    background: tuple[float, float] | None = None
    mass: float | None = None

    def __post_init__(self) -> None:
        for pair in (self.signal, self.background):
            if pair is not None and not all(math.isfinite(x) and x > 0 for x in pair):
                raise ValueError(f"nuisance {self.name}: factors must be finite and > 0, got {pair}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "signal": None if self.signal is None else list(self.signal),
                "background": None if self.background is None else list(self.background),
                "mass": self.mass}

    @classmethod
    def read(cls, r: Reader) -> CountingNuisance:
        def pair(key: str) -> tuple[float, float] | None:
            if r.value(key) is None:
                return None
            a = r.numbers(key)
            if a.shape != (2,):
                raise r.error(key, f"two factors (hi, lo) expected, got {a.size}")
            return float(a[0]), float(a[1])
        mass = None if r.value("mass") is None else r.number("mass")
        return cls(r.text("name"), pair("signal"), pair("background"), mass)


def mass_grid(n: int = 30, low: float = 1e-3, high: float = 1.0) -> np.ndarray:
    """Log-spaced A' masses in GeV, 1 MeV to 1 GeV by default."""
    return np.geomspace(low, high, n)


@dataclass(frozen=True)
class PeriodSignal:
    """What the signal of one period needs: exposure, beam, box edge, efficiency per mass,
    beam particle (an e+ beam adds the primary positron's resonant annihilation)."""

    name: str
    eot: float
    beam_energy: float
    box_ecal_max: float
    efficiency: np.ndarray  # per mass of the grid
    particle: Literal["e-", "e+"] = "e-"

    def events(self, masses: np.ndarray) -> np.ndarray:
        """Expected A' events in the box at epsilon = 1e-4, per mass (bremsstrahlung and
        annihilation)."""
        threshold = self.beam_energy - self.box_ecal_max
        n_a = yield_per_eot(masses, self.beam_energy, threshold, EPSILON_REF, particle=self.particle)
        events: np.ndarray = self.eot * self.efficiency * np.asarray(n_a)
        return events


#: Names of the two nuisances :func:`combine_counting_nuisances` reduces the named ones to.
COMBINED_SHARED = "syst_signal_and_background"
COMBINED_BACKGROUND = "syst_background_only"


def combine_counting_nuisances(nuisances: Sequence[CountingNuisance]) -> list[CountingNuisance]:
    """The named nuisances of the one-bin counting model as two, with the same likelihood.

    In one bin, nuisance i enters only through ln S = sum_i a_i alpha_i and
    ln B = sum_i c_i alpha_i (a_i, c_i: its log-factors on the signal and the background,
    ln hi for alpha > 0 and -ln lo for alpha < 0): with unit Gaussian alphas,
    (ln S, ln B) is Gaussian with variances sum a_i^2, sum c_i^2 and covariance
    sum a_i c_i, and two unit Gaussians carry exactly that covariance (its Cholesky
    factor): z1 moves the signal by s_S and the background by rho s_B, z2 the background
    alone by s_B sqrt(1 - rho^2), for the up side (the combined hi) and the down side (lo)
    separately. The limit is the same (exactly for symmetric log-normal factors; for
    asymmetric ones the two sides are combined apart, measured on the demo within 0.5 % of
    the named model's asymptotic median and 1 % of its +2 sigma) and toys fit 2
    nuisance parameters instead of ~30 (measured on the demo: 636 s of toy fits serially
    with the named ones). The named ones stay in ``workspace.json``, the breakdown and
    ``limits.json``.
    """
    def cholesky(side: int) -> tuple[float, float, float]:
        """(signal width of z1, background width of z1, background width of z2) of the
        log-factors on one side (0: up, ln hi; 1: down, -ln lo)."""
        def width(pair: tuple[float, float] | None) -> float:
            return 0.0 if pair is None else (math.log(pair[0]) if side == 0 else -math.log(pair[1]))

        a = np.array([width(n.signal) for n in nuisances])
        c = np.array([width(n.background) for n in nuisances])
        s_s, s_b, cov = float(np.sqrt(a @ a)), float(np.sqrt(c @ c)), float(a @ c)
        if s_s == 0:
            return 0.0, 0.0, s_b
        rho = cov / (s_s * s_b) if s_b > 0 else 0.0
        return s_s, rho * s_b, s_b * math.sqrt(max(1.0 - rho * rho, 0.0))

    (s_up, shared_up, rest_up), (s_dn, shared_dn, rest_dn) = cholesky(0), cholesky(1)
    out: list[CountingNuisance] = []
    if s_up > 0 or s_dn > 0:
        shared = (math.exp(shared_up), math.exp(-shared_dn)) if shared_up or shared_dn else None
        out.append(CountingNuisance(COMBINED_SHARED, (math.exp(s_up), math.exp(-s_dn)), shared))
    if rest_up > 0 or rest_dn > 0:
        out.append(CountingNuisance(COMBINED_BACKGROUND, background=(math.exp(rest_up), math.exp(-rest_dn))))
    return out


def merged_counting_workspace(box_observed: int | None, background: float, background_error: float,
                              signal_rel_error: float,
                              nuisances: Sequence[CountingNuisance] = ()) -> dict[str, Any]:
    """One counting bin: total signal (POI = number of events) over total background.

    ``signal_rel_error`` (log-normal ``signal_norm``, none if 0) stands for all signal
    uncertainties at once; ``nuisances`` are named ones instead (as ``na64 fit`` gives them).
    """
    b = max(background, 1e-6)
    r_b = background_error / b if background > 0 else 1.0
    signal_mods: list[dict[str, Any]] = [{"name": "mu", "type": "normfactor", "data": None}]
    if signal_rel_error > 0:
        signal_mods.append({"name": "signal_norm", "type": "normsys",
                            "data": {"hi": 1.0 + signal_rel_error, "lo": 1.0 / (1.0 + signal_rel_error)}})
    background_mods: list[dict[str, Any]] = [{"name": "background_norm", "type": "normsys",
                                              "data": {"hi": 1.0 + r_b, "lo": 1.0 / (1.0 + r_b)}}]
    for n in nuisances:
        if n.name in ("mu", "signal_norm", "background_norm"):
            raise ValueError(f"nuisance name {n.name!r} clashes with a built-in parameter")
        for pair, mods in ((n.signal, signal_mods), (n.background, background_mods)):
            if pair is not None and pair != (1.0, 1.0):
                mods.append({"name": n.name, "type": "normsys", "data": {"hi": pair[0], "lo": pair[1]}})
    spec = {
        "channels": [{"name": "box", "samples": [
            {"name": "signal", "data": [1.0], "modifiers": signal_mods},
            {"name": "background", "data": [b], "modifiers": background_mods},
        ]}],
        "observations": [{"name": "box", "data": [float(b if box_observed is None else box_observed)]}],
        "measurements": [{"name": "NA64_merged" + ("_expected_only" if box_observed is None else ""),
                          "config": {"poi": "mu", "parameters": [
                              {"name": "mu", "bounds": [[0.0, 100.0]], "inits": [1.0]}]}}],
        "version": "1.0.0",
    }
    return spec


def signal_rel_error(fixed: SystematicsFile | None = None) -> float:
    """All signal uncertainties of the systematics file (default:
    ``datasets/systematics.yaml``) in quadrature, as one relative error (for a one-number
    signal constraint; ``na64 fit`` keeps them as named nuisances instead)."""
    from workflows.stats.systematics_file import DEFAULT_SYSTEMATICS, load_systematics

    spec = fixed if fixed is not None else load_systematics(DEFAULT_SYSTEMATICS)
    return math.sqrt(sum(s.value**2 for s in spec.active().values() if s.sample == "signal"))


@dataclass
class Exclusion:
    """Upper limits mu on the signal strength at epsilon = 1e-4, per A' mass; inf where
    there is no limit (no expected signal)."""

    masses: np.ndarray
    signal: np.ndarray  # total expected A' events at eps = 1e-4, per mass
    mu_observed: np.ndarray | None
    mu_expected: np.ndarray  # (5, n_masses): -2, -1, 0, +1, +2 sigma
    model: str
    method: str
    cl: float

    def epsilon(self, mu: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.signal > 0, EPSILON_REF * np.sqrt(mu), np.inf)

    @property
    def eps_observed(self) -> np.ndarray | None:
        return None if self.mu_observed is None else self.epsilon(self.mu_observed)

    @property
    def eps_expected(self) -> np.ndarray:
        return self.epsilon(self.mu_expected)

    @staticmethod
    def y(eps: np.ndarray, alpha_d: float) -> np.ndarray:
        return eps**2 * alpha_d / MASS_RATIO**4

    def table(self) -> list[dict[str, Any]]:
        rows = []
        for i, m in enumerate(self.masses):
            exp = self.eps_expected[:, i]
            row = {"m_aprime": float(m), "m_chi": float(m / MASS_RATIO),
                   "signal_events_eps1e-4": float(self.signal[i]),
                   "eps90_expected": [_finite(float(x)) for x in exp]}
            if self.eps_observed is not None:
                row["eps90_observed"] = _finite(float(self.eps_observed[i]))
            for a in ALPHA_D:
                row[f"y90_expected_alphaD{a}"] = _finite(float(self.y(exp[2], a)))
                if self.eps_observed is not None:
                    row[f"y90_observed_alphaD{a}"] = _finite(float(self.y(self.eps_observed[i], a)))
            rows.append(row)
        return rows

    def to_json(self) -> dict[str, Any]:
        """``model``, ``method``, ``cl``; the :meth:`table` under ``masses``; and under
        ``arrays`` the arrays themselves (masses, signal, mu_observed or null while
        blinded, mu_expected), non-finite numbers encoded (:mod:`processors.jsonio`:
        +inf, no limit, is null), from which :meth:`from_json` rebuilds the exclusion."""
        return {"model": self.model, "method": self.method, "masses": self.table(), "cl": self.cl,
                "arrays": {"masses": encode_floats(self.masses), "signal": encode_floats(self.signal),
                           "mu_observed": None if self.mu_observed is None else encode_floats(self.mu_observed),
                           "mu_expected": encode_floats(self.mu_expected)}}

    @classmethod
    def from_json(cls, data: Any, source: str = "exclusion") -> Exclusion:
        """The exclusion :meth:`to_json` wrote; :class:`InputError` naming ``source`` and the
        key if it is malformed."""
        return cls.read(Reader(data, source))

    @classmethod
    def read(cls, r: Reader) -> Exclusion:
        """The exclusion in the object ``r`` reads (its ``table`` is not read: it follows)."""
        a = r.obj("arrays")
        masses = a.numbers("masses")
        n = masses.size
        signal = a.numbers("signal")
        if signal.shape != (n,):
            raise a.error("signal", f"{signal.size} values for {n} masses")
        observed = None
        if a.value("mu_observed") is not None:
            observed = a.numbers("mu_observed")
            if observed.shape != (n,):
                raise a.error("mu_observed", f"{observed.size} values for {n} masses")
        expected = a.numbers("mu_expected", 2)
        if expected.shape != (5, n):
            raise a.error("mu_expected", f"shape {expected.shape}, expected (5, {n}): one row per "
                          "band (-2..+2 sigma), one column per mass")
        return cls(masses, signal, observed, expected, r.text("model"), r.text("method"), r.number("cl"))


def _finite(x: float) -> float | None:
    """JSON-safe: a limit that does not exist (no signal) is written as null, never NaN."""
    return float(x) if np.isfinite(x) else None


def merged_exclusion(masses: np.ndarray, signals: Sequence[PeriodSignal], box_observed: int | None,
                     background: float, background_error: float, cl: float = 0.9,
                     method: str = "auto", client: Any = None, ntoys: int = 2000,
                     limit: LimitResult | None = None,
                     nuisances: Sequence[CountingNuisance] | None = None) -> tuple[Exclusion, LimitResult]:
    """The simplified method: N_90 once (or the given ``limit`` on it), then every mass.

    Without a ``limit``, N_90 is computed with the named ``nuisances`` (None: one
    ``signal_norm`` of :func:`signal_rel_error`)."""
    from workflows.stats.limits import upper_limit

    total = np.sum([s.events(masses) for s in signals], axis=0)
    if limit is None:
        spec = (merged_counting_workspace(box_observed, background, background_error, signal_rel_error())
                if nuisances is None else
                merged_counting_workspace(box_observed, background, background_error, 0.0, nuisances))
        limit = upper_limit(spec, cl=cl, method=method, client=client, ntoys=ntoys)
    with np.errstate(divide="ignore"):
        scale = np.where(total > 0, 1.0 / total, np.inf)
    expected = np.outer(np.asarray(limit.expected), scale)
    observed = None if box_observed is None else limit.observed * scale
    return Exclusion(masses, total, observed, expected, "merged", limit.method, cl), limit


def counting_upper_limit(observed: int, background: float, background_error: float | None = None,
                         method: str = "exact", cl: float = 0.9,
                         expected: bool = False) -> LimitResult:
    """The CLs limit on the signal count of one counting bin (no signal uncertainty), by the
    project's limit code. With ``method="exact"`` or no ``background_error`` the background
    is fixed at its central value: exact Poisson CLs (the limit at n = 0 is -ln(1 - cl),
    2.30 at 90 %, whatever the background)."""
    from workflows.stats.limits import upper_limit

    spec = merged_counting_workspace(observed, background, background_error or 0.0, 0.0)
    if method == "exact" or not background_error:
        spec["measurements"][0]["config"]["parameters"].append({"name": "background_norm", "fixed": True})
        method = "exact"
    return upper_limit(spec, cl=cl, method=method, expected=expected)


def _limit_for_mass(spec: dict[str, Any], cl: float, method: str, ntoys: int) -> tuple[float, list[float], str]:
    from workflows.stats.limits import upper_limit

    r = upper_limit(spec, cl=cl, method=method, ntoys=ntoys)
    return r.observed, list(r.expected or ()), r.method


def multibin_exclusion(masses: np.ndarray, signals: Sequence[PeriodSignal],
                       inputs_for: Callable[[dict[str, float]], list[PeriodInputs]], blinded: bool,
                       cl: float = 0.9, method: str = "auto", client: Any = None,
                       ntoys: int = 500,
                       extra_for: Callable[[int, list[PeriodInputs]],
                                           Mapping[str, Systematic | Sequence[Systematic]]] | None = None,
                       ) -> Exclusion:
    """One full multi-period model per mass, masses in parallel on the cluster.

    ``inputs_for(signal_by_period)`` returns the :class:`workflows.stats.model.PeriodInputs`;
    ``extra_for(mass_index, inputs)`` the nuisances of that mass's model (the
    ``extra_systematics`` of :func:`workflows.stats.model.build_workspace`; see
    :func:`workflows.stats.systematics.model_systematics`), None: none.
    """
    from workflows.stats.model import build_workspace

    per_period = np.array([s.events(masses) for s in signals])
    total = per_period.sum(axis=0)
    # The POI is the total number of signal events (signal shared among periods as the
    # mass dictates), so mu stays O(1) at every mass; eps follows from the total.
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(total > 0, per_period / total, 0.0)
    # No expected signal at a mass (zero efficiency): no model to fit, no limit (inf -> null).
    live = [i for i in range(len(masses)) if total[i] > 0]
    specs = []
    for i in live:
        inputs = inputs_for({s.name: float(shares[k, i]) for k, s in enumerate(signals)})
        specs.append(build_workspace(inputs, extra_systematics=None if extra_for is None else extra_for(i, inputs)))
    if client is not None and specs:
        futures = client.map(_limit_for_mass, specs, cl=cl, method=method, ntoys=ntoys, pure=False)
        fitted = client.gather(futures)
    else:
        fitted = [_limit_for_mass(s, cl, method, ntoys) for s in specs]
    results: list[tuple[float, list[float], str]] = [(np.inf, [np.inf] * 5, "none")] * len(masses)
    for i, r in zip(live, fitted, strict=True):
        results[i] = r
    with np.errstate(divide="ignore"):
        scale = np.where(total > 0, 1.0 / total, np.inf)
    observed = np.array([r[0] for r in results]) * scale
    expected = np.array([r[1] for r in results]).T * scale
    return Exclusion(masses, total, None if blinded else observed, expected, "multibin",
                     fitted[0][2] if fitted else "none", cl)
