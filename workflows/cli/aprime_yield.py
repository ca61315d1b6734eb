"""``na64 yield``: the A' production cross-section and yield per particle on target."""

from __future__ import annotations

import json
from typing import cast

import typer

from workflows.cli._common import fail

PARTICLES = ("e-", "e+")


def yield_command(
    mass: float = typer.Option(..., "--mass", "-m", help="A' mass in GeV (e.g. 0.0167)."),
    energy: float = typer.Option(100.0, "--energy", "-e", help="Beam energy E0 in GeV."),
    threshold: float = typer.Option(None, "--threshold", "-t",
                                    help="Count A' with E_A' above this (GeV); default E0/2, the box edge."),
    particle: str = typer.Option("e-", "--particle", "-p", help="Beam particle: e- or e+."),
    json_output: bool = typer.Option(False, "--json", help="Print only the result, as one JSON object."),
) -> None:
    """A' per particle on target at epsilon = 1e-4 with E_A' > threshold, on the Pb/Sc active
    ECAL target: dark bremsstrahlung e Z -> e Z A' on lead (exact tree level: IWW with DMG4's
    K-factors; total cross-section in pb), folding the electron and positron track length of
    the shower, plus resonant annihilation e+ e- -> A' of the shower's positrons (and of the
    beam positron with --particle e+) on the atomic electrons, and their sum."""
    from rich.console import Console
    from rich.table import Table

    from workflows.signal.aprime import Particle, yield_summary

    if particle not in PARTICLES:
        raise fail(f"--particle {particle!r}: the beam particle must be e- or e+")
    if mass <= 0 or energy <= 0 or (threshold is not None and not 0 < threshold < energy):
        raise fail("need mass > 0, energy > 0 and 0 < threshold < energy")
    result = yield_summary(mass, energy, threshold, cast(Particle, particle))
    if json_output:
        print(json.dumps(result))
        return
    table = Table(title=f"A' production, {energy:g} GeV {particle} beam (epsilon = 1e-4)",
                  title_justify="left")
    for key in ("mass", "energy", "threshold", "sigma_pb", "bremsstrahlung_per_eot",
                "annihilation_per_eot", "yield_per_eot"):
        table.add_row(key, f"{result[key]:.6g}")
    Console().print(table)
