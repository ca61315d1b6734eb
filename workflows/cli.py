"""The ``na64`` command line. Thin: every command calls library functions."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Missing-energy search for light dark matter at fixed-target experiments (NA64 style).",
    no_args_is_help=True,
    add_completion=False,
)
