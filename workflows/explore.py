"""Interactive columnar exploration of a run period: a lazy dask-awkward array of NanoEvents.

:func:`open_period` gives the events of one period's files (coffea's NanoEvents in dask
mode, one partition per chunk of ``na64 process``, duplicated events left out as there)
with the schema's branches and, as lazy fields computed partition by partition by the
processor's own code (:func:`processors.invisible.chunk_quantities`, the cuts of
:data:`processors.cuts.CHAIN`, :func:`processors.invisible.plane_regions`):

``physics``, ``calibration``
    the trigger classes (an event with both bits is a calibration event, as in the search);
``e_ecal``, ``e_hcal``
    energies with the period's scales and HCAL modules (GeV);
``chi2``
    the shower-shape chi2 against the period's shower reference;
``cuts``
    a record of one boolean per cut of ``CHAIN`` by name (each cut alone, not cumulative);
``passes_all``
    physics-trigger events passing every cut (the processor's last cutflow entry);
``regions``
    a record ``A``, ``C``, ``box``: the processor's regions of the events passing all cuts.

Every quantity is computed for every event (calibration events too); the search's are
those with ``physics``. Each field reads only the branches it needs, and only when it
is used (``dask_awkward.necessary_columns`` shows it).

**Blinding.** Unless ``unblind=True``, events whose (E_ECAL, E_HCAL) lie in the
period's signal box are not in the array (physics and calibration events alike), so
no count or histogram made from it can hold them: the processor's rule. The box mask
needs the ECAL and HCAL branches, so every result of a blinded array reads them too.

**Shower reference.** By default it is derived with the processing's first pass
(:func:`workflows.processing.reference_pass.derive_reference`, the same chunks for the
same ``chunksize``), so it is the one ``na64 process`` derives from the same files;
``reference=`` takes a stored ``shower_reference.json`` (e.g. ``results/2022/``'s) or a
:class:`~processors.reference.ShowerReference` instead, used as given.

**Cluster.** The file checks, the reference pass and every ``compute`` run on Dask:
``client=`` (a ``distributed.Client``), else ``cluster=`` (a ``ClusterOptions`` as for
``na64 process``: local, ``scheduler=``, Slurm/HTCondor; or any ``distributed`` cluster
object, such as a dask-jobqueue cluster), else the active ``distributed`` client, else the
project's default local cluster (started once, closed at exit).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from processors.cuts import CHAIN, Thresholds, cut_names
from processors.errors import InputError
from processors.invisible import PeriodSetup, chunk_quantities, plane_regions
from processors.quantities import SEARCH_BRANCHES
from processors.reading import read_column
from processors.reference import ShowerReference
from processors.schema import BY_NAME, CALIBRATION_BIT, PHYSICS_BIT, TREE_NAME, physics_mask
from processors.variations import Variation, nominal
from workflows.lazy_columns import derived_column
from workflows.processing.catalog import CatalogError, Period, load_period
from workflows.runtime.cluster import ClusterOptions, dask_client

log = logging.getLogger(__name__)

#: The branches each cut of CHAIN reads (through EventQuantities).
CUT_BRANCHES: dict[str, tuple[str, ...]] = {
    "finite_energies": ("ecal", "hcal", "ecal_time", "srd", "veto"),
    "in_time": ("ecal_time",),
    "momentum": ("beam_momentum",),
    "angle": ("beam_angle",),
    "srd_tag": ("srd",),
    "single_straw_track": ("straw_tracks",),
    "central_cell": ("ecal",),
    "shower_chi2": ("ecal",),
    "veto": ("veto",),
}
if set(CUT_BRANCHES) != {c.name for c in CHAIN}:  # pragma: no cover - caught by any import
    raise RuntimeError("workflows.explore.CUT_BRANCHES must name the branches of every cut of CHAIN")

_CHAIN_BRANCHES = tuple(dict.fromkeys(["trigger", *(b for c in CHAIN for b in CUT_BRANCHES[c.name])]))
_PLANE_BRANCHES = tuple(dict.fromkeys([*_CHAIN_BRANCHES, "ecal", "hcal"]))

#: The branches each derived column reads (``cut:<name>``, ``region:<name>``).
FIELD_BRANCHES: dict[str, tuple[str, ...]] = {
    "physics": ("trigger",),
    "calibration": ("trigger",),
    "e_ecal": ("ecal",),
    "e_hcal": ("hcal",),
    "chi2": ("ecal",),
    **{f"cut:{name}": branches for name, branches in CUT_BRANCHES.items()},
    "passes_all": _CHAIN_BRANCHES,
    "in_box": ("ecal", "hcal"),
    **{f"region:{r}": _PLANE_BRANCHES for r in ("A", "C", "box")},
}
_FLOAT_FIELDS = ("e_ecal", "e_hcal", "chi2")


@dataclass(frozen=True)
class PeriodContext:
    """What the derived columns of one period depend on."""

    setup: PeriodSetup
    reference: ShowerReference
    variation: Variation  # the nominal one: the period's thresholds

    @property
    def thresholds(self) -> Thresholds:
        return self.variation.thresholds


def _placeholder(name: str, n: int) -> np.ndarray:
    """A column a derived field does not read: NaN (or 0), so that a missing entry in
    :data:`FIELD_BRANCHES` shows as NaN or a failed cut, never as a plausible value."""
    branch = BY_NAME[name]
    fill = np.nan if branch.dtype.kind == "f" else 0
    return np.full((n, *branch.shape), fill, branch.dtype)


def field_values(name: str, columns: Mapping[str, np.ndarray], context: PeriodContext) -> np.ndarray:
    """Derived column ``name`` of every event of a chunk, from its numpy ``columns``
    (those of ``FIELD_BRANCHES[name]``), computed by the processor's functions."""
    n = len(next(iter(columns.values())))
    trigger = columns.get("trigger")
    if name in ("physics", "calibration", "passes_all") or name.startswith("region:"):
        assert trigger is not None
        physics = physics_mask(trigger)
        if name == "physics":
            return physics
        if name == "calibration":
            return (trigger & CALIBRATION_BIT).astype(bool)
    # Every event as a physics event: the quantities of calibration events too.
    full = {b: columns[b] if b in columns else _placeholder(b, n) for b in SEARCH_BRANCHES}
    full["trigger"] = np.full(n, PHYSICS_BIT, np.uint8)
    q = chunk_quantities(full, context.setup, context.reference)
    t, e0 = context.thresholds, context.setup.beam_energy
    ecal_scale, hcal_scale = context.setup.scales(context.variation)
    if name == "e_ecal":
        return q.e_ecal_raw * ecal_scale
    if name == "e_hcal":
        return q.e_hcal_raw * hcal_scale
    if name == "chi2":
        return q.chi2
    if name.startswith("cut:"):
        (cut,) = (c for c in CHAIN if c.name == name[4:])
        return cut(q, t, e0)
    if name == "in_box":
        in_box, _ = plane_regions(np.ones(n, bool), q.e_ecal_raw * ecal_scale,
                                  q.e_hcal_raw * hcal_scale, t)
        return np.asarray(in_box)
    final = physics
    for cut in CHAIN:
        final = final & cut(q, t, e0)
    if name == "passes_all":
        return final
    _, regions = plane_regions(final, q.e_ecal_raw * ecal_scale, q.e_hcal_raw * hcal_scale, t)
    return np.asarray(regions[name.removeprefix("region:")])


def _partition_values(events: ak.Array, name: str, context: PeriodContext) -> np.ndarray:
    columns = {b: read_column(events, b) for b in FIELD_BRANCHES[name]}
    return field_values(name, columns, context)


def _column(events, name: str, context: PeriodContext):
    dtype = np.float64 if name in _FLOAT_FIELDS else np.bool_
    label = "na64-" + name.replace(":", "-").replace("_", "-")
    return derived_column(events, partial(_partition_values, name=name, context=context),
                          FIELD_BRANCHES[name], dtype, label)


def with_quantities(events, context: PeriodContext, *, unblind: bool = False):
    """``events`` (a dask-awkward array of NanoEvents with the schema's branches) with the
    derived fields, blinded unless ``unblind``."""
    import dask_awkward as dak

    source = events  # every column is computed from the branches as read
    for name in ("physics", "calibration", "e_ecal", "e_hcal", "chi2", "passes_all"):
        events = dak.with_field(events, _column(source, name, context), name)
    events = dak.with_field(events, dak.zip({c.name: _column(source, f"cut:{c.name}", context)
                                            for c in CHAIN}, depth_limit=1), "cuts")
    events = dak.with_field(events, dak.zip({r: _column(source, f"region:{r}", context)
                                            for r in ("A", "C", "box")}, depth_limit=1), "regions")
    if not unblind:
        events = events[~_column(source, "in_box", context)]
    return events


# -- the cluster --------------------------------------------------------------------------

_STARTED = contextlib.ExitStack()
atexit.register(_STARTED.close)
#: clients started here for ClusterOptions, reused by later calls with the same options
_CLIENTS: dict[ClusterOptions, Any] = {}


def _started(options: ClusterOptions):
    """A client for ``options``, started once and kept until the interpreter exits."""
    known = _CLIENTS.get(options)
    if known is None or known.status != "running":
        _CLIENTS[options] = known = _STARTED.enter_context(dask_client(options))
    return known


def _client(client, cluster):
    """The client to work with: ``client``, one for ``cluster``, the active one, or the
    project's default local cluster (kept for the session)."""
    if client is not None:
        return client
    if isinstance(cluster, ClusterOptions):
        return _started(cluster)
    from distributed import Client, get_client

    if cluster is not None:  # a distributed cluster object (LocalCluster, dask-jobqueue, ...)
        return Client(cluster)
    try:
        return get_client()
    except ValueError:
        pass
    log.info("no Dask client: starting the default local cluster")
    return _started(ClusterOptions())


# -- the period ---------------------------------------------------------------------------

def _load(catalog_file: Path | str) -> Period:
    period = load_period(catalog_file)
    missing = period.missing_entries()
    if missing:
        raise CatalogError("\n".join(f"{period.source}: key 'files': '{m}' matches no file"
                                     for m in missing))
    return period


def _reference(given: ShowerReference | Path | str | None, period: Period, chunks: list, client,
               options) -> ShowerReference:
    if isinstance(given, ShowerReference):
        return given
    if given is not None:
        from workflows.processing.results import load_json

        path = Path(given)
        try:
            return ShowerReference.from_json(load_json(path))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{path}: not a shower reference ({type(err).__name__}: {err})") from None
    from workflows.processing.reference_pass import derive_reference

    return derive_reference(period, chunks, client, options).reference()


def _uproot_files(chunks: list) -> dict[str, dict[str, Any]]:
    """uproot's files specification: each file with its chunks as steps."""
    files: dict[str, dict[str, Any]] = {}
    for c in chunks:
        entry = files.setdefault(c.filename, {"object_path": TREE_NAME, "steps": []})
        entry["steps"].append([c.entrystart, c.entrystop])
    return files


def open_period(catalog_file: Path | str, *, unblind: bool = False, client=None, cluster=None,
                reference: ShowerReference | Path | str | None = None,
                chunksize: int = 100_000):
    """The events of one period as a lazy ``dask_awkward.Array`` of NanoEvents with the
    derived fields (see the module), blinded unless ``unblind``.

    ``catalog_file`` is a period's catalog YAML. Files that fail the processing's checks
    are left out with a warning (as ``na64 process`` lists them under ``failed``), and so
    are events repeated across files. Bad catalogs raise
    :class:`~workflows.processing.catalog.CatalogError`; a period without a readable
    file with events, or with too few calibration electrons, a
    :class:`~processors.errors.ProcessingError`.
    """
    from coffea.nanoevents import BaseSchema, NanoEventsFactory

    from processors.errors import ProcessingError
    from workflows.processing.input_checks import check_files, find_duplicates
    from workflows.processing.period import ProcessOptions, period_chunks, period_setup

    period = _load(catalog_file)
    client = _client(client, cluster)
    options = ProcessOptions(output=Path("."), unblind=unblind, chunksize=chunksize, progress=False)
    checks = check_files(period.resolve_files(), client)
    for bad in (c for c in checks if not c.ok):
        log.warning("%s: %s left out: %s", period.name, bad.path, bad.reason)
    readable = [c for c in checks if c.ok and c.entries > 0]
    if not readable:
        raise ProcessingError(f"period {period.name}: no readable file with events")
    chunks, _ = period_chunks(period, options, client, readable, find_duplicates(checks, client))
    shower = _reference(reference, period, chunks, client, options)
    events = NanoEventsFactory.from_root(
        _uproot_files(chunks), mode="dask", schemaclass=BaseSchema,
        metadata={"period": period.name, "blinded": not unblind},
    ).events()
    context = PeriodContext(period_setup(period), shower, nominal(period.cuts))
    log.info("%s: %d files, %d partitions, %s", period.name, len(readable), len(chunks),
             "UNBLINDED" if unblind else "blinded")
    return with_quantities(events, context, unblind=unblind)


# -- counting -----------------------------------------------------------------------------

@dataclass(frozen=True)
class SelectionCounts:
    """The processor's counts, from an explorer array: the cutflow in chain order (first
    entry: all physics-trigger events) and the regions."""

    cutflow: dict[str, int]
    regions: dict[str, int]


def selection_counts(events) -> SelectionCounts:
    """Cutflow and region counts of an :func:`open_period` array, computed at once."""
    import dask

    step = events.physics
    lazy = {cut_names()[0]: ak.sum(step)}
    for cut in CHAIN:
        step = step & events.cuts[cut.name]
        lazy[cut.name] = ak.sum(step)
    regions = {r: ak.sum(events.regions[r]) for r in ("A", "C", "box")}
    cutflow, region_counts = dask.compute(lazy, regions)
    return SelectionCounts({k: int(v) for k, v in cutflow.items()},
                           {k: int(v) for k, v in region_counts.items()})
