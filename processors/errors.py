"""The project's one error hierarchy.

Everything a user can cause (a bad catalog, an unreadable file, a period that cannot
be processed, a fit that cannot be done) raises a subclass of :class:`NA64Error` with a
message that names the file, period or key. The command line maps each class to an
exit code in one place (``workflows.cli``) and prints the message without a traceback;
any other exception is a programming error and is shown with its traceback.

It lives in ``processors`` (the lowest layer) so that every layer can raise it.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "InputError",
    "NA64Error",
    "OutputError",
    "ProcessingError",
    "StatisticsError",
]


class NA64Error(Exception):
    """Base of every error a user can cause; ``exit_code`` is the command's exit status."""

    exit_code: int = 1


class ConfigurationError(NA64Error, ValueError):
    """A catalog, variations or systematics file, or an option, that cannot be used."""

    exit_code = 2


class InputError(NA64Error):
    """Input data that cannot be used: a file, a workspace, a results directory."""

    exit_code = 2


class ProcessingError(NA64Error):
    """A period cannot be processed (too few reference electrons, no readable chunk...)."""

    exit_code = 1


class OutputError(NA64Error, OSError):
    """An output cannot be written (no space, no permission)."""

    exit_code = 1


class StatisticsError(NA64Error):
    """A background estimate, fit or limit cannot be computed from these inputs."""

    exit_code = 1
