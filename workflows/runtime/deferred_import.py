"""Modules registered now and executed on first use.

coffea's ``DaskExecutor`` runs ``import dask.dataframe as dd`` at the start of every call
and uses ``dd`` only with ``use_dataframes=True``, which this project never sets. That
import (pandas, pyarrow, dask's expression layer) costs the client 0.9 s of a command
that otherwise needs about three. :func:`defer` puts a placeholder in ``sys.modules`` that
the import statement returns as is; the first attribute read from it (or a submodule
import below it) imports the real module, which then replaces the placeholder.

The standard library's ``importlib.util.LazyLoader`` does not serve here: re-importing
a lazily loaded module reads its ``__spec__``, which executes it.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types


class DeferredModule(types.ModuleType):
    """Stands for a module until any of its attributes is read."""

    def __getattr__(self, attr: str):
        return getattr(load(self.__name__), attr)


def defer(name: str) -> bool:
    """Register ``name`` to be imported on first use; False if it is already imported or
    cannot be found (then nothing changes)."""
    if name in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    placeholder = DeferredModule(name)
    placeholder.__spec__ = importlib.machinery.ModuleSpec(name, None)
    # What code scanning sys.modules reads (distributed looks up the module of each
    # frame of its handlers by file name): answered without importing.
    placeholder.__file__ = spec.origin
    placeholder.__cached__ = spec.cached
    placeholder.__package__ = spec.parent if spec.submodule_search_locations is None else name
    sys.modules[name] = placeholder
    return True


def is_deferred(name: str) -> bool:
    """True while ``name`` is registered but not yet imported."""
    return isinstance(sys.modules.get(name), DeferredModule)


def load(name: str) -> types.ModuleType:
    """The real module ``name``, imported now if only its placeholder was there."""
    if is_deferred(name):
        del sys.modules[name]
    return importlib.import_module(name)
