"""Reading JSON documents back: versions, typed keys, non-finite numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from processors.errors import InputError
from processors.jsonio import Reader, encode_float, encode_floats, open_document


def test_non_finite_numbers_are_written_as_strict_json_and_read_back():
    values = np.array([[1.5, math.inf, -math.inf], [math.nan, 0.0, -2.0]])
    encoded = encode_floats(values)
    assert encoded == [[1.5, None, "-inf"], ["nan", 0.0, -2.0]]
    doc = json.loads(json.dumps({"a": encoded, "x": encode_float(math.inf)}, allow_nan=False))
    r = Reader(doc, "f.json")
    assert np.array_equal(r.numbers("a", 2), values, equal_nan=True)
    assert r.number("x", null=math.inf) == math.inf


def test_plain_numbers_refuse_null_unless_told_what_it_means():
    r = Reader({"x": None, "y": [1.0, None], "z": float("nan")}, "f.json")
    with pytest.raises(InputError, match=r"^f\.json: x: a number expected, got null$"):
        r.number("x")
    assert math.isnan(r.number("x", null=math.nan))
    with pytest.raises(InputError, match=r"^f\.json: y\[1\]: a number expected, got null$"):
        r.numbers("y", null=None)
    assert math.isnan(r.number("z"))  # Python's NaN literal, as json.loads reads it


def test_empty_arrays_keep_their_dimensions():
    r = Reader({"a": [], "b": [[], []]}, "f.json")
    assert r.numbers("a", 2).shape == (0, 0)
    assert r.numbers("b", 2).shape == (2, 0)


@pytest.mark.parametrize(("doc", "message"), [
    ({"o": {"n": True}}, "o.n: an integer expected, got a boolean (true)"),
    ({"o": {"n": 1.0}}, "o.n: an integer expected, got a number (1.0)"),
    ({"o": {}}, "o.n: missing"),
    ({"o": []}, "o: a JSON object expected, got an array"),
])
def test_errors_name_the_source_and_the_key(doc, message):
    with pytest.raises(InputError) as err:
        Reader(doc, "d/f.json").obj("o").integer("n")
    assert str(err.value) == f"d/f.json: {message}"


def test_nested_objects_have_their_path():
    r = Reader({"items": [{"a": 1}, {"a": "x"}]}, "f.json")
    with pytest.raises(InputError, match=r"^f\.json: items\[1\]\.a: an integer expected, got a string \('x'\)$"):
        [item.integer("a") for item in r.objects("items")]


@pytest.mark.parametrize(("doc", "message"), [
    ([], "not a thing (a JSON object was expected, got an array)"),
    ({}, "no schema_version: not a thing written by na64-invisible"),
    ({"schema_version": True}, "schema_version True is not a version number"),
    ({"schema_version": 0}, "schema_version 0 is not a version number"),
    ({"schema_version": 3}, "written by a newer na64-invisible (thing schema_version 3; this version "
                            "reads up to 2): update it"),
])
def test_documents_without_a_known_version_are_refused(doc, message):
    with pytest.raises(InputError) as err:
        open_document(doc, "f.json", "thing", 2)
    assert str(err.value) == f"f.json: {message}"


def test_a_known_version_is_given_back():
    r, version = open_document({"schema_version": 2, "a": "b"}, "f.json", "thing", 2)
    assert version == 2 and r.text("a") == "b"
