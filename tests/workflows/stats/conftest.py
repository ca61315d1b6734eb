"""Fixtures shared by the statistics tests."""

from __future__ import annotations

import pytest
import typer

from workflows.cli.limit import limit_command


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    """A command line with only ``limit``, as ``na64 limit`` registers it."""
    app = typer.Typer()
    app.command("limit")(limit_command)

    @app.callback()
    def main() -> None:  # keeps "limit" as a sub-command
        """test app"""

    return app
