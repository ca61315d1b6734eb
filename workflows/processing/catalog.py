"""Run-period catalogs: one YAML file per period in ``datasets/``.

A catalog names the period, its beam, its exposure (electrons on target) and its
files (paths or globs, relative to the catalog file or absolute); optionally the
threshold overrides of the selection (``cuts:``), the energy calibration and the
HCAL modules that enter E_HCAL. Everything is validated before any work starts
(every number finite, the name a plain directory name): a bad catalog raises
:class:`CatalogError` naming the file, the key and the problem.

A catalog directory may also hold **signal catalogs**: A' samples simulating the
conditions of one of its data periods (a top-level ``signal:`` key marks them)::

    name: "2022_m16p7MeV"
    files: [signal/2022_m16p7/*.root]
    signal: {mass: 0.0167, generated: 20000, period: "2022"}

``mass`` is the A' mass (GeV, > 0), ``generated`` the number of A' generated with
E_A' above the yield's threshold (a whole number > 0, required), ``period`` the data
period whose conditions the sample simulates. The sample inherits that period's beam,
eot, cuts, calibration, HCAL modules and reference_events; it may give its own
``calibration`` (a simulation calibrated differently), ``reference_events`` (its own
number of calibration triggers) and ``description``, and nothing else (beam, eot, cuts
and hcal_modules are the period's, so that the efficiency is that of the period's
selection). :func:`load_catalog` (data processing) skips signal catalogs;
:func:`load_signal_samples` loads them, resolved against the data periods.
"""

from __future__ import annotations

import glob
import logging
import re
import reprlib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator

from processors.cuts import Thresholds
from processors.errors import ConfigurationError
from workflows.processing import config_yaml

log = logging.getLogger(__name__)


class CatalogError(ConfigurationError):
    """A catalog (or any configuration file) that cannot be used, and why (exit code 2)."""


#: Period names: no '/', no '.' or '..', no hidden directory, not taken for an option.
_PERIOD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


class Beam(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    particle: Literal["e-", "e+"] = Field(description="beam particle")
    energy: float = Field(gt=0, description="nominal beam energy, GeV")
    intensity: float | None = Field(
        None, gt=0, description="mean beam intensity, particles per SPS spill (drives pile-up)"
    )


class Calibration(BaseModel):
    """Residual energy scales of the period: E = scale x (sum of calibrated cells)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    ecal_scale: float = Field(1.0, gt=0)
    hcal_scale: float = Field(1.0, gt=0)


class Period(BaseModel):
    """One run period, as its catalog file states it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: Also the period's directory under the output: one plain path component.
    name: str = Field(min_length=1, max_length=100)
    beam: Beam
    eot: float = Field(gt=0, description="electrons on target of the period")
    files: list[str] = Field(min_length=1)
    cuts: Thresholds = Field(default_factory=Thresholds)
    calibration: Calibration = Field(default_factory=Calibration)
    hcal_modules: tuple[int, ...] = Field((0, 1, 2, 3), min_length=1)
    reference_events: int = Field(
        20000, gt=0,
        description="calibration-trigger electrons used for the shower-shape reference",
    )
    description: str = ""
    #: Directory of the catalog file; relative ``files`` entries resolve against it.
    base_dir: Path = Field(Path("."), exclude=True)
    #: The catalog file itself, for messages.
    source: Path | None = Field(None, exclude=True)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not _PERIOD_NAME.fullmatch(v):
            raise ValueError("a period name is a directory of the output: letters, digits, '_', "
                             "'-' and '.', starting with a letter, a digit or '_'")
        return v

    @field_validator("hcal_modules")
    @classmethod
    def _modules_exist(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        bad = [m for m in v if not 0 <= m < 4]
        if bad:
            raise ValueError(f"HCAL modules are numbered 0-3, got {bad}")
        if len(set(v)) != len(v):
            raise ValueError(f"HCAL modules listed twice: {list(v)}")
        return tuple(sorted(v))

    def patterns(self) -> list[Path]:
        """The ``files`` entries as absolute paths or globs."""
        return [p if (p := Path(f).expanduser()).is_absolute() else self.base_dir / p
                for f in self.files]

    def resolve_files(self) -> list[Path]:
        """Files matching the catalog's entries, sorted and without repeats."""
        found: dict[str, Path] = {}
        for pattern in self.patterns():
            text = str(pattern)
            matches = glob.glob(text) if glob.has_magic(text) else [text] if pattern.exists() else []
            for m in sorted(matches):
                found.setdefault(str(Path(m).resolve()), Path(m).resolve())
        return [found[k] for k in sorted(found)]

    def missing_entries(self) -> list[str]:
        """Catalog ``files`` entries that match nothing on disk."""
        missing = []
        for entry, pattern in zip(self.files, self.patterns(), strict=True):
            text = str(pattern)
            if not (glob.glob(text) if glob.has_magic(text) else pattern.exists()):
                missing.append(entry)
        return missing


#: Keys of a data period that a signal sample inherits and may not give itself.
SIGNAL_INHERITED = ("beam", "eot", "cuts", "hcal_modules")


class SignalInfo(BaseModel):
    """The ``signal:`` mapping of a signal catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    mass: float = Field(gt=0, description="A' mass, GeV")
    generated: Annotated[int, Strict()] = Field(
        gt=0, description="A' generated with E_A' above the yield's threshold")
    period: str = Field(min_length=1, description="the data period whose conditions it simulates")


class SignalCatalog(BaseModel):
    """A signal catalog file as written: the sample's files and what it overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=100)
    files: list[str] = Field(min_length=1)
    signal: SignalInfo
    calibration: Calibration | None = None
    reference_events: int | None = Field(None, gt=0)
    description: str = ""

    _safe_name = field_validator("name")(Period._safe_name.__func__)


class SignalSample(BaseModel):
    """A signal sample resolved against its data period, ready to be processed.

    ``period`` is what is processed: the data period's beam, eot, cuts, calibration, HCAL
    modules and reference_events (with the sample's overrides), the sample's name and files.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    mass: float
    generated: int
    data_period: str
    period: Period
    source: Path

    @classmethod
    def resolve(cls, spec: SignalCatalog, data: Period, path: Path) -> SignalSample:
        """The sample of catalog ``spec`` (file ``path``) of the data period ``data``."""
        overrides = {k: getattr(spec, k) for k in ("calibration", "reference_events")
                     if getattr(spec, k) is not None}
        period = data.model_copy(update={
            "name": spec.name, "files": list(spec.files), "base_dir": path.parent.resolve(),
            "source": path, **overrides,
            "description": spec.description
            or f"A' signal sample, m = {spec.signal.mass:g} GeV, of period {data.name}",
        })
        return cls(name=spec.name, mass=spec.signal.mass, generated=spec.signal.generated,
                   data_period=data.name, period=period, source=path)


def _key_path(loc: Iterable[int | str]) -> str:
    return ".".join(str(p) for p in loc) or "<top level>"


#: Problems shown per file; the others are counted.
MAX_PROBLEMS = 20

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = 6
_SHORT.maxlevel = 2


def format_validation_error(path: Path, err: ValidationError) -> str:
    """One line per problem: ``FILE: key 'a.b': message (got value)``.

    Values are shortened (a file may hold a list of thousands of numbers where one is
    expected) and at most :data:`MAX_PROBLEMS` problems are listed.
    """
    lines = []
    errors = err.errors()
    for e in errors[:MAX_PROBLEMS]:
        key = _key_path(e["loc"])
        got = e.get("input")
        detail = e["msg"]
        if e["type"] == "extra_forbidden":
            detail = "unknown key"
        elif e["type"] == "missing":
            detail = "required key is missing"
        shown = ("" if e["type"] in ("missing",) or isinstance(got, dict)
                 else f" (got {_SHORT.repr(got)})")
        lines.append(f"{path}: key '{key}': {detail}{shown}")
    if len(errors) > MAX_PROBLEMS:
        lines.append(f"{path}: ... and {len(errors) - MAX_PROBLEMS} more problems")
    return "\n".join(lines)


def read_yaml(path: Path) -> tuple[dict, str]:
    """Read a YAML mapping and the text it was read from with the safe loader of
    :mod:`workflows.processing.config_yaml`, raising :class:`CatalogError` with the file named."""
    try:
        data, text = config_yaml.load(path)
    except ConfigurationError as e:
        raise CatalogError(str(e)) from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: must hold a YAML mapping of keys, got {type(data).__name__}")
    return data, text


def load_yaml(path: Path) -> dict:
    """Read a YAML mapping, raising :class:`CatalogError` with the file named."""
    return read_yaml(path)[0]


def _read_catalog(path: Path) -> dict:
    data = load_yaml(path)
    for key, where in (("name", data), ("period", data.get("signal"))):
        if isinstance(where, dict) and isinstance(where.get(key), int) and not isinstance(where[key], bool):
            where[key] = str(where[key])  # YAML reads `name: 2022` as an integer
    return data


def is_signal_catalog(data: dict) -> bool:
    """Whether a catalog's mapping describes a signal sample (it has a ``signal:`` key)."""
    return "signal" in data


M = TypeVar("M", bound=BaseModel)


def validate_file(model: type[M], path: Path, data: object) -> M:
    """``data`` read from ``path`` as ``model``; a :class:`CatalogError` naming the file and
    every wrong key otherwise (catalogs, variations and systematics files alike)."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise CatalogError(format_validation_error(path, e)) from None


def _period_from(path: Path, data: dict) -> Period:
    return validate_file(Period, path, {**data, "base_dir": path.parent.resolve(), "source": path})


def _signal_from(path: Path, data: dict) -> SignalCatalog:
    inherited = [k for k in SIGNAL_INHERITED if k in data]
    problems = [f"{path}: key '{k}': a signal sample inherits it from its data period "
                "(signal.period), it cannot be given here" for k in inherited]
    try:
        spec = SignalCatalog.model_validate({k: v for k, v in data.items() if k not in inherited})
    except ValidationError as e:
        problems.append(format_validation_error(path, e))
        spec = None
    if problems:
        raise CatalogError("\n".join(problems))
    return spec


def load_period(path: Path | str) -> Period:
    """Load and validate one data-period catalog file."""
    path = Path(path)
    data = _read_catalog(path)
    if is_signal_catalog(data):
        raise CatalogError(f"{path}: key 'signal': a signal-sample catalog, not a data period")
    return _period_from(path, data)


#: Stems of YAML files in a catalog directory that are not catalogs (variations.yaml,
#: systematics.yaml).
NOT_CATALOGS = ("variations", "systematics")


def catalog_files(catalog: Path | str) -> list[Path]:
    """The period catalogs in a directory (``*.yaml``/``*.yml``), or a single file."""
    catalog = Path(catalog)
    if catalog.is_file():
        return [catalog]
    if not catalog.is_dir():
        raise CatalogError(f"{catalog}: no such catalog directory or file")
    files = sorted([*catalog.glob("*.yaml"), *catalog.glob("*.yml")])
    # The default variations and fixed-systematics files live beside the catalogs but
    # are not periods.
    files = [f for f in files if not f.stem.startswith(NOT_CATALOGS)]
    if not files:
        raise CatalogError(f"{catalog}: holds no period catalogs (*.yaml)")
    return files


def _scan(catalog: Path | str, signal: bool) -> tuple[list[Period], list[tuple[Path, SignalCatalog]],
                                                      list[str]]:
    """Every data period (and, if ``signal``, every signal catalog) of a catalog, with the
    problems found; signal catalogs are only recognised, not validated, unless ``signal``."""
    errors: list[str] = []
    loaded: list[Period] = []
    samples: list[tuple[Path, SignalCatalog]] = []
    seen: dict[str, Path] = {}
    for path in catalog_files(catalog):
        try:
            data = _read_catalog(path)
            if is_signal_catalog(data):
                if not signal:
                    log.debug("%s: a signal-sample catalog, not a data period: skipped", path)
                    continue
                item: Period | SignalCatalog = _signal_from(path, data)
            else:
                item = _period_from(path, data)
        except CatalogError as e:
            errors.append(str(e))
            continue
        if item.name in seen:
            errors.append(
                f"{path}: key 'name': {'period' if isinstance(item, Period) else 'signal sample'} "
                f"'{item.name}' is already defined in {seen[item.name]}"
            )
            continue
        seen[item.name] = path
        if isinstance(item, Period):
            loaded.append(item)
        else:
            samples.append((path, item))
    return loaded, samples, errors


def load_catalog(
    catalog: Path | str,
    periods: Iterable[str] | None = None,
    require_files: bool = True,
) -> list[Period]:
    """Load every data period of a catalog directory, validated, in name order.

    Signal catalogs (a ``signal:`` key) are not data periods and are skipped. All
    problems of all files are collected and raised together, so that one run
    shows everything that must be fixed. ``periods`` selects by name (unknown names
    are an error); ``require_files`` refuses entries that match no file on disk.
    """
    loaded, _, errors = _scan(catalog, signal=False)
    seen = {p.name for p in loaded}
    if not loaded and not errors:
        errors.append(f"{catalog}: holds no data-period catalogs (only signal samples)")
    if periods is not None:
        wanted = list(dict.fromkeys(periods))
        unknown = [p for p in wanted if p not in seen]
        if unknown:
            errors.append(
                f"{catalog}: no period named {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(sorted(seen)) or 'none'})"
            )
        loaded = [p for p in loaded if p.name in wanted]
    if require_files:
        for period in loaded:
            for entry in period.missing_entries():
                errors.append(f"{period.source}: key 'files': '{entry}' matches no file")
    if errors:
        raise CatalogError("\n".join(errors))
    return sorted(loaded, key=lambda p: p.name)


def load_signal_samples(catalog: Path | str, require_files: bool = True) -> list[SignalSample]:
    """The signal samples of a catalog directory, each resolved against its data period
    (which need not have files on disk), ordered by period and mass.

    Every problem is collected and raised together (:class:`CatalogError`): a catalog that
    cannot be read, a ``signal.period`` that names no data period of the directory, two
    samples of the same period and mass, and (``require_files``) entries matching no file.
    An empty list when the directory holds no signal catalogs.
    """
    data, specs, errors = _scan(catalog, signal=True)
    by_name = {p.name: p for p in data}
    samples: list[SignalSample] = []
    taken: dict[tuple[str, float], Path] = {}
    for path, spec in specs:
        period = by_name.get(spec.signal.period)
        if period is None:
            errors.append(f"{path}: key 'signal.period': no data period named '{spec.signal.period}' "
                          f"in {catalog} (known: {', '.join(sorted(by_name)) or 'none'})")
            continue
        key = (period.name, spec.signal.mass)
        if key in taken:
            errors.append(f"{path}: key 'signal.mass': period {period.name} already has a sample at "
                          f"{spec.signal.mass:g} GeV in {taken[key]}")
            continue
        taken[key] = path
        sample = SignalSample.resolve(spec, period, path)
        if require_files:
            errors += [f"{path}: key 'files': '{entry}' matches no file"
                       for entry in sample.period.missing_entries()]
        samples.append(sample)
    if errors:
        raise CatalogError("\n".join(errors))
    return sorted(samples, key=lambda s: (s.data_period, s.mass))
