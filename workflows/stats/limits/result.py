"""Results of the limit calculators: errors, the CLs scan, the upper limit, the band's layout."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from scipy import stats

from processors.errors import InputError, StatisticsError
from processors.jsonio import Reader, encode_float, encode_floats

BAND_SIGMAS = (-2, -1, 0, 1, 2)
_Band = tuple[float, float, float, float, float]  # one value per BAND_SIGMAS
_PERCENTILES = 100.0 * stats.norm.cdf(BAND_SIGMAS)


class LimitError(StatisticsError):
    """An upper limit that cannot be computed; the message says why (exit code 1)."""


class NoPOIError(InputError, LimitError):
    """The workspace or model defines no usable parameter of interest (exit code 2)."""


@dataclass(frozen=True)
class Scan:
    """CLs values where they were evaluated: ``cls_expected[k]`` is the band ``BAND_SIGMAS[k]``."""

    mu: tuple[float, ...]
    cls_observed: tuple[float, ...]
    cls_expected: tuple[tuple[float, ...], ...]

    def to_json(self) -> dict[str, Any]:
        """The three arrays, non-finite numbers encoded (:mod:`processors.jsonio`)."""
        return {"mu": encode_floats(self.mu), "cls_observed": encode_floats(self.cls_observed),
                "cls_expected": encode_floats(self.cls_expected)}

    @classmethod
    def read(cls, r: Reader) -> Scan:
        """The scan in the object ``r`` reads; the arrays must match ``mu``."""
        mu, observed, expected = r.numbers("mu"), r.numbers("cls_observed"), r.numbers("cls_expected", 2)
        if observed.shape != mu.shape:
            raise r.error("cls_observed", f"{observed.size} values for {mu.size} POI values")
        if expected.shape != (len(BAND_SIGMAS), mu.size):
            raise r.error("cls_expected", f"shape {expected.shape}, expected "
                          f"({len(BAND_SIGMAS)}, {mu.size}): one row per band, one column per POI value")
        return cls(tuple(mu.tolist()), tuple(observed.tolist()), tuple(tuple(row) for row in expected.tolist()))


@dataclass(frozen=True)
class LimitResult:
    """An upper limit on the POI at confidence level ``cl``.

    ``expected`` is the band at (-2, -1, 0, +1, +2) sigma, in that order (None when
    not requested). ``method`` is the calculator used: asymptotic, toys or exact.
    """

    observed: float
    expected: tuple[float, float, float, float, float] | None
    cl: float
    method: str
    poi: str
    scan: Scan
    test_stat: str = "qtilde"
    ntoys: int | None = None
    seed: int | None = None
    reason: str = ""
    notes: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The machine-readable core: observed, expected, cl, method."""
        expected = list(self.expected) if self.expected is not None else None
        return {"observed": self.observed, "expected": expected, "cl": self.cl,
                "method": self.method}

    def to_json(self) -> dict[str, Any]:
        """Every field, non-finite numbers encoded (:mod:`processors.jsonio`); a part of
        the documents that hold a limit (``limits.json``), versioned by them."""
        return {"observed": encode_float(self.observed),
                "expected": None if self.expected is None else encode_floats(self.expected),
                "cl": self.cl, "method": self.method, "poi": self.poi, "test_stat": self.test_stat,
                "ntoys": self.ntoys, "seed": self.seed, "reason": self.reason, "notes": list(self.notes),
                "scan": self.scan.to_json()}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "limit") -> LimitResult:
        """The limit :meth:`to_json` wrote; :class:`InputError` naming ``source`` and the key
        if it is malformed."""
        return cls.read(Reader(data, source))

    @classmethod
    def read(cls, r: Reader, observed: str = "observed") -> LimitResult:
        """The limit in the object ``r`` reads, its observed value under the key ``observed``;
        ``expected`` null or empty: not computed."""
        expected = None
        if r.value("expected") not in (None, []):
            band = r.numbers("expected")
            if band.shape != (len(BAND_SIGMAS),):
                raise r.error("expected", f"{len(BAND_SIGMAS)} numbers (the band at {BAND_SIGMAS} sigma) "
                              f"expected, got {band.size}")
            expected = _as_band(band.tolist())
        return cls(observed=r.number(observed, null=math.inf), expected=expected, cl=r.number("cl"),
                   method=r.text("method"), poi=r.text("poi"), scan=Scan.read(r.obj("scan")),
                   test_stat=r.text("test_stat"), ntoys=r.optional_integer("ntoys"),
                   seed=r.optional_integer("seed"), reason=r.text("reason"), notes=tuple(r.texts("notes")))


def _scan(mus: Sequence[float] | np.ndarray, table: np.ndarray) -> Scan:
    return Scan(tuple(map(float, mus)), tuple(map(float, table[:, 0])),
                tuple(tuple(map(float, table[:, k])) for k in range(1, 6)))


def _curves(expected: bool) -> list[int]:
    return [0, 1, 2, 3, 4, 5] if expected else [0]


def _as_band(values: Iterable[float]) -> _Band:
    """``tuple(values)``, typed as the band: ``values`` are one per ``BAND_SIGMAS`` (five)."""
    return cast(_Band, tuple(values))
