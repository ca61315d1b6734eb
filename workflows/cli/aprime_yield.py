"""``na64 yield``: the A' production cross-section and yield per electron on target."""

from __future__ import annotations

import json

import typer

from workflows.cli._common import fail


def yield_command(
    mass: float = typer.Option(..., "--mass", "-m", help="A' mass in GeV (e.g. 0.0167)."),
    energy: float = typer.Option(100.0, "--energy", "-e", help="Beam energy E0 in GeV."),
    threshold: float = typer.Option(None, "--threshold", "-t",
                                    help="Count A' with E_A' above this (GeV); default E0/2, the box edge."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON on the last line."),
) -> None:
    """Dark-bremsstrahlung e Z -> e Z A' on the lead of the active ECAL target, at epsilon = 1e-4
    (exact-tree-level: IWW with DMG4's K-factors): total cross-section in pb and A' per EOT
    with E_A' > threshold, folding the electron and positron track length in the shower."""
    from rich.console import Console
    from rich.table import Table

    from workflows.signal.aprime import yield_summary

    if mass <= 0 or energy <= 0 or (threshold is not None and not 0 < threshold < energy):
        raise fail("need mass > 0, energy > 0 and 0 < threshold < energy")
    result = yield_summary(mass, energy, threshold)
    table = Table(title="A' production (epsilon = 1e-4)", title_justify="left")
    for key in ("mass", "energy", "threshold", "sigma_pb", "yield_per_eot"):
        table.add_row(key, f"{result[key]:.6g}")
    Console().print(table)
    if json_output:
        print(json.dumps(result))
