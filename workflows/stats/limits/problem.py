"""The problem: a model, its data and fit configuration (POI measured near its limit's scale),
and the ``auto`` method rule with the reference scales of the limit."""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyhf

from .result import LimitError, NoPOIError

TEST_STATISTICS = ("qtilde", "q")
LOW_COUNT_THRESHOLD = 15.0
UNIT_PARAMETER = "_poi_unit"
logger = logging.getLogger(__package__)  # the package's: records keep the name workflows.stats.limits


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

