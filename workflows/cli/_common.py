"""What every command shares: the console, logging set-up, and the one place where
errors become exit codes.

Only typer and rich are imported here: ``na64 --help`` must start quickly.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from processors.errors import NA64Error

#: Standard output: tables and results.
console = Console()
#: Standard error: errors, warnings and the library's log records.
err_console = Console(stderr=True)

CATALOG_HELP = "Directory of run-period catalogs (one YAML per period), or one catalog file."

#: Exit codes (README, "Exit codes").
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print ``error: message`` on stderr; return the Exit to raise."""
    from rich.markup import escape

    # soft_wrap: a long message (a path, a key) stays on one line, greppable and copyable
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(command: F) -> F:
    """Run a command with the project's errors mapped to exit codes, without traceback.

    :class:`~processors.errors.NA64Error` (anything a user can cause) prints its
    message and exits with its ``exit_code``; Ctrl-C exits with 130. Every other
    exception is a programming error and propagates with its traceback.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NA64Error as err:
            raise fail(str(err), err.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("\n[yellow]interrupted[/]: finished chunks are checkpointed; "
                              "run the same command again to resume.")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


_LEVEL_STYLES = {"DEBUG": "dim", "INFO": "cyan", "WARNING": "yellow", "ERROR": "bold red",
                 "CRITICAL": "bold red"}
_PROJECT = ("processors", "workflows")


class ConsoleLogHandler(logging.Handler):
    """Log records on stderr through rich: the level in colour, the message as it is.

    Not rich's ``RichHandler``: that one lays records out as a table wrapped to the
    terminal's width, which breaks a message naming a long path over several lines
    (and ``grep`` on a log file). Records of other libraries (distributed logs its
    cluster's start at INFO) are shown from WARNING on, all of them with ``-vv``.
    """

    def __init__(self, console: Console, others_level: int = logging.WARNING) -> None:
        super().__init__()
        self.console = console
        self.others_level = others_level

    def filter(self, record: logging.LogRecord) -> bool:
        return (record.name.split(".", 1)[0] in _PROJECT or record.levelno >= self.others_level)

    def emit(self, record: logging.LogRecord) -> None:
        from rich.markup import escape

        try:
            message = self.format(record)
            style = _LEVEL_STYLES.get(record.levelname, "")
            self.console.print(f"[{style}]{record.levelname.lower()}:[/] {escape(message)}",
                               soft_wrap=True, highlight=False)
        except Exception:  # a broken stderr must not stop the run (logging's own rule)
            self.handleError(record)


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Route the library's log records (``processors.*``, ``workflows.*``) to stderr.

    Default level INFO for the project's loggers (what a run did: periods reprocessed
    and why, failures, resumes), WARNING for third-party ones; ``-v`` DEBUG for the
    project, ``-vv`` DEBUG for everything; ``--quiet`` warnings and errors only.
    """
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = ConsoleLogHandler(err_console, logging.DEBUG if verbose > 1 else logging.WARNING)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, ConsoleLogHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    if verbose > 1:
        root.setLevel(logging.DEBUG)
    for name in _PROJECT:
        logging.getLogger(name).setLevel(level)
