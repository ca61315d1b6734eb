"""CLs upper limits on the parameter of interest of any pyhf workspace or model.

Own implementation: pyhf 0.7.6's ``pyhf.infer.intervals.upper_limits.upper_limit``
ignores ``level`` and always returns 95% CL limits (scikit-hep/pyhf#2563), so it is
never used here. Test statistic: ``qtilde`` (POI bounded below at 0), CLs = CLsb/CLb,
expected band at (-2, -1, 0, +1, +2) sigma of the background-only hypothesis.

Each method is a :class:`Calculator` (``cls(mus)``: observed and expected CLs at POI
values; ``limits(alpha, expected)``: where they cross alpha) built by
:func:`make_calculator`, the one factory :func:`upper_limit` and :func:`cls_scan` use.

Any POI scale works (1e6 or 1e-6 signal events per unit POI): when a POI value of the
order of the limit is not within a factor 10 of 1, :func:`make_problem` measures the POI
internally in units of the nearest power of ten (an exact reparametrisation,
:func:`_in_limit_units`), so that the fits, the bracketing and the toy grid start at
O(1); results are converted back. A POI upper bound (the workspace's, or pyhf's default
10) below the limit is widened for the fits, and a note of the result says so.

Methods
-------
``asymptotic``
    ``pyhf.infer.hypotest`` (asymptotic formulas of Cowan, Cranmer, Gross, Vitells,
    EPJC 71 (2011) 1554) on a bracketing grid, then ``brentq`` on CLs(mu) - (1 - cl)
    for the observed curve and for each expected quantile.
``toys``
    Toy calculator with pyhf's conventions (``calctype="toybased"``: toys generated at
    the conditional MLEs of the nuisances for mu and for 0, qtilde from pyhf's fits,
    p = fraction of toys with q >= q_x), evaluated on a grid of mu (from the asymptotic
    limits, extended if a limit is not bracketed). Test statistics that differ by less
    than ``Q_TIE * (1 + q)`` are ties (the fits' precision is ~1e-6: without this, fit
    noise orders the zero-count toys at random). Observed limit: the data's CLs curve,
    interpolated linearly in log CLs. Expected band: the distribution of the limits of
    the background-only pseudo-experiments -- each b-only toy is one dataset at every mu,
    its CLs curve (from the same s+b and b ensembles) gives its own limit, and the band
    is the (-2..+2 sigma) percentiles of those limits (inverted CDF: actual toy limits),
    so no band value is below the zero-count limit. The scan's expected columns are
    pyhf's: the percentiles of the b-only toys' CLs at each mu.
    Toys run in batches of ``batch_size`` with independent seeds derived from ``seed``
    (a :class:`numpy.random.SeedSequence` keyed by kind and batch index, common to all
    mu points), locally or, with a ``distributed.Client``, in parallel with
    ``client.map``; the result is the same for a given seed either way. Identical toys
    are fitted once and their limit solved once (counting toys take few values, so 1e5
    toys are cheap); one unconditional fit per toy serves every mu. Cost: about
    ``ntoys * npoints * 2.5`` pyhf fits (~2 ms each for one bin, ~12 ms for a
    three-period box + sidebands workspace) when the toys are all different (a
    constrained nuisance). The percentiles do not use the ``interpolation=`` argument
    that numpy 2.4 removed (pyhf 0.7.6's own ``ToyCalculator`` needs numpy < 2.4).
``exact``
    For a simple counting experiment (one bin, no floating nuisance parameter) the
    toy distributions are summed exactly over the Poisson counts: the infinite-toy
    limit of ``toys``. qtilde decreases with the count, so CLs is the classic
    P(N <= n_obs | b + mu s) / P(N <= n_obs | b): two Poisson CDFs, whatever n_obs.
    The band: the limits at the (-2..+2 sigma) quantiles of N ~ Poisson(b). At zero
    observed events CLs = exp(-s), i.e. 2.30 signal events at 90% CL whatever the
    background.
``auto`` (default) -- the rule, :func:`choose_method`
    Bins in which the POI changes the expected yield are the POI-sensitive bins;
    n and b are their total observed count and background expectation. Asymptotic
    formulas fail when both are low (below ``LOW_COUNT_THRESHOLD``, 15 events; badly
    at zero observed events): then ``exact`` for a simple counting experiment,
    otherwise ``toys``. ``exact`` costs two Poisson CDFs per POI value, so it is also
    used for a counting experiment when only one of n, b is low (a low b alone makes the
    asymptotic band wrong, a low n alone its observed tail). Else ``asymptotic``:
    toys at a large observed count are expensive and not needed for the observed
    limit (the reason then says that the band is approximate if b is low).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import pyhf
from pyhf.infer import mle
from scipy import optimize, special, stats

from processors.errors import InputError, StatisticsError
from processors.jsonio import Reader, encode_float, encode_floats

METHODS = ("auto", "asymptotic", "toys", "exact")
TEST_STATISTICS = ("qtilde", "q")
BAND_SIGMAS = (-2, -1, 0, 1, 2)
_Band = tuple[float, float, float, float, float]  # one value per BAND_SIGMAS
LOW_COUNT_THRESHOLD = 15.0
UNIT_PARAMETER = "_poi_unit"
Q_TIE = 1e-5  # toy test statistics within Q_TIE * (1 + q) are equal (fits: ~1e-6)
DEFAULT_NTOYS = 1000
DEFAULT_BATCH_SIZE = 100
_PERCENTILES = 100.0 * stats.norm.cdf(BAND_SIGMAS)
_RNG_LOCK = threading.Lock()
logger = logging.getLogger(__name__)


class LimitError(StatisticsError):
    """An upper limit that cannot be computed; the message says why (exit code 1)."""


class NoPOIError(InputError, LimitError):
    """The workspace or model defines no usable parameter of interest (exit code 2)."""


@dataclass(frozen=True)
class Scan:
    """CLs values where they were evaluated: ``cls_expected[k]`` is the band ``BAND_SIGMAS[k]``."""

    mu: tuple[float, ...]
    cls_observed: tuple[float, ...]
    cls_expected: tuple[tuple[float, ...], ...]

    def to_json(self) -> dict[str, Any]:
        """The three arrays, non-finite numbers encoded (:mod:`processors.jsonio`)."""
        return {"mu": encode_floats(self.mu), "cls_observed": encode_floats(self.cls_observed),
                "cls_expected": encode_floats(self.cls_expected)}

    @classmethod
    def read(cls, r: Reader) -> Scan:
        """The scan in the object ``r`` reads; the arrays must match ``mu``."""
        mu, observed, expected = r.numbers("mu"), r.numbers("cls_observed"), r.numbers("cls_expected", 2)
        if observed.shape != mu.shape:
            raise r.error("cls_observed", f"{observed.size} values for {mu.size} POI values")
        if expected.shape != (len(BAND_SIGMAS), mu.size):
            raise r.error("cls_expected", f"shape {expected.shape}, expected "
                          f"({len(BAND_SIGMAS)}, {mu.size}): one row per band, one column per POI value")
        return cls(tuple(mu.tolist()), tuple(observed.tolist()), tuple(tuple(row) for row in expected.tolist()))


@dataclass(frozen=True)
class LimitResult:
    """An upper limit on the POI at confidence level ``cl``.

    ``expected`` is the band at (-2, -1, 0, +1, +2) sigma, in that order (None when
    not requested). ``method`` is the calculator used: asymptotic, toys or exact.
    """

    observed: float
    expected: tuple[float, float, float, float, float] | None
    cl: float
    method: str
    poi: str
    scan: Scan
    test_stat: str = "qtilde"
    ntoys: int | None = None
    seed: int | None = None
    reason: str = ""
    notes: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The machine-readable core: observed, expected, cl, method."""
        expected = list(self.expected) if self.expected is not None else None
        return {"observed": self.observed, "expected": expected, "cl": self.cl,
                "method": self.method}

    def to_json(self) -> dict[str, Any]:
        """Every field, non-finite numbers encoded (:mod:`processors.jsonio`); a part of
        the documents that hold a limit (``limits.json``), versioned by them."""
        return {"observed": encode_float(self.observed),
                "expected": None if self.expected is None else encode_floats(self.expected),
                "cl": self.cl, "method": self.method, "poi": self.poi, "test_stat": self.test_stat,
                "ntoys": self.ntoys, "seed": self.seed, "reason": self.reason, "notes": list(self.notes),
                "scan": self.scan.to_json()}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "limit") -> LimitResult:
        """The limit :meth:`to_json` wrote; :class:`InputError` naming ``source`` and the key
        if it is malformed."""
        return cls.read(Reader(data, source))

    @classmethod
    def read(cls, r: Reader, observed: str = "observed") -> LimitResult:
        """The limit in the object ``r`` reads, its observed value under the key ``observed``;
        ``expected`` null or empty: not computed."""
        expected = None
        if r.value("expected") not in (None, []):
            band = r.numbers("expected")
            if band.shape != (len(BAND_SIGMAS),):
                raise r.error("expected", f"{len(BAND_SIGMAS)} numbers (the band at {BAND_SIGMAS} sigma) "
                              f"expected, got {band.size}")
            expected = _as_band(band.tolist())
        return cls(observed=r.number(observed, null=math.inf), expected=expected, cl=r.number("cl"),
                   method=r.text("method"), poi=r.text("poi"), scan=Scan.read(r.obj("scan")),
                   test_stat=r.text("test_stat"), ntoys=r.optional_integer("ntoys"),
                   seed=r.optional_integer("seed"), reason=r.text("reason"), notes=tuple(r.texts("notes")))


# ---------------------------------------------------------------------------
# Inputs: workspace / model / data / POI
# ---------------------------------------------------------------------------


@dataclass
class Problem:
    """A model with its data and the fit configuration used for qtilde.

    The model's POI is the workspace's POI divided by ``unit`` (see :func:`make_problem`);
    every POI value a calculator sees or returns is in these internal units.
    """

    model: pyhf.Model
    data: np.ndarray
    init: list[float]
    bounds: list[list[float]]
    fixed: list[bool]
    test_stat: str = "qtilde"
    notes: list[str] = field(default_factory=list)
    unit: float = 1.0  # the model's POI is in units of ``unit`` of the workspace's POI

    @property
    def poi_index(self) -> int:
        return int(self.model.config.poi_index)

    @property
    def poi_name(self) -> str:
        return str(self.model.config.poi_name)

    def fit_config(self, mu_max: float) -> tuple[list[float], list[list[float]], list[bool]]:
        """init/bounds/fixed with the POI upper bound at least ``2 * mu_max``.

        The POI's upper bound only matters when the unconditional fit reaches it, and
        then muhat >= mu_max >= mu gives q = 0 either way, so widening it is safe.
        """
        bounds = [list(b) for b in self.bounds]
        lo, hi = bounds[self.poi_index]
        bounds[self.poi_index] = [lo, max(hi, 2.0 * mu_max)]
        init = list(self.init)
        init[self.poi_index] = min(max(init[self.poi_index], lo), bounds[self.poi_index][1])
        return init, bounds, list(self.fixed)


def load_workspace(source: str | Path | dict[str, Any] | pyhf.Workspace) -> pyhf.Workspace:
    """A pyhf Workspace from a JSON file, a spec dict or a Workspace."""
    if isinstance(source, pyhf.Workspace):
        return source
    if isinstance(source, (str, Path)):
        source = json.loads(Path(source).read_text(encoding="utf-8"))
    if not isinstance(source, dict):
        raise TypeError(f"cannot read a workspace from {type(source).__name__}")
    _check_poi_declared(source)
    return pyhf.Workspace(source)


def _check_poi_declared(spec: dict[str, Any]) -> None:
    measurements = spec.get("measurements") or []
    if not measurements:
        raise NoPOIError("the workspace has no measurement, hence no POI "
                         "(measurements[].config.poi)")
    poi = (measurements[0].get("config") or {}).get("poi")
    if not poi:
        raise NoPOIError(f"measurement {measurements[0].get('name')!r} declares no POI "
                         "(config.poi is missing or empty)")


def make_problem(
    workspace_or_model: str | Path | dict[str, Any] | pyhf.Workspace | pyhf.Model,
    data: Sequence[float] | np.ndarray | None = None,
    *,
    poi_name: str | None = None,
    modifier_settings: dict[str, Any] | None = None,
    test_stat: str = "qtilde",
) -> Problem:
    """Model, data and fit configuration; the first measurement of a workspace is used.

    The POI is measured in units of a power of ten near the expected limit
    (:func:`_in_limit_units`), so the fits work whatever the signal per unit POI.
    """
    if test_stat not in TEST_STATISTICS:
        raise ValueError(f"test_stat must be one of {TEST_STATISTICS}, not {test_stat!r}")
    notes: list[str] = []
    if isinstance(workspace_or_model, pyhf.Model):
        model = workspace_or_model
        if poi_name is not None and poi_name != model.config.poi_name:
            model = _rebuild(model, poi_name)
        if data is None:
            raise ValueError("data are required with a pyhf.Model (observations + auxdata)")
    else:
        ws = load_workspace(workspace_or_model)
        if len(ws.measurement_names) > 1:
            notes.append(f"workspace has {len(ws.measurement_names)} measurements "
                         f"{ws.measurement_names}; using the first, {ws.measurement_names[0]!r}")
        kwargs: dict[str, Any] = {"measurement_index": 0}
        if modifier_settings is not None:
            kwargs["modifier_settings"] = modifier_settings
        if poi_name is not None:
            kwargs["poi_name"] = poi_name
        try:
            model = ws.model(**kwargs)
        except pyhf.exceptions.InvalidModel as err:
            raise NoPOIError(f"the POI is not a parameter of the model: {err}") from err
        if data is None:
            data = ws.data(model)
    if model.config.poi_index is None:
        raise NoPOIError("the model has no parameter of interest")
    return _in_limit_units(_problem(model, np.asarray(data, dtype=float), test_stat, notes))


def _rebuild(model: pyhf.Model, poi_name: str) -> pyhf.Model:
    try:
        return pyhf.Model(model.spec, poi_name=poi_name,
                          modifier_settings=model.config.modifier_settings)
    except pyhf.exceptions.InvalidModel as err:
        raise NoPOIError(f"{poi_name!r} is not a parameter of the model: {err}") from err


def _problem(model: pyhf.Model, data: np.ndarray, test_stat: str, notes: list[str]) -> Problem:
    expected_len = model.config.nmaindata + model.config.nauxdata
    if data.shape != (expected_len,):
        raise ValueError(f"data must hold {expected_len} numbers (main + auxdata), "
                         f"got {data.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError("data contain non-finite values")
    bounds = [list(map(float, b)) for b in model.config.suggested_bounds()]
    poi = model.config.poi_index
    if test_stat == "qtilde" and bounds[poi][0] != 0.0:
        notes.append(f"POI lower bound {bounds[poi][0]:g} set to 0 (qtilde)")
        bounds[poi][0] = 0.0
    fixed = [bool(f) for f in model.config.suggested_fixed()]
    if fixed[poi]:
        raise NoPOIError(f"the POI {model.config.poi_name!r} is fixed in the model")
    init = [float(x) for x in model.config.suggested_init()]
    return Problem(model, data, init, bounds, fixed, test_stat, notes)


def _in_limit_units(problem: Problem) -> Problem:
    """The same problem with the POI in units of ``unit``, the power of ten nearest to a
    POI value of the order of the limit (:func:`_mu_reference`), if that value is not
    within a factor 10 of 1.

    pyhf's fits (SLSQP) start at the POI's init, 1 by default, and fail or stop early when
    the limit is 1e-4 or 1e6 times that (a POI of 1 may mean 1e6 signal events): the
    optimisation is badly scaled. A fixed normfactor ``unit`` multiplying every sample the
    POI scales gives the same model with the POI nu = mu / unit of order 1; init, bounds
    and results are converted. A POI that is not a free factor of its samples (normfactor
    or shapefactor) keeps its units, the fits start at the reference value, and a note
    says so.
    """
    mu_ref = _mu_reference(problem)
    if 0.1 <= mu_ref <= 10.0:  # within a decade of pyhf's default init: fits are fine
        return problem
    unit = 10.0 ** round(math.log10(mu_ref))
    poi = problem.poi_index
    lo, hi = problem.bounds[poi]
    model = _scaled_model(problem.model, unit)
    if model is None:
        problem.init[poi] = max(mu_ref, lo)
        problem.notes.append(f"the POI is not a free factor of its samples (normfactor or "
                             f"shapefactor): the fits start at {mu_ref:.3g} in its own scale, "
                             "far from 1, where pyhf's fits may be inaccurate")
        logger.warning("POI %s: %s", problem.poi_name, problem.notes[-1])
        return problem
    scaled = _problem(model, problem.data, problem.test_stat, [])
    p = scaled.poi_index
    scaled.bounds[p] = [lo / unit, hi / unit]
    scaled.init[p] = max(1.0, lo / unit)
    scaled.notes, scaled.unit = problem.notes, unit
    logger.debug("POI %s measured in units of %g internally", problem.poi_name, unit)
    return scaled


def _scaled_model(model: pyhf.Model, unit: float) -> pyhf.Model | None:
    """``model`` with a fixed normfactor = ``unit`` on each sample the POI multiplies
    (rate = nominal * nu * unit * ...: the same model, POI nu = mu / unit); None if the POI
    is not a normfactor or shapefactor or the data layout would change."""
    poi = model.config.poi_name
    spec = copy.deepcopy(model.spec)
    name = UNIT_PARAMETER
    while name in model.config.parameters:
        name += "_"
    scaled_any = False
    for channel in spec["channels"]:
        for sample in channel["samples"]:
            types = {m["type"] for m in sample.get("modifiers", []) if m["name"] == poi}
            if not types:
                continue
            if not types <= {"normfactor", "shapefactor"}:  # not a free multiplicative factor
                return None
            sample["modifiers"].append({"name": name, "type": "normfactor", "data": None})
            scaled_any = True
    if not scaled_any:
        return None
    # fixed at ``unit``; bounds lo < hi, as SLSQP drops variables with equal bounds and then
    # has more equality constraints (pyhf's fixed parameters) than variables
    spec.setdefault("parameters", []).append(
        {"name": name, "inits": [unit], "bounds": [[0.5 * unit, 2.0 * unit]], "fixed": True})
    try:
        scaled = pyhf.Model(spec, poi_name=poi, modifier_settings=model.config.modifier_settings)
    except (pyhf.exceptions.InvalidModel, pyhf.exceptions.InvalidSpecification):
        return None
    same_data = (scaled.config.nmaindata == model.config.nmaindata
                 and list(scaled.config.auxdata) == list(model.config.auxdata))
    return scaled if same_data else None


# ---------------------------------------------------------------------------
# Method choice
# ---------------------------------------------------------------------------


def _yields(problem: Problem, mu: float) -> np.ndarray:
    pars = np.asarray(problem.init, dtype=float)
    pars[problem.poi_index] = mu
    return np.asarray(problem.model.expected_actualdata(pars), dtype=float)


def sensitive_counts(problem: Problem) -> tuple[float, float, float]:
    """(signal at POI=1, observed, background at POI=0) summed over POI-sensitive bins."""
    background = _yields(problem, 0.0)
    signal = _yields(problem, 1.0) - background
    if not np.all(np.isfinite(signal)) or signal.max(initial=0.0) <= 0:
        raise LimitError("the POI does not increase any expected yield: no upper limit exists")
    sensitive = signal > 1e-9 * signal.max()
    observed = problem.data[: problem.model.config.nmaindata]
    return float(signal[sensitive].sum()), float(observed[sensitive].sum()), \
        float(background[sensitive].sum())


def _counting_rates(problem: Problem) -> tuple[float, float] | None:
    """(b, s) with rate = b + mu*s if the model is a one-bin counting experiment, else None."""
    model = problem.model
    if model.config.nmaindata != 1:
        return None
    if any(not f for i, f in enumerate(problem.fixed) if i != problem.poi_index):
        return None
    b, one, two = (_yields(problem, mu)[0] for mu in (0.0, 1.0, 2.0))
    s = one - b
    if s <= 0 or not math.isclose(two, b + 2 * s, rel_tol=1e-9, abs_tol=1e-12):
        return None
    return float(b), float(s)


def choose_method(problem: Problem, threshold: float = LOW_COUNT_THRESHOLD) -> tuple[str, str]:
    """The ``auto`` rule (module docstring): (method, reason)."""
    _, n_obs, b_exp = sensitive_counts(problem)
    counts = f"observed {n_obs:g}, background {b_exp:.3g} in the POI-sensitive bins"
    low_n, low_b = n_obs < threshold, b_exp < threshold
    if (low_n or low_b) and _counting_rates(problem) is not None:
        return "exact", (f"{counts} (one < {threshold:g}); one-bin counting model: "
                         "exact Poisson CLs")
    if low_n and low_b:
        return "toys", f"{counts} (both < {threshold:g}): toys"
    if low_b:
        return "asymptotic", (f"{counts} (observed >= {threshold:g}): asymptotic; its expected "
                              "band is approximate at this background (toys give it exactly)")
    return "asymptotic", f"{counts} (background >= {threshold:g})"


def _events_reference(n: float, b: float) -> float:
    """Signal events of the order of the limit for n observed over a background b."""
    return 2.3 + 2.0 * math.sqrt(b + n) + max(n - b, 0.0)


def _mu_reference(problem: Problem) -> float:
    """A POI value of the order of the limit, to start the bracketing."""
    s, n, b = sensitive_counts(problem)
    return _events_reference(n, b) / s


# ---------------------------------------------------------------------------
# CLs calculators: mu -> [CLs_obs, CLs_exp(-2..+2)]
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_qmu_warning(test_stat: str) -> Iterator[None]:
    """pyhf warns on every q (not qtilde) evaluation with the POI bounded at 0; say it once."""
    logger = logging.getLogger("pyhf.infer.test_statistics")
    level = logger.level
    if test_stat == "q":
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def asymptotic_cls(problem: Problem, mu: float) -> np.ndarray:
    """[observed, -2, -1, 0, +1, +2 sigma] asymptotic CLs at ``mu`` (pyhf.infer.hypotest)."""
    init, bounds, fixed = problem.fit_config(mu)
    with _quiet_qmu_warning(problem.test_stat):
        obs, band = pyhf.infer.hypotest(
            mu, problem.data, problem.model, init, bounds, fixed,
            calctype="asymptotics", test_stat=problem.test_stat, return_expected_set=True,
        )
    return np.array([float(obs), *map(float, band)])


def _count_floor(n: np.ndarray) -> np.ndarray:
    """Largest integer count <= n (n may be a non-integer expectation, e.g. blinded data)."""
    floor: np.ndarray = np.floor(n + 1e-12 * np.maximum(1.0, n))
    return floor


def _log_poisson_cdf(k: np.ndarray, rate: float) -> np.ndarray:
    """log P(N <= k | rate); in the far lower tail (CDF < 1e-250) a log-sum of the last pmf terms."""
    k = np.atleast_1d(np.asarray(k, dtype=float))
    with np.errstate(divide="ignore"):
        out: np.ndarray = np.log(stats.poisson.cdf(k, rate))
    for i in np.nonzero(out < -575.0)[0]:  # exp(-575) ~ 1e-250
        # pmf(j - 1) / pmf(j) = j / rate < 1 here: 10^4 terms below k carry the sum
        terms = np.arange(max(0.0, k[i] - 1e4), k[i] + 1.0)
        out[i] = special.logsumexp(stats.poisson.logpmf(terms, rate))
    return out


# ---------------------------------------------------------------------------
# Root finding on smooth (asymptotic) or exact CLs curves
# ---------------------------------------------------------------------------


class _Cached:
    def __init__(self, func: Callable[[float], np.ndarray]) -> None:
        self.func = func
        self.values: dict[float, np.ndarray] = {}

    def __call__(self, mu: float) -> np.ndarray:
        mu = float(mu)
        if mu not in self.values:
            value = np.asarray(self.func(mu), dtype=float)
            if not np.all(np.isfinite(value)):
                raise LimitError(f"CLs is undefined at POI = {mu:.6g} ({value}): a fit failed "
                                 "or no outcome is as extreme as the observed one")
            self.values[mu] = value
        return self.values[mu]

    def scan(self) -> Scan:
        mus = sorted(self.values)
        table = np.array([self.values[m] for m in mus])
        return Scan(tuple(mus), tuple(table[:, 0]), tuple(tuple(col) for col in table[:, 1:].T))


def _bracket(func: _Cached, mu_ref: float, alpha: float, curves: list[int]) -> np.ndarray:
    """Grid mu_ref * 2**j so that every curve starts >= alpha and ends < alpha."""
    hi = lo = mu_ref
    for _ in range(60):
        if np.all(func(hi)[curves] < alpha):
            break
        hi *= 2.0
    else:
        raise LimitError(f"CLs stays above {alpha:g} up to POI = {hi:.3g}: no upper limit")
    for _ in range(60):
        if np.all(func(lo)[curves] >= alpha):
            break
        lo /= 2.0
    else:
        raise LimitError(f"CLs is below {alpha:g} even at POI = {lo:.3g}: no upper limit")
    n = int(round(math.log2(hi / lo)))
    return lo * 2.0 ** np.arange(n + 1)


def _solve_curves(func: _Cached, mu_ref: float, alpha: float, curves: list[int],
                  rtol: float) -> dict[int, float]:
    grid = _bracket(func, mu_ref, alpha, curves)
    values = np.array([func(m) for m in grid])
    roots = {}
    for c in curves:
        i = int(np.argmax(values[:, c] < alpha))
        a, b = grid[i - 1], grid[i]
        roots[c] = float(optimize.brentq(lambda m: func(m)[c] - alpha, a, b,
                                         xtol=1e-12 * b, rtol=rtol))
    return roots


# ---------------------------------------------------------------------------
# Toys
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyJob:
    """Everything a worker needs to generate and evaluate toys (picklable)."""

    model: pyhf.Model
    init: list[float]
    bounds: list[list[float]]
    fixed: list[bool]


def batch_seed(seed: int, kind: int, batch: int) -> int:
    """Independent 32-bit seed for batch ``batch`` of toy kind ``kind`` (0: b-only, 1: s+b)."""
    return int(np.random.SeedSequence(entropy=seed, spawn_key=(kind, batch)).generate_state(1)[0])


def sample_toys(model: pyhf.Model, pars: Sequence[float], ntoys: int, seed: int) -> np.ndarray:
    """``ntoys`` pseudo-datasets (main + aux) from pyhf's own sampler, seeded.

    pyhf samples through scipy with numpy's global RandomState; it is seeded and
    restored under a lock, so concurrent batches in one process stay deterministic.
    """
    pdf = model.make_pdf(pyhf.tensorlib.astensor(list(pars)))
    with _RNG_LOCK:
        state = np.random.get_state()
        try:
            np.random.seed(seed)
            return np.asarray(pdf.sample((ntoys,)), dtype=float)
        finally:
            np.random.set_state(state)


def toy_teststats(job: ToyJob, datasets: np.ndarray,
                  mus: Sequence[float] | np.ndarray) -> np.ndarray:
    """qtilde (as pyhf.infer.test_statistics.qmu_tilde) for each dataset and mu.

    Identical datasets are fitted once; one unconditional fit per dataset serves all
    mu; q = 0 without a conditional fit when muhat > mu. Failed fits give NaN.
    """
    mus = np.atleast_1d(np.asarray(mus, dtype=float))
    unique, inverse = np.unique(datasets, axis=0, return_inverse=True)
    rows = np.array([_teststat_row(job, x, mus) for x in unique])
    return rows[np.ravel(inverse)]


def _teststat_row(job: ToyJob, x: np.ndarray, mus: np.ndarray) -> np.ndarray:
    poi = job.model.config.poi_index
    try:
        pars, nll_hat = mle.fit(x, job.model, job.init, job.bounds, job.fixed,
                                return_fitted_val=True)
    except pyhf.exceptions.FailedMinimization:
        return np.full(len(mus), np.nan)
    muhat = float(pars[poi])
    row = np.zeros(len(mus))
    for i, mu in enumerate(mus):
        if muhat > mu:
            continue
        try:
            _, nll_mu = mle.fixed_poi_fit(mu, x, job.model, job.init, job.bounds, job.fixed,
                                          return_fitted_val=True)
        except pyhf.exceptions.FailedMinimization:
            row[i] = np.nan
            continue
        row[i] = max(float(nll_mu) - float(nll_hat), 0.0)
    return row


def run_bonly_batch(job: ToyJob, pars: Sequence[float], ntoys: int, seed: int,
                    mus: Sequence[float]) -> np.ndarray:
    """Background-only toys of one batch: qtilde, shape (ntoys, len(mus))."""
    return toy_teststats(job, sample_toys(job.model, pars, ntoys, seed), mus)


def run_band_batch(job: ToyJob, pars: Sequence[float], ntoys: int, seed: int,
                   mus: Sequence[float], aux: Sequence[float]) -> np.ndarray:
    """Background-only repetitions of the measurement for the expected band: the counts
    drawn as :func:`run_bonly_batch` does, the auxiliary data held at ``aux`` (their
    observed values); qtilde, shape (ntoys, len(mus))."""
    toys = sample_toys(job.model, pars, ntoys, seed)
    n_main = toys.shape[1] - len(aux)
    toys[:, n_main:] = np.asarray(aux, dtype=float)
    return toy_teststats(job, toys, mus)


def run_splusb_batch(job: ToyJob, pars: Sequence[float], ntoys: int, seed: int,
                     mu: float) -> np.ndarray:
    """Signal+background toys of one batch at ``mu``: qtilde, shape (ntoys,)."""
    return toy_teststats(job, sample_toys(job.model, pars, ntoys, seed), [mu])[:, 0]


def _batches(ntoys: int, batch_size: int) -> list[int]:
    sizes = [batch_size] * (ntoys // batch_size)
    if ntoys % batch_size:
        sizes.append(ntoys % batch_size)
    return sizes


def _tail_fraction(samples: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Fraction of ``samples`` >= each of ``values``, test statistics that differ by less
    than the fit precision (``Q_TIE * (1 + q)``) counting as equal."""
    ordered = np.sort(samples)
    values = np.asarray(values, dtype=float)
    cut = values - Q_TIE * (1.0 + np.abs(values))
    fraction: np.ndarray = (len(ordered) - np.searchsorted(ordered, cut, side="left")) / len(ordered)
    return fraction


def toy_cls_parts(q_obs: float, q_sb: np.ndarray, q_b: np.ndarray,
                  q_toys: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Observed CLs and the CLs of each toy of ``q_toys`` (default: the background-only
    toys ``q_b``; NaN where its fit failed).

    CLs = CLsb / CLb, CLsb = P(q >= q_x | mu) and CLb = P(q >= q_x | 0) estimated by the
    fractions of the s+b and b-only toys (failed fits dropped), q_x the data's or a toy's.
    """
    q_toys = q_b if q_toys is None else q_toys
    sb, b = q_sb[np.isfinite(q_sb)], q_b[np.isfinite(q_b)]
    if len(sb) == 0 or len(b) == 0:
        raise LimitError("every toy fit failed at a POI point")
    clsb = _tail_fraction(sb, np.array([q_obs]))[0]
    clb = _tail_fraction(b, np.array([q_obs]))[0]
    observed = clsb / clb if clb > 0 else (0.0 if clsb == 0 else math.inf)
    per_toy = np.full(len(q_toys), np.nan)
    ok = np.isfinite(q_toys)
    per_toy[ok] = _tail_fraction(sb, q_toys[ok]) / _tail_fraction(b, q_toys[ok])
    return float(observed), per_toy


def _interpolate_limit(mus: np.ndarray, cls: np.ndarray, alpha: float) -> float | None:
    """First crossing of ``alpha`` (linear in mu, log in CLs); None if not bracketed."""
    below = np.nonzero(cls < alpha)[0]
    if len(below) == 0 or below[0] == 0:
        return None
    i = below[0]
    m0, m1, c0, c1 = mus[i - 1], mus[i], cls[i - 1], cls[i]
    if c1 > 0:
        t = (math.log(alpha) - math.log(c0)) / (math.log(c1) - math.log(c0))
    else:
        t = (alpha - c0) / (c1 - c0)
    return float(m0 + t * (m1 - m0))


@dataclass(frozen=True)
class _ToyTable:
    """Toy CLs on a grid: of the data, its pyhf-style percentiles, and of every b-only toy."""

    mus: np.ndarray  # ascending
    observed: np.ndarray  # (n_mu,)
    percentiles: np.ndarray  # (n_mu, 5)
    toys: np.ndarray  # (ntoys, n_mu): the band toys' CLs, NaN where a fit failed

    def rows(self) -> np.ndarray:
        """Rows [observed, -2..+2 sigma], one per POI value."""
        return np.column_stack([self.observed, self.percentiles])

    def merged(self, other: _ToyTable) -> _ToyTable:
        order = np.argsort(np.concatenate([self.mus, other.mus]))
        return _ToyTable(np.concatenate([self.mus, other.mus])[order],
                         np.concatenate([self.observed, other.observed])[order],
                         np.vstack([self.percentiles, other.percentiles])[order],
                         np.hstack([self.toys, other.toys])[:, order])


class _ToyRunner:
    """Toy CLs on a grid of mu values, locally or on a Dask cluster.

    The background-only toys are the same datasets at every mu (generated at one
    conditional fit, with seeds that do not depend on mu), so each has a CLs curve.
    """

    def __init__(self, problem: Problem, ntoys: int, seed: int, batch_size: int,
                 client: Any = None) -> None:
        self.problem, self.ntoys, self.seed = problem, ntoys, seed
        self.batch_size, self.client = batch_size, client
        self.failed = 0
        init, bounds, fixed = problem.fit_config(0.0)
        self.gen_b = mle.fixed_poi_fit(0.0, problem.data, problem.model, init, bounds,
                                       fixed).tolist()

    def _map(self, func: Callable[..., np.ndarray], job: Any,
             *iterables: Sequence[Any]) -> list[np.ndarray]:
        """func(job, *args) for each args: locally, or as Dask tasks (job: a scattered future)."""
        if self.client is None:
            return [func(job, *args) for args in zip(*iterables)]
        futures = self.client.map(func, [job] * len(iterables[0]), *iterables, pure=False)
        results: list[np.ndarray] = self.client.gather(futures)
        return results

    def evaluate(self, mus: np.ndarray) -> _ToyTable:
        """Toy CLs at each of ``mus``."""
        p = self.problem
        mus = np.sort(np.asarray(mus, dtype=float))
        init, bounds, fixed = p.fit_config(float(mus.max()))
        job = ToyJob(p.model, init, bounds, fixed)
        sizes = _batches(self.ntoys, self.batch_size)
        q_obs = toy_teststats(job, p.data[None, :], mus)[0]
        if not np.all(np.isfinite(q_obs)):
            raise LimitError("the fit to the observed data failed")
        if self.client is not None:  # one copy per worker, a fresh key each time
            job = self.client.scatter(job, broadcast=True, hash=False)
        gen_sb = [mle.fixed_poi_fit(m, p.data, p.model, init, bounds, fixed).tolist() for m in mus]
        q_b = np.concatenate(self._map(
            run_bonly_batch, job, [self.gen_b] * len(sizes), sizes,
            [batch_seed(self.seed, 0, j) for j in range(len(sizes))], [list(mus)] * len(sizes)))
        # The band's toys: background-only repetitions of the counts with the auxiliary
        # measurements at their observed values (see _toy_band).
        n_aux = len(p.model.config.auxdata)
        aux = [float(a) for a in p.data[len(p.data) - n_aux:]] if n_aux else []
        q_band = np.concatenate(self._map(
            run_band_batch, job, [self.gen_b] * len(sizes), sizes,
            [batch_seed(self.seed, 2, j) for j in range(len(sizes))], [list(mus)] * len(sizes),
            [aux] * len(sizes)))
        tasks = [(i, j) for i in range(len(mus)) for j in range(len(sizes))]
        q_sb_parts = self._map(
            run_splusb_batch, job, [gen_sb[i] for i, _ in tasks], [sizes[j] for _, j in tasks],
            [batch_seed(self.seed, 1, j) for _, j in tasks], [float(mus[i]) for i, _ in tasks])
        observed, per_toy = np.empty(len(mus)), np.empty((len(q_b), len(mus)))
        band = np.empty((len(q_band), len(mus)))
        for i in range(len(mus)):
            q_sb = np.concatenate(q_sb_parts[i * len(sizes):(i + 1) * len(sizes)])
            # failed fits give NaN test statistics: dropped from the ensembles
            self.failed += int(np.sum(~np.isfinite(q_sb)) + np.sum(~np.isfinite(q_b[:, i])))
            observed[i], per_toy[:, i] = toy_cls_parts(float(q_obs[i]), q_sb, q_b[:, i])
            band[:, i] = toy_cls_parts(float(q_obs[i]), q_sb, q_b[:, i], q_band[:, i])[1]
        # the scan's expected CLs, as pyhf's ToyCalculator: percentiles of the toys' CLs
        percentiles = np.array([np.percentile(col[np.isfinite(col)], _PERCENTILES)
                                for col in per_toy.T])
        return _ToyTable(mus, observed, percentiles, band)

    def cls_grid(self, mus: np.ndarray) -> np.ndarray:
        """Rows [observed, -2..+2 sigma] CLs for each mu (ascending)."""
        return self.evaluate(mus).rows()


def _toy_upper_limits(mus: np.ndarray, cls: np.ndarray, alpha: float) -> np.ndarray:
    """Each toy's limit (rows of ``cls``): -inf below the grid, +inf above it, NaN if a fit
    failed. Identical CLs curves (identical toys) are solved once."""
    unique, inverse = np.unique(cls, axis=0, return_inverse=True)
    limits = np.empty(len(unique))
    for k, row in enumerate(unique):
        if not np.all(np.isfinite(row)):
            limits[k] = np.nan
            continue
        root = _interpolate_limit(mus, row, alpha)
        limits[k] = root if root is not None else (-math.inf if row[0] < alpha else math.inf)
    return limits[np.ravel(inverse)]


def _toy_band(table: _ToyTable, alpha: float) -> np.ndarray:
    """Percentiles (inverted CDF: actual toy limits) of the limits of background-only
    repetitions of the measurement.

    In those repetitions the counts fluctuate and the auxiliary measurements (the
    constraints of the nuisance parameters: EOT counting, efficiencies, the A' yield,
    the sideband extrapolation) keep their observed values: they are not repeated with
    the experiment. So no repetition with zero events in the box sets a limit below the
    zero-count limit (2.30 events at 90 % CL, more with uncertainties). With the
    auxiliary data sampled too (pyhf's toys), a toy whose signal-efficiency constraint
    fluctuated up would claim a stronger limit than any count can give: the demo's -2
    sigma fell to 1.65 events. The CLs of each repetition, like the observed one, comes
    from the full toy ensembles (auxiliary data sampled), as in pyhf.
    """
    limits = _toy_upper_limits(table.mus, table.toys, alpha)
    band: np.ndarray = np.percentile(limits[~np.isnan(limits)], _PERCENTILES, method="inverted_cdf")
    return band


def _toy_grid(problem: Problem, alpha: float, curves: list[int], npoints: int) -> np.ndarray:
    """Grid spanning the asymptotic limits (generously: they are off at low counts)."""
    func = _Cached(lambda mu: asymptotic_cls(problem, mu))
    try:
        roots = _solve_curves(func, _mu_reference(problem), alpha, curves, rtol=1e-3)
        lo, hi = 0.5 * min(roots.values()), 2.0 * max(roots.values())
    except LimitError:
        ref = _mu_reference(problem)
        lo, hi = ref / 4.0, ref * 4.0
    return np.geomspace(lo, hi, npoints)


def _extension(mus: np.ndarray, low: bool, high: bool) -> np.ndarray:
    """Three more grid points (the grid's geometric step) below and/or above the grid."""
    step = (mus[-1] / mus[0]) ** (1.0 / max(len(mus) - 1, 1))
    extra = []
    if low:
        extra.append(mus[0] / step ** np.arange(1, 4))
    if high:
        extra.append(mus[-1] * step ** np.arange(1, 4))
    return np.concatenate(extra)


def _toy_limits(problem: Problem, alpha: float, expected: bool, ntoys: int, seed: int,
                batch_size: int, client: Any, npoints: int,
                max_rounds: int = 4) -> tuple[float, _Band | None, Scan, int]:
    """Observed limit (toy CLs of the data), band (toy limits' percentiles), scan, failed fits."""
    runner = _ToyRunner(problem, ntoys, seed, batch_size, client)
    table = runner.evaluate(_toy_grid(problem, alpha, _curves(expected), npoints))
    for round_ in range(max_rounds + 1):
        observed = _interpolate_limit(table.mus, table.observed, alpha)
        low = observed is None and table.observed[0] < alpha
        high = observed is None and not low
        band = _toy_band(table, alpha) if expected else None
        if band is not None:
            low, high = low or bool(np.any(band == -math.inf)), high or bool(np.any(band == math.inf))
        if not (low or high) or round_ == max_rounds:
            break
        table = table.merged(runner.evaluate(_extension(table.mus, low, high)))
    span = f"between POI = {table.mus[0]:.3g} and {table.mus[-1]:.3g}; try more toys"
    if observed is None:
        raise LimitError(f"toy CLs (observed) does not cross {alpha:g} {span}")
    if band is not None and not np.all(np.isfinite(band)):
        k = int(np.argmax(~np.isfinite(band)))
        raise LimitError(f"the toy limits at {BAND_SIGMAS[k]:+d} sigma are not {span}")
    expected_band = _as_band(map(float, band)) if band is not None else None
    return observed, expected_band, _scan(table.mus, table.rows()), runner.failed


# ---------------------------------------------------------------------------
# One interface for the three methods
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """A calculator's answer: POI limits where CLs = alpha and the CLs values behind them."""

    observed: float
    expected: tuple[float, float, float, float, float] | None
    scan: Scan
    ntoys: int | None = None
    seed: int | None = None
    notes: tuple[str, ...] = ()


class Calculator(Protocol):
    """CLs of one :class:`Problem` as a function of the POI, and its upper limits."""

    method: str

    def cls(self, mus: np.ndarray) -> np.ndarray:
        """Rows [observed, -2, -1, 0, +1, +2 sigma] of CLs, one per POI value (ascending)."""
        ...

    def limits(self, alpha: float, expected: bool) -> Limits:
        """The observed limit and, if ``expected``, the band at ``BAND_SIGMAS``."""
        ...


def _scan(mus: Sequence[float] | np.ndarray, table: np.ndarray) -> Scan:
    return Scan(tuple(map(float, mus)), tuple(map(float, table[:, 0])),
                tuple(tuple(map(float, table[:, k])) for k in range(1, 6)))


def _curves(expected: bool) -> list[int]:
    return [0, 1, 2, 3, 4, 5] if expected else [0]


def _as_band(values: Iterable[float]) -> _Band:
    """``tuple(values)``, typed as the band: ``values`` are one per ``BAND_SIGMAS`` (five)."""
    return cast(_Band, tuple(values))


def _band(roots: dict[int, float], expected: bool) -> _Band | None:
    return _as_band(roots[c] for c in range(1, 6)) if expected else None


class AsymptoticCalculator:
    """Asymptotic CLs (pyhf.infer.hypotest), ``brentq`` on each curve."""

    method = "asymptotic"

    def __init__(self, problem: Problem, rtol: float = 1e-8) -> None:
        self.problem, self.rtol = problem, rtol

    def cls(self, mus: np.ndarray) -> np.ndarray:
        return np.array([asymptotic_cls(self.problem, m) for m in mus])

    def limits(self, alpha: float, expected: bool) -> Limits:
        func = _Cached(lambda mu: asymptotic_cls(self.problem, mu))
        roots = _solve_curves(func, _mu_reference(self.problem), alpha, _curves(expected),
                              self.rtol)
        return Limits(roots[0], _band(roots, expected), func.scan())


class ExactCalculator:
    """Exact CLs of a one-bin counting model with rate b + mu*s: the infinite-toy limit.

    qtilde is non-increasing in the count n (strictly where it is > 0), so for
    q_obs > 0 {q >= q_obs} = {N <= n_obs} and CLs is the classic counting CLs
    P(N <= n_obs | b + mu s) / P(N <= n_obs | b) (Read, J. Phys. G 28 (2002) 2693);
    n_obs >= b + mu s gives q_obs = 0 and CLs = 1. Two Poisson CDFs per POI value,
    whatever n_obs. The limit increases with n, so the quantiles of the limits of
    background-only experiments (the band) are the limits at the quantiles of
    N ~ Poisson(b).
    """

    method = "exact"

    def __init__(self, problem: Problem, rtol: float = 1e-8) -> None:
        rates = _counting_rates(problem)
        if rates is None:
            raise LimitError("exact CLs needs a one-bin counting model without floating nuisances")
        if problem.test_stat != "qtilde":
            raise LimitError("exact CLs is implemented for qtilde only")
        self.problem, self.rtol = problem, rtol
        self.b, self.s = rates
        self.n_obs = float(problem.data[0])
        self.band_counts = tuple(float(k) for k in stats.poisson.ppf(_PERCENTILES / 100.0, self.b))
        self._evaluated: set[float] = set()

    def cls_counts(self, n: Sequence[float] | np.ndarray, mu: float) -> np.ndarray:
        """CLs at ``mu`` of the outcomes ``n``."""
        n = np.asarray(n, dtype=float)
        rate = self.b + mu * self.s
        k = _count_floor(n)
        cls = np.exp(_log_poisson_cdf(k, rate) - _log_poisson_cdf(k, self.b))
        return np.where(n >= rate, 1.0, cls)

    def cls(self, mus: np.ndarray) -> np.ndarray:
        counts = [self.n_obs, *self.band_counts]
        return np.array([self.cls_counts(counts, m) for m in mus])

    def _limit(self, n: float, alpha: float) -> float:
        """The POI where CLs(n) = alpha: CLs(n) = 1 up to mu = (n - b)/s, decreasing above."""
        def excess(mu: float) -> float:
            value = float(self.cls_counts([n], mu)[0])
            if not math.isfinite(value):
                raise LimitError(f"exact CLs is undefined at POI = {mu:.6g} for {n:g} events")
            if n == self.n_obs:
                self._evaluated.add(float(mu))
            return value - alpha

        lo = max((n - self.b) / self.s, 0.0)
        hi = max(lo, _events_reference(n, self.b) / self.s)
        for _ in range(200):
            if excess(hi) < 0:
                break
            hi *= 2.0
        else:
            raise LimitError(f"CLs stays above {alpha:g} up to POI = {hi:.3g}: no upper limit")
        return float(optimize.brentq(excess, lo, hi, xtol=1e-12 * hi, rtol=self.rtol))

    def limits(self, alpha: float, expected: bool) -> Limits:
        counts = [self.n_obs, *(self.band_counts if expected else ())]
        limit_of = {n: self._limit(n, alpha) for n in dict.fromkeys(counts)}
        band = _as_band(limit_of[n] for n in self.band_counts) if expected else None
        mus = sorted(self._evaluated | set(band or ()))
        return Limits(limit_of[self.n_obs], band, _scan(mus, self.cls(np.array(mus))))


class ToyCalculator:
    """Toy CLs on a grid of POI values (:class:`_ToyRunner`), locally or on Dask."""

    method = "toys"

    def __init__(self, problem: Problem, ntoys: int = DEFAULT_NTOYS, seed: int | None = 0,
                 batch_size: int = DEFAULT_BATCH_SIZE, client: Any = None,
                 npoints: int = 8) -> None:
        if problem.test_stat != "qtilde":
            raise LimitError("toys are implemented for qtilde only")
        if ntoys < 10:
            raise ValueError(f"ntoys must be >= 10, got {ntoys}")
        self.problem, self.ntoys, self.npoints = problem, ntoys, npoints
        self.batch_size, self.client = batch_size, client
        if seed is None:
            entropy = np.random.SeedSequence().entropy
            assert isinstance(entropy, int)  # drawn (an int) when SeedSequence is given none
            seed = entropy % 2**63
        self.seed = int(seed)

    def _runner(self) -> _ToyRunner:
        return _ToyRunner(self.problem, self.ntoys, self.seed, self.batch_size, self.client)

    def cls(self, mus: np.ndarray) -> np.ndarray:
        return self._runner().cls_grid(np.asarray(mus, dtype=float))

    def limits(self, alpha: float, expected: bool) -> Limits:
        observed, band, scan, failed = _toy_limits(self.problem, alpha, expected, self.ntoys,
                                                   self.seed, self.batch_size, self.client,
                                                   self.npoints)
        notes = ((f"{failed} toy test statistics (toy x POI point) had a failed fit and were "
                  "dropped"),) if failed else ()
        return Limits(observed, band, scan, self.ntoys, self.seed, notes)


def make_calculator(problem: Problem, method: str, *, ntoys: int = DEFAULT_NTOYS,
                    seed: int | None = 0, client: Any = None,
                    batch_size: int = DEFAULT_BATCH_SIZE, npoints: int = 8,
                    rtol: float = 1e-8) -> Calculator:
    """The calculator of ``method`` (asymptotic, exact or toys; not auto) for ``problem``."""
    if method == "asymptotic":
        return AsymptoticCalculator(problem, rtol)
    if method == "exact":
        return ExactCalculator(problem, rtol)
    if method == "toys":
        return ToyCalculator(problem, ntoys, seed, batch_size, client, npoints)
    raise ValueError(f"method must be asymptotic, toys or exact, not {method!r}")


# ---------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------


def cls_scan(
    workspace_or_model: str | Path | dict[str, Any] | pyhf.Workspace | pyhf.Model,
    mus: Sequence[float],
    data: Sequence[float] | np.ndarray | None = None,
    method: str = "asymptotic",
    ntoys: int = DEFAULT_NTOYS,
    client: Any = None,
    seed: int = 0,
    *,
    poi_name: str | None = None,
    modifier_settings: dict[str, Any] | None = None,
    test_stat: str = "qtilde",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Scan:
    """CLs (observed and expected band) at the given POI values, e.g. for a Brazil plot."""
    problem = make_problem(workspace_or_model, data, poi_name=poi_name,
                           modifier_settings=modifier_settings, test_stat=test_stat)
    grid = np.asarray(sorted(float(m) for m in mus))
    if len(grid) == 0 or grid[0] <= 0:
        raise ValueError("mus must be positive")
    calculator = make_calculator(problem, method, ntoys=ntoys, seed=seed, client=client,
                                 batch_size=batch_size)
    return _scan(grid, calculator.cls(grid / problem.unit))


def upper_limit(
    workspace_or_model: str | Path | dict[str, Any] | pyhf.Workspace | pyhf.Model,
    data: Sequence[float] | np.ndarray | None = None,
    cl: float = 0.9,
    method: str = "auto",
    ntoys: int = DEFAULT_NTOYS,
    expected: bool = True,
    client: Any = None,
    seed: int | None = 0,
    *,
    poi_name: str | None = None,
    modifier_settings: dict[str, Any] | None = None,
    test_stat: str = "qtilde",
    batch_size: int = DEFAULT_BATCH_SIZE,
    npoints: int = 8,
    rtol: float = 1e-8,
) -> LimitResult:
    """CLs upper limit on the POI at confidence level ``cl`` (see the module docstring).

    ``data`` defaults to the workspace's observations (required with a Model).
    ``client`` (a ``distributed.Client``) parallelises toys. ``seed=None`` draws a
    fresh seed (reported in the result). ``npoints`` is the toy grid size, ``rtol`` the
    root-finding tolerance of the asymptotic and exact methods.
    """
    if not 0.0 < cl < 1.0:
        raise ValueError(f"cl must be in (0, 1), got {cl}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    problem = make_problem(workspace_or_model, data, poi_name=poi_name,
                           modifier_settings=modifier_settings, test_stat=test_stat)
    reason = f"method {method!r} requested"
    if method == "auto":
        method, reason = choose_method(problem)
    logger.debug("upper limit on %s at %g%% CL: %s (%s)", problem.poi_name, 100 * cl, method,
                 reason)
    calculator = make_calculator(problem, method, ntoys=ntoys, seed=seed, client=client,
                                 batch_size=batch_size, npoints=npoints, rtol=rtol)
    limits = calculator.limits(1.0 - cl, expected)
    unit = problem.unit
    band = _as_band(unit * e for e in limits.expected) if limits.expected is not None else None
    scan = limits.scan
    scan = Scan(tuple(unit * m for m in scan.mu), scan.cls_observed, scan.cls_expected)
    notes = [*problem.notes, *limits.notes]
    top = unit * max([limits.observed, *(limits.expected or ())])
    upper = unit * problem.bounds[problem.poi_index][1]
    if top > upper:
        notes.append(f"the limit ({top:.4g}) lies above the POI's upper bound {upper:g} (from "
                     "the workspace or pyhf's default): the fits widened it")
        logger.info("POI %s: %s", problem.poi_name, notes[-1])
    return LimitResult(observed=unit * limits.observed, expected=band, cl=cl,
                       method=calculator.method, poi=problem.poi_name, scan=scan,
                       test_stat=test_stat, ntoys=limits.ntoys, seed=limits.seed,
                       reason=reason, notes=tuple(notes))
