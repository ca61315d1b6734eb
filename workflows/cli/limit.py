"""``na64 limit``: CLs upper limit on the POI of any pyhf JSON workspace.

Register with ``app.command("limit")(limit_command)``. With ``--json`` the last
stdout line is ``{"observed": X, "expected": [m2, m1, median, p1, p2], "cl": CL,
"method": M}``. Exit codes: 0 success,
1 the limit cannot be computed (the reason is printed), 2 unusable input
(missing/invalid file, no POI, bad option value).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from workflows.cli._common import fail

_METHODS = ("auto", "asymptotic", "toys", "exact")


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(f"no such workspace file: {path}", 2) from None
    except (OSError, json.JSONDecodeError) as err:
        raise fail(f"cannot read {path} as JSON: {err}", 2) from None
    if not isinstance(spec, dict):
        raise fail(f"{path} is not a pyhf workspace (a JSON object)", 2)
    return spec


def _check_poi(spec: dict[str, Any]) -> None:
    """The first measurement (the one used; the limit notes when there are several) needs a POI."""
    measurements = spec.get("measurements") or []
    if not isinstance(measurements, list) or not measurements:
        raise fail("the workspace has no measurement, hence no POI: nothing to set a limit on", 2)
    first = measurements[0] if isinstance(measurements[0], dict) else {}
    config = first.get("config") if isinstance(first.get("config"), dict) else {}
    if not config.get("poi"):
        raise fail(f"measurement {first.get('name')!r} has no POI (config.poi)", 2)


def _connect(scheduler: str | None) -> Any:
    if scheduler is None:
        return None
    from distributed import Client

    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as err:
        raise fail(f"cannot connect to the Dask scheduler {scheduler}: {err}", 1) from None


def _table(result: Any, expected_only: bool) -> Any:
    from rich.table import Table

    table = Table(title=f"CLs upper limit on {result.poi} at {100 * result.cl:g}% CL",
                  show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    label = "observed (expected only: blinded box)" if expected_only else "observed"
    table.add_row(label, f"{result.observed:.4g}")
    for sigma, value in zip((-2, -1, 0, 1, 2), result.expected):
        table.add_row("expected median" if sigma == 0 else f"expected {sigma:+d} sigma",
                      f"{value:.4g}")
    method = result.method + (f" ({result.ntoys} toys, seed {result.seed})" if result.ntoys else "")
    table.add_row("method", method)
    table.caption = "; ".join([result.reason, *result.notes])
    return table


def limit_command(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="pyhf JSON workspace")],
    cl: Annotated[float, typer.Option("--cl", help="confidence level, e.g. 0.9")] = 0.9,
    method: Annotated[str, typer.Option(
        "--method", help="auto | asymptotic | toys | exact (auto: toys or exact at low counts)")
    ] = "auto",
    ntoys: Annotated[int, typer.Option("--ntoys", help="toys per hypothesis and POI point")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="seed of the toys")] = 0,
    json_output: Annotated[bool, typer.Option(
        "--json", help="last stdout line: {observed, expected, cl, method} as JSON")] = False,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask scheduler address (tcp://host:port) for the toys")] = None,
) -> None:
    """CLs upper limit (observed and expected band) on the POI of a pyhf workspace.

    The JSON ``method`` is the calculator actually used: asymptotic, toys, or exact
    (the exact toy distribution of a one-bin counting model, chosen by auto).
    """
    if method not in _METHODS:
        raise fail(f"--method must be one of {', '.join(_METHODS)}, not {method!r}", 2)
    if not 0.0 < cl < 1.0:
        raise fail(f"--cl must be between 0 and 1, got {cl}", 2)
    if ntoys < 10:
        raise fail(f"--ntoys must be at least 10, got {ntoys}", 2)
    spec = _read_spec(workspace)
    _check_poi(spec)

    import pyhf
    from rich.console import Console

    from workflows.stats.limits import LimitError, NoPOIError, upper_limit
    from workflows.stats.model import is_expected_only

    client = _connect(scheduler)
    try:
        result = upper_limit(spec, cl=cl, method=method, ntoys=ntoys, seed=seed, client=client)
    except NoPOIError as err:  # an input error
        raise fail(str(err), err.exit_code) from None
    except (pyhf.exceptions.InvalidSpecification, pyhf.exceptions.InvalidModel,
            pyhf.exceptions.InvalidMeasurement, ValueError) as err:
        raise fail(f"{workspace} is not a usable pyhf workspace: {err}", 2) from None
    except LimitError as err:
        raise fail(f"no limit: {err}", err.exit_code) from None
    finally:
        if client is not None:
            client.close()
    values = [result.observed, *result.expected]
    if not all(math.isfinite(v) for v in values):
        raise fail(f"no limit: non-finite result {values}", 1)
    Console(soft_wrap=True).print(_table(result, is_expected_only(spec)))
    if json_output:
        print(json.dumps(result.summary()), flush=True)
