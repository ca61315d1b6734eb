"""Systematic variations from a YAML file, evaluated in the same pass as the nominal.

Two kinds of entries, each giving ``NAME_up`` and/or ``NAME_down``:

``energy_scale``
    relative shifts of the ECAL and/or HCAL energy scale (``ecal: 0.01`` is +-1 %),
    for all periods or only the listed ones;
``cut``
    another value of any numeric threshold of the chain or of the regions
    (``threshold: chi2_max``, ``up: 27.9``, ``down: 16.9``), absolute values, or around
    each period's nominal value an additive ``delta`` (nominal -+ delta) or a ``factor``
    (nominal / factor, nominal x factor): both ways, or one way only with ``side: up`` (or
    ``down``), so that a period of another beam energy (another box edge, another SRD
    window) varies around its own nominal.

``up`` is the higher value and ``down`` the lower, on either side of the nominal, as a
physicist quotes a systematic band: an energy-scale shift gives 1 - s < 1 < 1 + s and a
``delta`` nominal -+ delta by construction; absolute ``down``/``up`` must satisfy
down < up and, for every period the variation applies to, down <= nominal <= up (one end
may equal a period's nominal: that period then varies one way only). A threshold that
counts (``straw_tracks``) takes whole numbers only.

A variation that does not apply to a period (``periods:`` does not list it) is
evaluated there as the nominal, so every period carries the same variation names.

Every entry is one nuisance parameter of the fit, correlated across periods unless it
says ``correlated: false`` (then one parameter per period).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from processors.cuts import Thresholds
from processors.variations import NOMINAL, Variation, nominal
from workflows.processing.catalog import CatalogError, Period, read_yaml, validate_file

#: Thresholds a cut variation may change (numbers only; the central cell is geometry).
VARIABLE_THRESHOLDS = tuple(
    name for name, f in Thresholds.model_fields.items() if name != "ecal_central_cell"
)
#: Thresholds that count something: their variations take whole numbers.
INTEGER_THRESHOLDS = tuple(
    name for name in VARIABLE_THRESHOLDS if Thresholds.model_fields[name].annotation is int
)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    periods: list[str] | None = Field(None, description="only these periods (default: all)")
    correlated: bool = Field(True, description="one nuisance parameter for all periods (false: one per period)")
    description: str = ""

    def applies_to(self, period: str) -> bool:
        return self.periods is None or period in self.periods


class EnergyScale(_Entry):
    kind: Literal["energy_scale"]
    ecal: float = Field(0.0, ge=0, lt=1, description="relative ECAL scale shift, e.g. 0.01")
    hcal: float = Field(0.0, ge=0, lt=1, description="relative HCAL scale shift")

    @model_validator(mode="after")
    def _something(self) -> EnergyScale:
        if self.ecal == 0 and self.hcal == 0:
            raise ValueError("an energy_scale variation needs a non-zero 'ecal' or 'hcal' shift")
        return self

    def shifted(self, base: Thresholds, direction: int) -> Variation:
        return Variation("", base, 1.0 + direction * self.ecal, 1.0 + direction * self.hcal)


class CutShift(_Entry):
    kind: Literal["cut"]
    threshold: str
    up: float | None = None
    down: float | None = None
    delta: float | None = Field(None, gt=0)
    factor: float | None = Field(None, gt=1, description="nominal / factor and nominal x factor")
    side: Literal["both", "up", "down"] = Field(
        "both", description="with 'delta' or 'factor': both ways or only up or down")

    @field_validator("threshold")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in VARIABLE_THRESHOLDS:
            raise ValueError(f"unknown threshold '{v}' (one of: {', '.join(VARIABLE_THRESHOLDS)})")
        return v

    @field_validator("up", "down", "delta")
    @classmethod
    def _whole_for_counts(cls, v: float | None, info: ValidationInfo) -> float | None:
        threshold = info.data.get("threshold")
        if v is not None and threshold in INTEGER_THRESHOLDS and not float(v).is_integer():
            raise ValueError(f"{threshold} takes whole numbers")
        return v

    @field_validator("down")
    @classmethod
    def _below_up(cls, v: float | None, info: ValidationInfo) -> float | None:
        up = info.data.get("up")
        if v is not None and up is not None and not v < up:
            raise ValueError(f"must be below 'up' ({up})")
        return v

    @model_validator(mode="after")
    def _values(self) -> CutShift:
        given = [k for k in ("delta", "factor") if getattr(self, k) is not None]
        if self.up is not None or self.down is not None:
            given.append("up/down")
        if len(given) > 1:
            raise ValueError(f"give one of 'delta', 'factor' or 'up'/'down', not {' and '.join(given)}")
        if not given:
            raise ValueError("a cut variation needs 'up', 'down', 'delta' or 'factor'")
        if self.side != "both" and self.delta is None and self.factor is None:
            raise ValueError("'side' goes with 'delta' or 'factor' (absolute 'up'/'down' say "
                             "their side already)")
        if self.factor is not None and self.threshold in INTEGER_THRESHOLDS:
            raise ValueError(f"{self.threshold} takes whole numbers: use 'delta' or 'up'/'down'")
        return self

    def nominal_of(self, base: Thresholds) -> float:
        """The threshold's value in ``base`` (a sideband edge left unset is the box edge)."""
        if self.threshold == "sideband_c_ecal_min":
            return base.c_ecal_min
        if self.threshold == "sideband_a_hcal_min":
            return base.a_hcal_min
        return getattr(base, self.threshold)

    def wrong_side(self, base: Thresholds) -> list[tuple[str, str]]:
        """(key, problem) for absolute ``down``/``up`` values on the wrong side of the nominal."""
        centre = self.nominal_of(base)
        nominal_text = f"the nominal {self.threshold} ({centre:g})"
        out = []
        if self.down is not None and self.down > centre:
            out.append(("down", f"{self.down:g} is above {nominal_text}"))
        if self.up is not None and self.up < centre:
            out.append(("up", f"{self.up:g} is below {nominal_text}"))
        return out

    def value(self, base: Thresholds, direction: int) -> float | None:
        if self.delta is not None or self.factor is not None:
            if self.side != "both" and self.side != ("up" if direction > 0 else "down"):
                return None
            if self.factor is not None:
                return self.nominal_of(base) * self.factor ** direction
            return self.nominal_of(base) + direction * self.delta
        return self.up if direction > 0 else self.down

    def shifted(self, base: Thresholds, direction: int) -> Variation | None:
        v = self.value(base, direction)
        if v is None:
            return None
        data = base.model_dump()
        data[self.threshold] = int(v) if self.threshold == "straw_tracks" else v
        return Variation("", Thresholds(**data))


Entry = Annotated[EnergyScale | CutShift, Field(discriminator="kind")]


class VariationsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    variations: dict[str, Entry] = Field(min_length=1)

    @field_validator("variations")
    @classmethod
    def _names(cls, v: dict) -> dict:
        for name in v:
            if name == NOMINAL or not name.replace("_", "").isalnum():
                raise ValueError(f"'{name}' is not a usable variation name (letters, digits, _)")
        return v


class VariationSet:
    """A validated variations file, expanded per period."""

    def __init__(self, path: Path, spec: VariationsFile, text: str):
        self.path = path
        self.spec = spec
        self._sha = hashlib.sha256(text.encode()).hexdigest()

    def names(self) -> list[str]:
        out = []
        for name, entry in self.spec.variations.items():
            for direction, suffix in ((1, "up"), (-1, "down")):
                if entry.shifted(Thresholds(), direction) is not None:
                    out.append(f"{name}_{suffix}")
        return out

    def for_period(self, period: Period) -> list[Variation]:
        """Nominal first, then every ``NAME_up``/``NAME_down`` (nominal where not applicable)."""
        base = period.cuts
        out = [nominal(base)]
        for name, entry in self.spec.variations.items():
            for direction, suffix in ((1, "up"), (-1, "down")):
                shifted = entry.shifted(base, direction)
                if shifted is None:
                    continue
                if not entry.applies_to(period.name):
                    shifted = Variation("", base)
                out.append(Variation(f"{name}_{suffix}", shifted.thresholds, shifted.ecal_factor,
                                     shifted.hcal_factor, entry.correlated))
        return out

    def provenance(self) -> dict:
        return {"path": str(self.path), "sha256": self._sha,
                "variations": self.spec.model_dump(mode="json")["variations"]}


def load_variations(path: Path | str, periods: Sequence[Period] | Sequence[str] = ()) -> VariationSet:
    """Read and validate a variations file; every problem names the file and the key."""
    path = Path(path)
    data, text = read_yaml(path)
    spec = validate_file(VariationsFile, path, data)
    vset = VariationSet(path, spec, text)
    problems = []
    names = [p if isinstance(p, str) else p.name for p in periods]
    for name, entry in spec.variations.items():
        for p in entry.periods or []:
            if names and p not in names:
                problems.append(f"{path}: key 'variations.{name}.periods': no period named '{p}'"
                                f" in the catalog (known: {', '.join(names)})")
    # Absolute down/up values on either side of the nominal of each period they apply to
    # (the defaults stand for the periods when only their names are known); one line per
    # problem, listing the periods that share it.
    wrong_side: dict[str, list[str]] = {}
    for period in [p for p in periods if not isinstance(p, str)] or [None]:
        base = period.cuts if period is not None else Thresholds()
        for name, entry in spec.variations.items():
            applies = entry.applies_to(period.name) if period is not None else entry.periods is None
            if isinstance(entry, CutShift) and applies:
                for key, problem in entry.wrong_side(base):
                    where = f"{path}: key 'variations.{name}.{entry.kind}.{key}': {problem}"
                    wrong_side.setdefault(where, []).append(period.name if period else "")
    for where, names_ in wrong_side.items():
        of = ("the default thresholds" if names_ == [""] else
              f"period{'s' if len(names_) > 1 else ''} {', '.join(names_)}")
        problems.append(f"{where} of {of} (down <= nominal <= up)")
    # Every shifted threshold set must be a valid one for every period's nominal cuts.
    for period in [p for p in periods if not isinstance(p, str)] or [None]:
        base = period.cuts if period is not None else Thresholds()
        for name, entry in spec.variations.items():
            for direction, suffix in ((1, "up"), (-1, "down")):
                try:
                    entry.shifted(base, direction)
                except ValidationError as e:
                    detail = "; ".join(err["msg"] for err in e.errors())
                    where = f" for period {period.name}" if period is not None else ""
                    problems.append(f"{path}: key 'variations.{name}': {suffix} value is not a valid"
                                    f" threshold{where}: {detail}")
    if problems:
        raise CatalogError("\n".join(dict.fromkeys(problems)))
    return vset
