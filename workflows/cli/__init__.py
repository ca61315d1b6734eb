"""The ``na64`` command line: one module per command, each thin (parse, call the library
functions that tests call too, print).

Errors become exit codes in one place (:func:`workflows.cli._common.handle_errors`):
0 success, 1 something failed (a period, a limit), 2 unusable input or configuration,
130 interrupted. Module-level imports stay light (typer, rich); the scientific stack is
imported inside the commands, so that ``na64 --help`` and ``na64 simulate`` start quickly.
"""

from __future__ import annotations

import typer

from workflows.cli._common import handle_errors, setup_logging

app = typer.Typer(
    help=(
        "Missing-energy search for light dark matter at fixed-target experiments (NA64 style).\n\n"
        "Typical session: `na64 simulate` writes run periods, `na64 datasets` lists them, "
        "`na64 process` applies the selection on a Dask cluster, `na64 fit` estimates the "
        "background and sets limits. `na64 demo` runs the whole chain on built-in data."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True,
                                help="More log messages (-v debug, -vv also the libraries')."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
) -> None:
    setup_logging(verbose, quiet)


def _register_commands() -> None:
    from workflows.cli.aprime_yield import yield_command
    from workflows.cli.datasets import datasets_command
    from workflows.cli.demo import demo_command
    from workflows.cli.fit import fit_command
    from workflows.cli.limit import limit_command
    from workflows.cli.process import process_command
    from workflows.cli.project import project_command
    from workflows.cli.reproduce import reproduce_command
    from workflows.cli.signal import signal_command
    from workflows.cli.simulate import simulate_command

    for name, command in (("datasets", datasets_command), ("simulate", simulate_command),
                          ("process", process_command), ("signal", signal_command),
                          ("fit", fit_command), ("limit", limit_command),
                          ("yield", yield_command), ("reproduce", reproduce_command),
                          ("project", project_command),
                          ("demo", demo_command)):
        app.command(name)(handle_errors(command))


_register_commands()


def main() -> None:
    """Console entry point: run the command, then leave without Python's module teardown.

    With the scientific stack loaded (~2500 modules), interpreter finalisation takes
    ~0.7 s after the last line is printed; the exit handlers (cluster, fork server) still
    run, output is flushed, and the exit code is kept. An exception that reaches here is
    a programming error: its traceback is shown and the exit code is 1.
    """
    import atexit
    import os
    import sys
    import traceback

    code = 0
    try:
        app()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
