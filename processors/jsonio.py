"""Reading the project's JSON documents back: version, typed keys, non-finite numbers.

A typed result that crosses a module border writes a JSON document (``to_json``) with a
``schema_version`` and is rebuilt from it (``from_json``). :func:`open_document` refuses
a document without ``schema_version`` or of a newer version than the code knows;
:class:`Reader` reads its keys, each checked for its type, so that a malformed document
gives :class:`InputError` naming the source and the key (``periods[0].sidebands.C.fits``),
never a bare ``KeyError`` or ``TypeError``.

JSON has no inf or NaN. Numbers that may be non-finite (limits, arrays of limits) are
written by :func:`encode_float`: a finite number as it is, +inf as ``null`` (as in the
tables: a limit that does not exist), -inf and NaN as the strings ``"-inf"`` and
``"nan"``. :meth:`Reader.number` and :meth:`Reader.numbers` read these back, and also the
``NaN``/``Infinity`` literals that Python's :mod:`json` writes for a plain float.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from processors.errors import InputError

__all__ = ["Reader", "encode_float", "encode_floats", "open_document"]

_NONFINITE = {"nan": math.nan, "-inf": -math.inf, "inf": math.inf}


def encode_float(x: float) -> float | str | None:
    """``x`` as JSON: finite as it is, +inf as ``null``, -inf and NaN as ``"-inf"``, ``"nan"``."""
    x = float(x)
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return "nan"
    return None if x > 0 else "-inf"


def encode_floats(values: ArrayLike) -> list[Any]:
    """An array (any number of dimensions) as nested lists of :func:`encode_float` numbers."""
    a = np.asarray(values, dtype=float)
    if a.ndim == 0:
        raise ValueError("an array is expected, not a scalar")
    if a.ndim == 1:
        return [encode_float(x) for x in a.tolist()]
    return [encode_floats(row) for row in a]


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


class _Bad(Exception):
    """A value of the wrong type: where inside the value (``[2][0]``) and what was expected."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where, self.message = where, message


def _decode_float(value: object, null: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str | None) or (value is None and null is None):
        raise _Bad("", f"a number expected, got {_kind(value)}")
    if value is None:
        assert null is not None
        return null
    if isinstance(value, str):
        if value not in _NONFINITE:
            raise _Bad("", f"a number expected, got {_kind(value)}")
        return _NONFINITE[value]
    return float(value)


def _decode_nested(value: object, ndim: int, null: float | None) -> Any:
    if ndim == 0:
        return _decode_float(value, null)
    if not isinstance(value, list):
        raise _Bad("", f"an array expected, got {_kind(value)}")
    out = []
    for i, x in enumerate(value):
        try:
            out.append(_decode_nested(x, ndim - 1, null))
        except _Bad as bad:
            raise _Bad(f"[{i}]{bad.where}", bad.message) from None
    return out


class Reader:
    """One JSON object of a document being read; each accessor checks its key's type.

    Errors are :class:`InputError` ``"<source>: <key path>: <what is wrong>"``.
    """

    def __init__(self, data: object, source: str | Path, where: str = "") -> None:
        self.source, self.where = str(source), where
        if not isinstance(data, Mapping):
            raise self.error(None, f"a JSON object expected, got {_kind(data)}")
        self.data: Mapping[str, Any] = data

    def path(self, key: str | None) -> str:
        """The full path of ``key`` (or of this object) in the document."""
        if key is None:
            return self.where or "(top level)"
        return f"{self.where}.{key}" if self.where else key

    def error(self, key: str | None, message: str) -> InputError:
        """The error to raise about ``key`` (None: about this object)."""
        return InputError(f"{self.source}: {self.path(key)}: {message}")

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def keys(self) -> Iterator[str]:
        return iter(self.data)

    def value(self, key: str) -> Any:
        """The raw value of ``key``; missing: :class:`InputError`."""
        if key not in self.data:
            raise self.error(key, "missing")
        return self.data[key]

    def _typed(self, key: str, types: tuple[type, ...], expected: str, optional: bool) -> Any:
        value = self.value(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) != (bool in types) or not isinstance(value, types):
            raise self.error(key, f"{expected}{' or null' if optional else ''} expected, got {_kind(value)}")
        return value

    def text(self, key: str) -> str:
        value: str = self._typed(key, (str,), "a string", False)
        return value

    def flag(self, key: str) -> bool:
        value: bool = self._typed(key, (bool,), "a boolean", False)
        return value

    def integer(self, key: str) -> int:
        value: int = self._typed(key, (int,), "an integer", False)
        return value

    def optional_integer(self, key: str) -> int | None:
        value: int | None = self._typed(key, (int,), "an integer", True)
        return value

    def number(self, key: str, null: float | None = None) -> float:
        """A float, or a non-finite string of :func:`encode_float`; ``null`` reads as
        ``null`` if given (``math.inf`` for :func:`encode_float`), else is refused."""
        try:
            return _decode_float(self.value(key), null)
        except _Bad as bad:
            raise self.error(key, bad.message) from None

    def numbers(self, key: str, ndim: int = 1, null: float | None = math.inf) -> np.ndarray:
        """An ``ndim``-dimensional float array written by :func:`encode_floats` (``null``:
        +inf); ``null=None``: an array of plain numbers, null refused."""
        try:
            decoded = _decode_nested(self.value(key), ndim, null)
        except _Bad as bad:
            raise self.error(f"{key}{bad.where}", bad.message) from None
        try:
            a = np.array(decoded, dtype=float)
        except ValueError:
            raise self.error(key, f"not a {ndim}-dimensional array (rows of different lengths)") from None
        if a.ndim != ndim:
            if a.size:
                raise self.error(key, f"a {ndim}-dimensional array expected, got {a.ndim} dimensions")
            a = a.reshape(a.shape + (0,) * (ndim - a.ndim))
        return a

    def texts(self, key: str) -> list[str]:
        items = self._list(key)
        for i, x in enumerate(items):
            if not isinstance(x, str):
                raise self.error(f"{key}[{i}]", f"a string expected, got {_kind(x)}")
        return items

    def obj(self, key: str) -> Reader:
        """The object under ``key``."""
        return Reader(self.value(key), self.source, self.path(key))

    def objects(self, key: str) -> list[Reader]:
        """The array of objects under ``key``."""
        return [Reader(x, self.source, f"{self.path(key)}[{i}]") for i, x in enumerate(self._list(key))]

    def _list(self, key: str) -> list[Any]:
        value = self.value(key)
        if not isinstance(value, list):
            raise self.error(key, f"an array expected, got {_kind(value)}")
        return value


def open_document(data: object, source: str | Path, what: str, known: int) -> tuple[Reader, int]:
    """The document ``data`` (read from ``source``) as a :class:`Reader`, and its version.

    Refused (:class:`InputError` naming ``source``): not an object, no ``schema_version``,
    or one above ``known`` (written by a newer na64-invisible).
    """
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: not a {what} (a JSON object was expected, got {_kind(data)})")
    if "schema_version" not in data:
        raise InputError(f"{source}: no schema_version: not a {what} written by na64-invisible")
    version = data["schema_version"]
    if type(version) is not int or version < 1:
        raise InputError(f"{source}: schema_version {version!r} is not a version number")
    if version > known:
        raise InputError(f"{source}: written by a newer na64-invisible ({what} schema_version "
                         f"{version}; this version reads up to {known}): update it")
    return Reader(data, source), version
