"""The breakdown table when a source has no parameter at some mass (it moves nothing there)."""

from __future__ import annotations

from types import SimpleNamespace

from rich.console import Console

from workflows.cli.tables import breakdown_table
from workflows.stats.fit_breakdown import MassBreakdown, SystematicsBreakdown
from workflows.stats.limit_breakdown import BreakdownRow, LimitBreakdown


def _limits(*labels: str) -> LimitBreakdown:
    rows = tuple(BreakdownRow(label, (), 2.3 + 0.01 * i, 0.0 if i == 0 else -0.01 * i)
                 for i, label in enumerate(labels))
    return LimitBreakdown(cl=0.9, poi="mu", method="asymptotic", blind=True, rows=rows)


def test_a_source_missing_at_one_mass_is_a_dash():
    b = SystematicsBreakdown("merged", (MassBreakdown(0.002, 100.0, _limits("all", "stats only", "veto")),
                                        MassBreakdown(0.02, 50.0, _limits("all", "stats only"))))
    table = breakdown_table(SimpleNamespace(breakdown=b))
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    line = next(x for x in text.splitlines() if "without veto" in x)
    assert line.rstrip(" │").endswith("-")
