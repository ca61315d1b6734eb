"""A YAML reader for configuration files (catalogs, variations) that a hostile file cannot abuse.

It builds only plain data, like ``yaml.safe_load`` (PyYAML's safe constructor; libyaml's
parser where available, PyYAML's composer so that it can be limited), and refuses, with
a short message that names the file and, where there is one, the line or the key:

* anything but a regular file (a FIFO or device would be read forever), and files larger
  than :data:`MAX_BYTES`;
* bytes that are not UTF-8;
* nesting deeper than :data:`MAX_DEPTH` levels (the composer recurses: 20 000 levels were
  a ``RecursionError``);
* documents holding more than :data:`MAX_VALUES` values once aliases are expanded (the
  "billion laughs": a few hundred bytes of nested anchors expand to 10**8 values), and
  aliases to a collection that contains them;
* a key given twice in one mapping, at any level (YAML keeps the last one silently);
  keys merged in with ``<<:`` may be overridden, as YAML intends;
* scalars Python cannot convert (an integer of thousands of digits, a date ``2022-13-45``).

Aliases and merge keys of ordinary size keep working. Errors are
:class:`processors.errors.ConfigurationError`.
"""

from __future__ import annotations

import io
import logging
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from processors.errors import ConfigurationError

try:  # libyaml's parser: 20x faster than the Python one on a 1 MiB file
    from yaml.cyaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _Parser = None

log = logging.getLogger(__name__)

#: Largest configuration file read, bytes (the shipped ones are below 2 KiB).
MAX_BYTES = 1 << 20
#: Deepest nesting of collections and values (the shipped files use 4).
MAX_DEPTH = 64
#: Most values (scalars, lists, mappings, keys) in a document with its aliases expanded.
MAX_VALUES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """A problem found while loading, with the line it is on (1-based) if known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def _line(node_or_mark: Any) -> int:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return mark.line + 1


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Checks:
    """Limits while composing (depth, number of values) and checked scalar construction.

    Mixed into a loader before its Composer: the composition is PyYAML's Python one
    (it can be limited), the parser libyaml's where available.
    """

    _depth: int = 0
    _values: int = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self._depth >= MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", _line(self.peek_event()))
        self._values += 1
        if self._values > MAX_VALUES:
            raise _Refused(f"holds more than {MAX_VALUES} values", _line(self.peek_event()))
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as e:
            shown = _short(node.value) if isinstance(node, ScalarNode) else node.id
            raise _Refused(f"cannot read the value {shown!r}: {_short(str(e), 80)}",
                           _line(node)) from None


class _NamedText(io.StringIO):
    """Text with a ``name``, which libyaml's parser puts in its messages."""

    name = "<text>"


if _Parser is not None:
    class _Loader(_Checks, Composer, _Parser, SafeConstructor, Resolver):
        """libyaml's events, PyYAML's (limited) composer, the safe constructor."""

        def __init__(self, text: str, name: str):
            stream = _NamedText(text)
            stream.name = name
            _Parser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            Composer.__init__(self)
else:  # pragma: no cover
    class _Loader(_Checks, yaml.SafeLoader):
        """PyYAML's SafeLoader, limited."""

        def __init__(self, text: str, name: str):
            super().__init__(text)
            self.name = name


def _key_label(loader: Any, key: Node) -> Any:
    """The key as the constructed mapping will hold it, or None for a non-scalar key."""
    if not isinstance(key, ScalarNode):
        return None
    if key.tag == _MERGE_TAG:
        return "<<"
    return loader.construct_object(key)


def _check_graph(loader: Any, root: Node) -> None:
    """Expanded size, expanded depth, cycles and duplicate keys of a composed document.

    Aliased nodes are shared in the node graph; each is walked once and its expanded size
    and height are remembered, so the walk costs what the file holds, not what it expands to.
    """
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, height)
    open_: set[int] = set()

    def too_deep(node: Node) -> _Refused:
        return _Refused(f"nested deeper than {MAX_DEPTH} levels once its aliases are expanded",
                        _line(node))

    def walk(node: Node, level: int, where: list[str]) -> tuple[int, int]:
        if level > MAX_DEPTH:
            raise too_deep(node)
        key = id(node)
        if key in open_:
            raise _Refused("an alias refers to a collection that contains it "
                           "(a recursive structure)", _line(node))
        if key not in done:
            open_.add(key)
            size, height = 1, 1
            children: list[tuple[Node, list[str]]] = []
            if isinstance(node, SequenceNode):
                children = [(child, [*where, str(i)]) for i, child in enumerate(node.value)]
            elif isinstance(node, MappingNode):
                first: dict[Any, int] = {}  # scalar key -> its line (scalars are hashable)
                for k, v in node.value:
                    label = _key_label(loader, k)
                    path = [*where, str(label)]
                    if label is not None:
                        if label in first:
                            raise _Refused(f"key '{_short('.'.join(path), 80)}': defined twice "
                                           f"(lines {first[label]} and {_line(k)})")
                        first[label] = _line(k)
                    children += [(k, path), (v, path)]
            for child, path in children:
                s, h = walk(child, level + 1, path)
                size += s
                height = max(height, h + 1)
                if size > MAX_VALUES:
                    break
            open_.discard(key)
            done[key] = (size, height)
        size, height = done[key]
        if level + height - 1 > MAX_DEPTH:
            raise too_deep(node)
        if size > MAX_VALUES:
            raise _Refused(f"holds more than {MAX_VALUES} values once its aliases are expanded",
                           _line(node))
        return size, height

    walk(root, 1, [])


def read_text(path: Path) -> str:
    """The text of a configuration file: a regular file of at most :data:`MAX_BYTES`, UTF-8."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(f"{path}: cannot be read: not a regular file")
        if info.st_size > MAX_BYTES:
            raise ConfigurationError(f"{path}: is {info.st_size} bytes, larger than the 1 MiB "
                                     "a configuration file may be")
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise ConfigurationError(f"{path}: cannot be read: {e.strerror or e}") from e
    if len(data) > MAX_BYTES:  # it grew since stat()
        raise ConfigurationError(f"{path}: is larger than the 1 MiB a configuration file may be")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigurationError(f"{path}: is not UTF-8 text (byte 0x{data[e.start]:02x} on line "
                                 f"{line}, column {column})") from None


def parse(text: str, path: Path) -> Any:
    """The document of ``text`` (read from ``path``, for messages), checked as described above."""
    loader = _Loader(text, path.name)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(loader, node)
        return loader.construct_document(node)
    except _Refused as e:
        where = f"line {e.line}: " if e.line is not None else ""
        raise ConfigurationError(f"{path}: {where}{e}") from None
    except yaml.YAMLError as e:
        raise ConfigurationError(f"{path}: is not valid YAML: {e}") from None
    finally:
        loader.dispose()


def load(path: Path) -> tuple[Any, str]:
    """Read and parse one configuration file: its document and its text."""
    text = read_text(path)
    log.debug("read %s (%d characters)", path, len(text))
    return parse(text, path), text
