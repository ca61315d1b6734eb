"""Rich tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from processors.cuts import Thresholds, describe_chain
from workflows.catalog import Period


def cutflow_table(period: Period, summary: dict) -> Table:
    """The nominal cutflow of a period, with each cut's condition and its efficiency."""
    blinded = summary.get("blinded", True)
    title = f"Cutflow {summary['period']} ({'blinded' if blinded else 'UNBLINDED'})"
    table = Table(title=title, title_justify="left")
    table.add_column("cut")
    table.add_column("condition")
    table.add_column("events", justify="right")
    table.add_column("eff. [%]", justify="right")
    conditions = dict(describe_chain(Thresholds(**summary["thresholds"]), period.beam.energy))
    previous = None
    for entry in summary["cutflow"]:
        n = entry["events"]
        eff = "" if previous in (None, 0) else f"{100.0 * n / previous:.2f}"
        table.add_row(entry["cut"], conditions.get(entry["cut"], "physics trigger, not calibration"),
                      f"{n:,}", eff)
        previous = n
    r = summary["regions"]
    table.caption = (f"sideband A: {r['A']:,}   sideband C: {r['C']:,}   signal box: "
                     + ("blinded" if r["box"] is None else f"{r['box']:,}"))
    return table


def runs_table(runs: Sequence) -> Table:
    """One row per period: what was done, events, chunks, failures, speed."""
    table = Table(title="Processing", title_justify="left")
    for col, justify in (("period", "left"), ("status", "left"), ("events", "right"),
                         ("chunks", "right"), ("failed\nchunks", "right"), ("failed\nfiles", "right"),
                         ("events/s", "right"), ("s", "right")):
        table.add_column(col, justify=justify)
    for r in runs:
        status = r.status if r.complete else f"[yellow]{r.status}\n(incomplete)[/]"
        rate = f"{r.rate:,.0f}" if r.events and r.status == "processed" else "-"
        table.add_row(r.period, status, f"{r.events:,}", str(r.chunks), str(r.failed_chunks),
                      str(r.failed_files), rate, f"{r.seconds:.1f}")
    return table


def datasets_table(rows: Sequence[dict]) -> Table:
    table = Table(title="Run periods", title_justify="left")
    for col, justify in (("period", "left"), ("beam", "left"), ("EOT", "right"),
                         ("files", "right"), ("events", "right"), ("catalog", "left")):
        table.add_column(col, justify=justify)
    for r in rows:
        table.add_row(r["name"], r["beam"], f"{r['eot']:.3g}", str(r["files"]),
                      f"{r['events']:,}" if r["events"] is not None else "?", r["catalog"])
    return table
