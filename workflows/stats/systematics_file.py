"""The fixed uncertainties of the fit: ``datasets/systematics.yaml``.

(In a subdirectory: every ``*.yaml`` directly in ``datasets/`` is read as a period
catalog by ``na64 process --catalog datasets``, except the variations file.)

Each entry (the key is the nuisance name) is a relative uncertainty ``value`` on the
``signal`` or the (box) ``background`` sample of every period, log-normal (normsys
``hi = 1 + value``, ``lo = 1 / (1 + value)``), one parameter named after the key when
``correlated`` (the default), else one per period, ``<key>_<period>``. A value of 0 adds no
modifier (it documents that the seeds give no error, e.g. on the EOT count). Every
entry names its ``source``: a seed file and passage, or ``estimate: <reasoning>``.

Errors (:class:`workflows.processing.catalog.CatalogError`, exit code 2) name the file
and the key.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workflows.processing.catalog import read_yaml, validate_file

log = logging.getLogger(__name__)

#: The file ``na64 fit`` reads unless told otherwise.
DEFAULT_SYSTEMATICS = Path(__file__).resolve().parents[2] / "datasets" / "systematics.yaml"

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class FixedSystematic(BaseModel):
    """One fixed relative uncertainty (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    value: float = Field(ge=0, lt=10)
    sample: Literal["signal", "background"]
    correlated: bool = True
    source: str = Field(min_length=1)

    @field_validator("source")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name the source: a seed file and passage, or 'estimate: <reasoning>'")
        return v.strip()

    def parameter(self, key: str, period: str) -> str:
        """The nuisance name of this entry in ``period``."""
        return key if self.correlated else f"{key}_{period}"


class SystematicsFile(BaseModel):
    """The whole file: ``systematics: {key: FixedSystematic}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    systematics: dict[str, FixedSystematic]

    @field_validator("systematics")
    @classmethod
    def _keys(cls, v: dict[str, FixedSystematic]) -> dict[str, FixedSystematic]:
        for key in v:
            if not _KEY.match(key):
                raise ValueError(f"'{key}' is not a usable nuisance name (a letter, then letters, digits, _)")
        return v

    def active(self) -> dict[str, FixedSystematic]:
        """The entries that add a modifier (value > 0)."""
        return {k: s for k, s in self.systematics.items() if s.value > 0}


def load_systematics(path: Path | str) -> SystematicsFile:
    """Read and validate a systematics file; every problem names the file and the key."""
    path = Path(path)
    data, _ = read_yaml(path)
    spec = validate_file(SystematicsFile, path, data)
    for key, s in spec.systematics.items():
        if s.value == 0:
            log.info("%s: %s is 0 (as its source says): no modifier", path, key)
    return spec
