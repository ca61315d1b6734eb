"""The public entry points: :func:`upper_limit` and :func:`cls_scan`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyhf

from .calculators import DEFAULT_BATCH_SIZE, DEFAULT_NTOYS, make_calculator
from .problem import choose_method, make_problem
from .result import LimitResult, Scan, _as_band, _scan

METHODS = ("auto", "asymptotic", "toys", "exact")
logger = logging.getLogger(__package__)  # the package's: records keep the name workflows.stats.limits


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
    root-finding tolerance of the exact method and of the asymptotic method's fallback
    search (its secant searches stop at the tolerances of :mod:`.asymptotic`).
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
