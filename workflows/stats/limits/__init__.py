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
:func:`~.problem._in_limit_units`), so that the fits, the bracketing and the toy grid start at
O(1); results are converted back. A POI upper bound (the workspace's, or pyhf's default
10) below the limit is widened for the fits, and a note of the result says so.

Methods
-------
``asymptotic``
    pyhf's asymptotic formulas (Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554; the
    numbers of ``pyhf.infer.hypotest``) with the Asimov dataset and the free fits made
    once per limit and warm-started conditional fits (:mod:`.asymptotic`): each expected
    limit from sqrt(q_mu,A), the observed one by the secant method in log CLs, to 1e-4
    relative (measured within 2e-3 of ``brentq`` on ``hypotest``, bracketing on powers
    of two, which is the fallback if a search fails).
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
    toys are cheap); one unconditional fit per toy serves every mu, and its conditional
    fits are warm-started. Cost: about ``ntoys * npoints * 2.5`` fits when the toys are
    all different (a constrained nuisance): :mod:`.fastfit`'s, ~1.6 ms each for the
    demo's 40-parameter workspace (pyhf's: 150-400 ms). The percentiles do not use the ``interpolation=`` argument
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

Modules
-------
``result`` (LimitError, NoPOIError, Scan, LimitResult), ``problem`` (Problem,
:func:`make_problem`, the POI's internal unit, :func:`choose_method`), ``search``
(asymptotic CLs by ``hypotest``, bracketing and ``brentq``), ``fastfit`` (the fits:
-2 ln L with its exact gradient for normfactor/normsys models, :class:`NormNLL`,
:func:`nll_for`, :func:`fast_fit`; pyhf's fits for other models), ``asymptotic`` (the fast
asymptotic limits: :class:`AsymptoticCurves`), ``toys`` (toy generation and test
statistics: what Dask workers run), ``toy_cls`` (toy CLs, limits and band),
``calculators`` (the three calculators, :func:`make_calculator`), ``api``
(:func:`upper_limit`, :func:`cls_scan`). Everything public is importable from here.
"""

from .api import METHODS, cls_scan, upper_limit
from .asymptotic import AsymptoticCurves, asymptotic_roots
from .calculators import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_NTOYS,
    AsymptoticCalculator,
    Calculator,
    ExactCalculator,
    Limits,
    ToyCalculator,
    make_calculator,
)
from .fastfit import FIT_TOL, NormNLL, nll_for
from .fastfit import fit as fast_fit
from .problem import (
    LOW_COUNT_THRESHOLD,
    TEST_STATISTICS,
    UNIT_PARAMETER,
    Problem,
    choose_method,
    load_workspace,
    make_problem,
    sensitive_counts,
)
from .result import BAND_SIGMAS, LimitError, LimitResult, NoPOIError, Scan
from .search import asymptotic_cls
from .toy_cls import Q_TIE, toy_cls_parts
from .toys import ToyJob, batch_seed, run_band_batch, run_bonly_batch, run_splusb_batch, sample_toys, toy_teststats

__all__ = [
    "BAND_SIGMAS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_NTOYS",
    "FIT_TOL",
    "LOW_COUNT_THRESHOLD",
    "METHODS",
    "Q_TIE",
    "TEST_STATISTICS",
    "UNIT_PARAMETER",
    "AsymptoticCalculator",
    "AsymptoticCurves",
    "Calculator",
    "ExactCalculator",
    "LimitError",
    "LimitResult",
    "Limits",
    "NoPOIError",
    "NormNLL",
    "Problem",
    "Scan",
    "ToyCalculator",
    "ToyJob",
    "asymptotic_cls",
    "asymptotic_roots",
    "batch_seed",
    "choose_method",
    "cls_scan",
    "fast_fit",
    "load_workspace",
    "make_calculator",
    "make_problem",
    "nll_for",
    "run_band_batch",
    "run_bonly_batch",
    "run_splusb_batch",
    "sample_toys",
    "sensitive_counts",
    "toy_cls_parts",
    "toy_teststats",
    "upper_limit",
]
