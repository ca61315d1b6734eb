"""Fit diagnostics of a HistFactory workspace with cabinetry: yields, pulls, impacts, correlations.

:func:`fit_diagnostics` runs one maximum-likelihood fit of the workspace to *its own
data* (for a blinded workspace of :func:`workflows.stats.model.build_workspace` that is
the Asimov background in the box and the real sideband counts) and derives from it

* the pre- and post-fit yields per channel, bin (period) and sample with their
  uncertainties (:func:`cabinetry.model_utils.prediction`): :class:`YieldTable`;
* the pulls and constraints of every parameter (best fit and Hessian uncertainty
  against the constraint term's nominal value and width): :class:`ParameterResult`;
* the impact of every nuisance on the POI (:func:`cabinetry.fit.ranking`: four fits per
  nuisance, the nuisance held at its best fit +- its pre-fit and post-fit uncertainty):
  :class:`Ranking`, ordered by decreasing post-fit impact;
* the correlation matrix of the fit: :class:`Correlation`;

and writes three plots into ``plots_dir`` (the names are :data:`PULLS_PLOT`,
:data:`RANKING_PLOT`, :data:`CORRELATION_PLOT`):

``pulls.png``
    cabinetry's pull plot of the constrained nuisances. The free normalisation factors
    (the POI ``mu``, ``bkg_norm_<p>``) have no constraint term and hence no pull: they are
    excluded (their fitted values are in :attr:`FitDiagnostics.parameters`).
``ranking.png``
    cabinetry's impact plot of the ``top`` nuisances with the largest post-fit impact,
    drawn by :func:`cabinetry.visualize.plot_result.ranking` from our order (cabinetry's
    :func:`~cabinetry.visualize.ranking` re-sorts with an unstable sort, so equal impacts,
    such as ``eot_<p>`` and ``sig_eff_<p>`` of one period, could swap between runs). The
    impact axis is widened to the largest pre- *or* post-fit impact (cabinetry scales it to
    the pre-fit ones only, which cuts the post-fit bars of the free normalisations, whose
    pre-fit impact is zero by definition).
``correlation.png``
    cabinetry's correlation matrix (parameters held fixed are left out).

A plot with nothing to show (no constrained nuisance) is not written and is missing from
:attr:`FitDiagnostics.plots`.

The POI's lower bound. The box bins are Poisson terms, so ``mu`` is bounded at 0 in the
workspace (a physical signal). A blinded (Asimov) box puts the best fit exactly at that
bound, where the Hessian uncertainty is meaningless (Minuit reports ~70 for a true ~1.2)
and every impact that would push ``mu`` below 0 is clipped to zero. The diagnostic fits
therefore lower the bound to ``-POI_LOWER_FRACTION * min_k b_k / s_k`` over the bins
``k`` with signal (``b_k``, ``s_k``: background and signal at nominal parameters, mu = 1),
so that every bin's expectation stays positive (:func:`diagnostic_poi_bounds`);
``poi_lower=0.0`` keeps the physical bound. The limits are not affected (they use
:mod:`workflows.stats.limits`).

cabinetry's and pyhf's log messages are silenced below WARNING during the calls
(:func:`quiet`), matplotlib's settings (cabinetry's ranking plot switches the style) are
restored afterwards. The fits are Minuit's (deterministic) with ``tolerance`` =
:data:`FIT_TOLERANCE` (Minuit's default, 0.1, leaves ``mu`` 0.01 off its minimum on an
Asimov box; 1e-3 costs nothing more).

Everything returned is a frozen dataclass whose ``to_json`` is strict JSON (non-finite
numbers encoded by :func:`processors.jsonio.encode_float`, never NaN); ``from_json``
reads it back.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from processors.jsonio import Reader, encode_float, encode_floats, open_document

__all__ = [
    "CORRELATION_PLOT",
    "DIAGNOSTICS_VERSION",
    "FIT_TOLERANCE",
    "POI_LOWER_FRACTION",
    "PULLS_PLOT",
    "RANKING_PLOT",
    "BinYields",
    "ChannelYields",
    "Correlation",
    "FitDiagnostics",
    "Impact",
    "ParameterResult",
    "Ranking",
    "YieldEntry",
    "YieldTable",
    "diagnostic_poi_bounds",
    "fit_diagnostics",
    "quiet",
]

#: Version of the layout written by :meth:`FitDiagnostics.to_json`.
log = logging.getLogger(__name__)

DIAGNOSTICS_VERSION = 1
PULLS_PLOT = "pulls.png"
RANKING_PLOT = "ranking.png"
CORRELATION_PLOT = "correlation.png"
#: Minuit tolerance of every diagnostic fit (convergence at EDM < 0.002 * tolerance).
FIT_TOLERANCE = 1e-3
#: The diagnostic fits let the POI go down to this fraction of -min(b/s) (module docstring).
POI_LOWER_FRACTION = 0.5
_QUIET_LOGGERS = ("cabinetry", "pyhf")
_MATHTEXT = "matplotlib.mathtext"


@contextmanager
def quiet(level: int = logging.WARNING) -> Iterator[None]:
    """cabinetry's and pyhf's loggers at ``level`` or above for the duration of the block."""
    loggers = [logging.getLogger(name) for name in (*_QUIET_LOGGERS, _MATHTEXT)]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        # matplotlib's mathtext warns about glyphs (big parentheses) of cabinetry's axis
        # labels that the mplhep font lacks: drawn anyway, nothing for the user to do.
        lg.setLevel(max(logging.ERROR if lg.name == _MATHTEXT else level, lg.getEffectiveLevel()))
    try:
        yield
    finally:
        for lg, lvl in zip(loggers, saved):
            lg.setLevel(lvl)


# ---------------------------------------------------------------------------
# Yields
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class YieldEntry:
    """Pre- and post-fit yield of one sample (or of the total, ``sample="total"``) and their
    uncertainties (cabinetry's symmetrised error propagation; post-fit with correlations).

    Pre-fit, free parameters (``mu``, ``bkg_norm_<p>``) are at their initial values (1) with
    no uncertainty: the sideband templates have a pre-fit error of 0, the signal is the
    yield at mu = 1."""

    sample: str
    prefit: float
    prefit_error: float
    postfit: float
    postfit_error: float

    def to_json(self) -> dict[str, Any]:
        return {"sample": self.sample, "prefit": encode_float(self.prefit),
                "prefit_error": encode_float(self.prefit_error), "postfit": encode_float(self.postfit),
                "postfit_error": encode_float(self.postfit_error)}

    @classmethod
    def read(cls, r: Reader) -> YieldEntry:
        return cls(r.text("sample"), r.number("prefit"), r.number("prefit_error"), r.number("postfit"),
                   r.number("postfit_error"))


@dataclass(frozen=True)
class BinYields:
    """One bin of a channel: its label (the period), the data, the samples with a yield in
    it (pre- or post-fit non-zero) and the total."""

    index: int
    label: str
    data: float
    samples: tuple[YieldEntry, ...]
    total: YieldEntry

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "label": self.label, "data": encode_float(self.data),
                "samples": [s.to_json() for s in self.samples], "total": self.total.to_json()}

    @classmethod
    def read(cls, r: Reader) -> BinYields:
        return cls(r.integer("index"), r.text("label"), r.number("data"),
                   tuple(YieldEntry.read(s) for s in r.objects("samples")), YieldEntry.read(r.obj("total")))


@dataclass(frozen=True)
class ChannelYields:
    """A channel: its bins and its sums over bins (per sample, total, data)."""

    name: str
    bins: tuple[BinYields, ...]
    samples: tuple[YieldEntry, ...]
    total: YieldEntry
    data: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "data": encode_float(self.data), "total": self.total.to_json(),
                "samples": [s.to_json() for s in self.samples], "bins": [b.to_json() for b in self.bins]}

    @classmethod
    def read(cls, r: Reader) -> ChannelYields:
        return cls(r.text("name"), tuple(BinYields.read(b) for b in r.objects("bins")),
                   tuple(YieldEntry.read(s) for s in r.objects("samples")), YieldEntry.read(r.obj("total")),
                   r.number("data"))


@dataclass(frozen=True)
class YieldTable:
    """Pre- and post-fit yields of every channel, in the order of the workspace's
    ``channels`` (the box first for :func:`~workflows.stats.model.build_workspace`)."""

    channels: tuple[ChannelYields, ...]

    def channel(self, name: str) -> ChannelYields:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(name)

    def rows(self, samples: bool = True) -> list[tuple[str, str, str, YieldEntry, float]]:
        """Flat rows ``(channel, bin label, sample, entry, data)`` for a table: per bin its
        samples (if ``samples``) and total, then the channel sum (bin label ``"all"``)."""
        out: list[tuple[str, str, str, YieldEntry, float]] = []
        for ch in self.channels:
            for b in ch.bins:
                out += [(ch.name, b.label, s.sample, s, b.data) for s in (b.samples if samples else ())]
                out.append((ch.name, b.label, "total", b.total, b.data))
            out.append((ch.name, "all", "total", ch.total, ch.data))
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [ch.to_json() for ch in self.channels]


def _bin_labels(spec: dict[str, Any], channel: str, nbins: int, names: dict[str, str]) -> list[str]:
    """The period of each bin: the ``<sample>_<key>`` samples that fill only that bin."""
    ch = next(c for c in spec["channels"] if c["name"] == channel)
    labels = []
    for i in range(nbins):
        found = set()
        for sample in ch["samples"]:
            data = sample["data"]
            if data[i] != 0 and all(x == 0 for j, x in enumerate(data) if j != i):
                found |= {name for key, name in names.items() if sample["name"].endswith("_" + key)}
        labels.append(found.pop() if len(found) == 1 else f"bin {i}")
    return labels


def _period_names(spec: dict[str, Any], periods: Sequence[str] | None) -> dict[str, str]:
    """Parameter key (as model.py sanitises it) -> period name; without ``periods``, the
    keys of the ``background_<key>`` samples."""
    if periods is not None:
        return {re.sub(r"[^A-Za-z0-9_]", "_", p): p for p in periods}
    keys = {s["name"][len("background_"):] for c in spec["channels"] for s in c["samples"]
            if s["name"].startswith("background_")}
    return {k: k for k in keys}


def _yield_table(spec: dict[str, Any], model: Any, data: Sequence[float], fit: Any,
                 periods: Sequence[str] | None) -> YieldTable:
    import cabinetry

    pre = cabinetry.model_utils.prediction(model)
    post = cabinetry.model_utils.prediction(model, fit_results=fit)
    main = list(data)[:sum(model.config.channel_nbins.values())]  # without the auxiliary data
    observed = [main[model.config.channel_slices[ch]] for ch in model.config.channels]
    names = _period_names(spec, periods)
    samples = [*model.config.samples, "total"]
    channels = []
    for channel in [ch["name"] for ch in spec["channels"]]:  # pyhf sorts them by name
        c = model.config.channels.index(channel)
        nbins = model.config.channel_nbins[channel]
        labels = _bin_labels(spec, channel, nbins, names)

        def entry(s: int, b: int | None) -> YieldEntry:
            if b is None:  # channel sums
                pre_y = sum(pre.model_yields[c][s]) if s < len(samples) - 1 else sum(map(sum, pre.model_yields[c]))
                post_y = (sum(post.model_yields[c][s]) if s < len(samples) - 1
                          else sum(map(sum, post.model_yields[c])))
                return YieldEntry(samples[s], float(pre_y), float(pre.total_stdev_model_channels[c][s]),
                                  float(post_y), float(post.total_stdev_model_channels[c][s]))
            if s < len(samples) - 1:
                pre_y, post_y = pre.model_yields[c][s][b], post.model_yields[c][s][b]
            else:
                pre_y = sum(y[b] for y in pre.model_yields[c])
                post_y = sum(y[b] for y in post.model_yields[c])
            return YieldEntry(samples[s], float(pre_y), float(pre.total_stdev_model_bins[c][s][b]),
                              float(post_y), float(post.total_stdev_model_bins[c][s][b]))

        n_samples = len(samples) - 1
        bins = []
        for b in range(nbins):
            present = tuple(entry(s, b) for s in range(n_samples)
                            if pre.model_yields[c][s][b] != 0 or post.model_yields[c][s][b] != 0)
            bins.append(BinYields(b, labels[b], float(observed[c][b]), present, entry(n_samples, b)))
        in_channel = tuple(entry(s, None) for s in range(n_samples)
                           if any(pre.model_yields[c][s]) or any(post.model_yields[c][s]))
        channels.append(ChannelYields(channel, tuple(bins), in_channel, entry(n_samples, None),
                                      float(sum(observed[c]))))
    return YieldTable(tuple(channels))


# ---------------------------------------------------------------------------
# Parameters, correlations, impacts
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterResult:
    """Fitted value of one parameter against its constraint term.

    ``nominal`` and ``prefit_error`` are the constraint's centre and width (0 and 1 for a
    normsys/histosys; for a free parameter: its initial value and 0). ``pull`` =
    (bestfit - nominal) / prefit_error and ``constraint`` = error / prefit_error (< 1:
    the data constrain the nuisance beyond its prior) are None for free parameters.
    """

    name: str
    modifier: str
    constrained: bool
    nominal: float
    prefit_error: float
    bestfit: float
    error: float

    @property
    def pull(self) -> float | None:
        return (self.bestfit - self.nominal) / self.prefit_error if self.constrained and self.prefit_error else None

    @property
    def constraint(self) -> float | None:
        return self.error / self.prefit_error if self.constrained and self.prefit_error else None

    def to_json(self) -> dict[str, Any]:
        pull, constraint = self.pull, self.constraint
        return {"name": self.name, "modifier": self.modifier, "constrained": self.constrained,
                "nominal": encode_float(self.nominal), "prefit_error": encode_float(self.prefit_error),
                "bestfit": encode_float(self.bestfit), "error": encode_float(self.error),
                "pull": None if pull is None else encode_float(pull),
                "constraint": None if constraint is None else encode_float(constraint)}

    @classmethod
    def read(cls, r: Reader) -> ParameterResult:
        return cls(r.text("name"), r.text("modifier"), r.flag("constrained"), r.number("nominal"),
                   r.number("prefit_error"), r.number("bestfit"), r.number("error"))


@dataclass(frozen=True)
class Correlation:
    """The fit's correlation matrix; ``matrix[i][j]`` belongs to ``labels[i]``, ``labels[j]``."""

    labels: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]

    def __call__(self, a: str, b: str) -> float:
        return self.matrix[self.labels.index(a)][self.labels.index(b)]

    def to_json(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "matrix": encode_floats(np.asarray(self.matrix, dtype=float)
                                                                     .reshape(len(self.labels), len(self.labels)))}

    @classmethod
    def read(cls, r: Reader) -> Correlation:
        labels = tuple(r.texts("labels"))
        matrix = r.numbers("matrix", 2).reshape(len(labels), len(labels))
        return cls(labels, tuple(tuple(row) for row in matrix.tolist()))


@dataclass(frozen=True)
class Impact:
    """Shift of the POI's best fit when one nuisance is held at its best fit +- its pre-fit
    (constraint width; 0 for free parameters) or post-fit (Hessian) uncertainty."""

    name: str
    bestfit: float
    error: float
    prefit_up: float
    prefit_down: float
    postfit_up: float
    postfit_down: float

    @property
    def postfit(self) -> float:
        """max(|post-fit up|, |post-fit down|): the ranking's key."""
        return max(abs(self.postfit_up), abs(self.postfit_down))

    @property
    def prefit(self) -> float:
        return max(abs(self.prefit_up), abs(self.prefit_down))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "bestfit": encode_float(self.bestfit), "error": encode_float(self.error),
                "prefit_up": encode_float(self.prefit_up), "prefit_down": encode_float(self.prefit_down),
                "postfit_up": encode_float(self.postfit_up), "postfit_down": encode_float(self.postfit_down)}

    @classmethod
    def read(cls, r: Reader) -> Impact:
        return cls(r.text("name"), r.number("bestfit"), r.number("error"), r.number("prefit_up"),
                   r.number("prefit_down"), r.number("postfit_up"), r.number("postfit_down"))


@dataclass(frozen=True)
class Ranking:
    """Impacts of every parameter but the POI, by decreasing post-fit impact (ties: larger
    pre-fit impact first, then by name)."""

    poi: str
    poi_bestfit: float
    impacts: tuple[Impact, ...]

    def top(self, n: int) -> tuple[Impact, ...]:
        return self.impacts[:n]

    def to_json(self) -> dict[str, Any]:
        return {"poi": self.poi, "poi_bestfit": encode_float(self.poi_bestfit),
                "impacts": [i.to_json() for i in self.impacts]}

    @classmethod
    def read(cls, r: Reader) -> Ranking:
        return cls(r.text("poi"), r.number("poi_bestfit"), tuple(Impact.read(i) for i in r.objects("impacts")))


def _sort_key(i: Impact) -> tuple[float, float, str]:
    return (-i.postfit, -i.prefit, i.name)


@dataclass(frozen=True)
class FitDiagnostics:
    """Everything :func:`fit_diagnostics` found (see the module docstring).

    ``poi_bounds`` are the POI bounds of the diagnostic fits, ``twice_nll`` the fit's
    -2 ln L, ``plots`` the written plots (kind -> path: ``pulls``, ``ranking``,
    ``correlation``), ``seconds`` the wall time per step (fit, yields, ranking, plots).
    """

    poi: str
    poi_bounds: tuple[float, float]
    expected_only: bool
    twice_nll: float
    yields: YieldTable
    parameters: tuple[ParameterResult, ...]
    correlation: Correlation
    ranking: Ranking
    plots: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def parameter(self, name: str) -> ParameterResult:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def nuisances(self) -> tuple[ParameterResult, ...]:
        """The constrained parameters (those with a pull)."""
        return tuple(p for p in self.parameters if p.constrained)

    def to_json(self) -> dict[str, Any]:
        """The document (strict JSON)::

            {"schema_version": 1, "poi": "mu", "poi_bounds": [lo, hi], "expected_only": bool,
             "twice_nll": x,
             "yields": [{"name": channel, "data": n, "total": entry, "samples": [entry...],
                         "bins": [{"index": i, "label": period, "data": n, "total": entry,
                                   "samples": [entry...]}...]}...],
             "parameters": [{"name", "modifier", "constrained", "nominal", "prefit_error",
                             "bestfit", "error", "pull", "constraint"}...],
             "ranking": {"poi", "poi_bestfit", "impacts": [{"name", "bestfit", "error",
                         "prefit_up", "prefit_down", "postfit_up", "postfit_down"}...]},
             "correlation": {"labels": [...], "matrix": [[...]...]},
             "plots": {"pulls": path, ...}, "seconds": {"fit": s, ...}}

        with ``entry`` = ``{"sample", "prefit", "prefit_error", "postfit", "postfit_error"}``.
        """
        return {"schema_version": DIAGNOSTICS_VERSION, "poi": self.poi,
                "poi_bounds": encode_floats(self.poi_bounds), "expected_only": self.expected_only,
                "twice_nll": encode_float(self.twice_nll), "yields": self.yields.to_json(),
                "parameters": [p.to_json() for p in self.parameters], "ranking": self.ranking.to_json(),
                "correlation": self.correlation.to_json(), "plots": dict(self.plots),
                "seconds": {k: encode_float(v) for k, v in self.seconds.items()}}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "fit diagnostics") -> FitDiagnostics:
        """The diagnostics :meth:`to_json` wrote; :class:`InputError` naming ``source`` and
        the key if malformed."""
        r, _ = open_document(data, source, "fit diagnostics", DIAGNOSTICS_VERSION)
        lo, hi = r.numbers("poi_bounds", null=math.inf).tolist()
        plots, seconds = r.obj("plots"), r.obj("seconds")
        return cls(poi=r.text("poi"), poi_bounds=(lo, hi), expected_only=r.flag("expected_only"),
                   twice_nll=r.number("twice_nll"),
                   yields=YieldTable(tuple(ChannelYields.read(c) for c in r.objects("yields"))),
                   parameters=tuple(ParameterResult.read(p) for p in r.objects("parameters")),
                   correlation=Correlation.read(r.obj("correlation")), ranking=Ranking.read(r.obj("ranking")),
                   plots={k: plots.text(k) for k in plots.keys()},
                   seconds={k: seconds.number(k) for k in seconds.keys()})


def _parameter_table(model: Any, fit: Any) -> tuple[ParameterResult, ...]:
    import cabinetry

    nominal = cabinetry.model_utils.asimov_parameters(model)
    width = cabinetry.model_utils.prefit_uncertainties(model)
    modifiers = dict(model.config.modifiers)
    out = []
    i = 0
    for par in model.config.par_order:
        pset = model.config.param_set(par)
        for _ in range(pset.n_parameters):
            out.append(ParameterResult(fit.labels[i], modifiers.get(par, "?"), bool(pset.constrained),
                                       float(nominal[i]), float(width[i]), float(fit.bestfit[i]),
                                       float(fit.uncertainty[i])))
            i += 1
    return tuple(out)


def diagnostic_poi_bounds(model: Any, poi_lower: float | None = None) -> list[tuple[float, float]]:
    """Parameter bounds of the diagnostic fits: the model's, with the POI's lower bound
    ``poi_lower`` or (None) ``-POI_LOWER_FRACTION * min b/s`` (module docstring)."""
    import cabinetry

    bounds = [tuple(map(float, b)) for b in model.config.suggested_bounds()]
    poi = model.config.poi_index
    if poi is None:
        raise ValueError("the workspace has no POI")
    if poi_lower is None:
        pars = np.asarray(cabinetry.model_utils.asimov_parameters(model), dtype=float)
        pars[poi] = 0.0
        background = np.asarray(model.expected_actualdata(pars), dtype=float)
        pars[poi] = 1.0
        signal = np.asarray(model.expected_actualdata(pars), dtype=float) - background
        with_signal = signal > 0
        ratio = float(np.min(background[with_signal] / signal[with_signal])) if with_signal.any() else 0.0
        poi_lower = min(bounds[poi][0], -POI_LOWER_FRACTION * ratio)
    lo, hi = float(poi_lower), bounds[poi][1]
    if not lo < hi:
        raise ValueError(f"POI lower bound {lo} is not below the upper bound {hi}")
    out: list[tuple[float, float]] = [(b[0], b[1]) for b in bounds]
    out[poi] = (lo, hi)
    return out


def _ranking(model: Any, data: Sequence[float], fit: Any, bounds: list[tuple[float, float]]) -> Ranking:
    import cabinetry

    result = cabinetry.fit.ranking(model, list(data), fit_results=fit, par_bounds=bounds,
                                   tolerance=FIT_TOLERANCE)
    impacts = [Impact(label, float(result.bestfit[i]), float(result.uncertainty[i]), float(result.prefit_up[i]),
                      float(result.prefit_down[i]), float(result.postfit_up[i]), float(result.postfit_down[i]))
               for i, label in enumerate(result.labels)]
    poi = model.config.poi_index
    return Ranking(model.config.poi_name, float(fit.bestfit[poi]), tuple(sorted(impacts, key=_sort_key)))


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def _plots(fit: Any, parameters: Sequence[ParameterResult], ranking: Ranking, plots_dir: Path,
           top: int) -> dict[str, str]:
    import matplotlib as mpl
    from cabinetry.visualize import correlation_matrix, plot_result, pulls

    plots_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}
    free = [p.name for p in parameters if not p.constrained]
    with mpl.rc_context():  # cabinetry's ranking plot switches the style: keep it to these plots
        if any(p.constrained and p.error > 0 for p in parameters):
            fig = pulls(fit, exclude=free, close_figure=False, save_figure=False)
            out["pulls"] = _save(fig, plots_dir / PULLS_PLOT)
        shown = ranking.top(top)
        if shown:
            arrays = {k: np.array([getattr(i, k) for i in shown])
                      for k in ("bestfit", "error", "prefit_up", "prefit_down", "postfit_up", "postfit_down")}
            labels = [i.name + (" (free)" if i.name in free else "") for i in shown]
            widest = max(max(i.prefit, i.postfit) for i in shown) or 1.0
            with _no_identical_limits():
                fig = plot_result.ranking(arrays["bestfit"], arrays["error"], labels, arrays["prefit_up"],
                                          arrays["prefit_down"], arrays["postfit_up"], arrays["postfit_down"])
            fig.axes[1].set_xlim(-1.1 * widest, 1.1 * widest)  # the impact axis (twiny of the pulls)
            out["ranking"] = _save(fig, plots_dir / RANKING_PLOT)
        if len(fit.labels) > 1:
            fig = correlation_matrix(fit, close_figure=False, save_figure=False)
            out["correlation"] = _save(fig, plots_dir / CORRELATION_PLOT)
    return out


@contextmanager
def _no_identical_limits() -> Iterator[None]:
    """matplotlib warns when cabinetry sets x limits (-0, 0) (all pre-fit impacts zero);
    the limits are replaced right after."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Attempting to set identical")
        yield


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def fit_diagnostics(
    spec: dict[str, Any],
    plots_dir: Path,
    *,
    periods: Sequence[str] | None = None,
    top: int = 10,
    poi_lower: float | None = None,
) -> FitDiagnostics:
    """Fit ``spec`` to its data; yields, pulls, impacts, correlations, and the three plots.

    ``periods``: the period names, in the order given to
    :func:`~workflows.stats.model.build_workspace` (they label the bins; without them the
    bins carry the sanitised keys of the ``background_<key>`` samples). ``top``: nuisances
    in the ranking plot (the :class:`Ranking` holds all). ``poi_lower``: the POI's lower
    bound in the diagnostic fits (None: relaxed below 0, see the module docstring).
    """
    import pyhf

    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    if poi_lower is None:
        try:
            return _fit_diagnostics(spec, plots_dir, periods, top, None)
        except pyhf.exceptions.FailedMinimization as err:
            # Below 0 the box expectation mu s + b can reach 0 when the background's
            # nuisances pull it down (a large extrapolation error): the likelihood is then
            # undefined. The physical bound always keeps it positive.
            log.info("diagnostic fits with the POI below 0 failed (%s): fitted again with mu >= 0", err)
    return _fit_diagnostics(spec, plots_dir, periods, top, 0.0 if poi_lower is None else poi_lower)


def _fit_diagnostics(spec: dict[str, Any], plots_dir: Path, periods: Sequence[str] | None, top: int,
                     poi_lower: float | None) -> FitDiagnostics:
    import cabinetry

    from workflows.stats.model import is_expected_only

    seconds: dict[str, float] = {}
    with quiet():
        t0 = time.perf_counter()
        model, data = cabinetry.model_utils.model_and_data(spec)
        bounds = diagnostic_poi_bounds(model, poi_lower)
        fit = cabinetry.fit.fit(model, data, par_bounds=bounds, tolerance=FIT_TOLERANCE)
        seconds["fit"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        yields = _yield_table(spec, model, data, fit, periods)
        parameters = _parameter_table(model, fit)
        seconds["yields"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        ranking = _ranking(model, data, fit, bounds)
        seconds["ranking"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        plots = _plots(fit, parameters, ranking, Path(plots_dir), top)
        seconds["plots"] = time.perf_counter() - t0

    corr = np.asarray(fit.corr_mat, dtype=float)
    poi = model.config.poi_index
    return FitDiagnostics(
        poi=model.config.poi_name, poi_bounds=bounds[poi], expected_only=is_expected_only(spec),
        twice_nll=float(fit.best_twice_nll), yields=yields, parameters=parameters,
        correlation=Correlation(tuple(fit.labels), tuple(tuple(map(float, row)) for row in corr)),
        ranking=ranking, plots=plots, seconds=seconds)
