"""workflows.explore on a simulated period and a real distributed LocalCluster: the
explorer's counts are ``na64 process``'s (blinded and unblinded), the box is not in a
blinded array, each field reads only its branches, and every derived value is the
processor's."""

from __future__ import annotations

import logging
from pathlib import Path

import awkward as ak
import dask_awkward as dak
import hist.dask as hda
import numpy as np
import pytest
import uproot

from processors.cuts import CHAIN
from processors.errors import NA64Error
from processors.invisible import InvisibleSearchProcessor, chunk_quantities
from processors.quantities import SEARCH_BRANCHES, physics_index
from processors.reference import ShowerReference
from processors.variations import nominal
from tests.workflows.explore_sample import CHUNKSIZE, PERIOD, simulated_period
from workflows.explore import (
    FIELD_BRANCHES,
    PeriodContext,
    field_values,
    open_period,
    selection_counts,
)
from workflows.processing.catalog import CatalogError, load_period
from workflows.processing.period import period_setup
from workflows.processing.periods import run_processing
from workflows.processing.results import read_period
from workflows.runtime.cluster import ClusterOptions

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory):
    """The simulated period, with a file that is not ROOT among its files."""
    path = simulated_period(tmp_path_factory.mktemp("explore"))
    (path.parent.parent / "background" / "broken.root").write_bytes(b"not a ROOT file" * 100)
    return path


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield cluster, client


@pytest.fixture(scope="module")
def processed(catalog_file, cluster, tmp_path_factory):
    """``na64 process``'s summaries (through the function the command calls), on the
    same cluster, blinded and unblinded."""
    out = {}
    for blinded in (True, False):
        results = tmp_path_factory.mktemp("blinded" if blinded else "unblinded")
        (run,) = run_processing(catalog_file.parent, results, unblind=not blinded,
                                cluster=ClusterOptions(scheduler=cluster[0].scheduler_address),
                                chunksize=CHUNKSIZE, progress=False)
        assert run.status == "processed" and not run.complete  # the broken file
        out[blinded] = read_period(results / PERIOD)
        assert [Path(f.file).name for f in out[blinded].summary.failed] == ["broken.root"]
    return out


@pytest.mark.parametrize("blinded", [True, False], ids=["blinded", "unblinded"])
def test_counts_are_the_processors(catalog_file, cluster, processed, blinded, caplog):
    _, client = cluster
    summary = processed[blinded].summary
    # blinded: the client given and the reference derived by the processing's first pass;
    # unblinded: the active client and the reference the processing stored
    kwargs = ({"client": client} if blinded else
              {"reference": processed[blinded].directory / "shower_reference.json"})
    with caplog.at_level(logging.WARNING, logger="workflows.explore"):
        events = open_period(catalog_file, unblind=not blinded, chunksize=CHUNKSIZE, **kwargs)
    assert "broken.root left out" in caplog.text
    counts = selection_counts(events)
    assert counts.cutflow == {c.cut: c.events for c in summary.cutflow}
    assert counts.regions["A"] == summary.regions.A
    assert counts.regions["C"] == summary.regions.C
    if blinded:
        assert summary.regions.box is None and counts.regions["box"] == 0
    else:
        assert counts.regions["box"] == summary.regions.box > 0  # the A' events
    assert summary.duplicates.events > 0  # the copied shard: left out by both


def test_blinded_array_holds_no_box_event(catalog_file, cluster):
    _, client = cluster
    t = load_period(catalog_file).cuts
    in_box = {}
    for unblind in (False, True):
        events = open_period(catalog_file, unblind=unblind, client=client, chunksize=CHUNKSIZE)
        e_ecal, e_hcal, n = client.compute([events.e_ecal, events.e_hcal, ak.num(events, axis=0)], sync=True)
        in_box[unblind] = int(np.count_nonzero((np.asarray(e_ecal) < t.box_ecal_max)
                                               & (np.asarray(e_hcal) < t.box_hcal_max)))
        assert len(e_ecal) == n
    assert in_box[False] == 0 and in_box[True] > 300  # the signal and some background


def test_column_projection(catalog_file, cluster):
    local_cluster, _ = cluster
    blinded = open_period(catalog_file, cluster=local_cluster, chunksize=CHUNKSIZE)
    events = open_period(catalog_file, unblind=True, cluster=local_cluster, chunksize=CHUNKSIZE)

    def columns(*collections) -> set[str]:
        (read,) = dak.necessary_columns(*collections).values()
        return set(read)

    assert columns(events.e_hcal) == {"hcal"}
    assert columns(events.run) == {"run"}
    assert columns(events.chi2) == {"ecal"}
    assert columns(events.cuts.momentum) == {"beam_momentum"}
    # the box mask of a blinded array is always used
    assert columns(blinded.e_hcal) == {"ecal", "hcal"}
    # a histogram of E_HCAL after two cuts reads what the masks need, nothing else
    after = events[events.cuts.veto & events.cuts.momentum]
    h = hda.Hist.new.Reg(20, 0, 100, name="e_hcal").Double().fill(after.e_hcal)
    assert columns(h) == {"hcal", "veto", "beam_momentum"}
    assert columns(ak.sum(events.passes_all)) == set(FIELD_BRANCHES["passes_all"])


@pytest.fixture(scope="module")
def chunk(catalog_file):
    """The columns of a whole shard, and its period's context (a reference from its own
    calibration electrons)."""
    from processors.kernels import shower_shape
    from processors.schema import CALIBRATION_BIT

    period = load_period(catalog_file)
    (path, *_) = [f for f in period.resolve_files() if f.name.startswith("na64sim_")]
    with uproot.open(path) as f:
        columns = {k: np.asarray(v) for k, v in
                   f["events"].arrays([*SEARCH_BRANCHES, "mc_process"], library="np").items()}
    calib = np.flatnonzero(columns["trigger"] & CALIBRATION_BIT)
    _, _, fractions = shower_shape(columns["ecal"], calib, (3, 3))
    n = len(fractions)
    reference = ShowerReference.from_sums((3, 3), n, fractions.sum(0), (fractions ** 2).sum(0))
    return columns, PeriodContext(period_setup(period), reference, nominal(period.cuts))


def test_fields_read_only_their_branches(chunk):
    """Every derived field computed from its FIELD_BRANCHES alone equals the field computed
    from every branch (the others are NaN placeholders: a missing one would show)."""
    columns, context = chunk
    for name, branches in FIELD_BRANCHES.items():
        alone = field_values(name, {b: columns[b] for b in branches}, context)
        np.testing.assert_array_equal(alone, field_values(name, columns, context), err_msg=name)


def test_fields_are_the_processors(chunk):
    """For the physics events, every field is what the processor's selection computes."""
    columns, context = chunk
    proc = InvisibleSearchProcessor(context.setup, context.reference, [context.variation])
    q = chunk_quantities(columns, context.setup, context.reference)
    sel = proc.select(q, context.variation, {})
    physics = physics_index(columns["trigger"])
    assert 0 < len(physics) < len(columns["trigger"])

    def at_physics(name):
        return field_values(name, columns, context)[physics]

    np.testing.assert_array_equal(at_physics("e_ecal"), sel.e_ecal)
    np.testing.assert_array_equal(at_physics("e_hcal"), sel.e_hcal)
    np.testing.assert_array_equal(at_physics("chi2"), q.chi2)
    step = np.ones(len(physics), bool)
    for k, cut in enumerate(CHAIN, start=1):
        step = step & at_physics(f"cut:{cut.name}")
        np.testing.assert_array_equal(step, sel.steps[k], err_msg=cut.name)
    np.testing.assert_array_equal(at_physics("passes_all"), sel.final)
    for region in ("A", "C", "box"):
        np.testing.assert_array_equal(at_physics(f"region:{region}"), sel.regions[region])
    np.testing.assert_array_equal(at_physics("in_box"), sel.in_box)
    others = np.ones(len(columns["trigger"]), bool)
    others[physics] = False  # calibration events: quantities, but never in the selection
    assert not field_values("passes_all", columns, context)[others].any()
    assert np.isfinite(field_values("e_ecal", columns, context)[others]).all()


def test_bad_catalogs_are_refused(tmp_path):
    with pytest.raises(CatalogError, match="no-such.yaml"):
        open_period(tmp_path / "no-such.yaml")
    (tmp_path / "empty.yaml").write_text(
        'name: "empty"\nbeam: {particle: e-, energy: 100.0}\neot: 1.0e+9\nfiles: [nothing/*.root]\n')
    with pytest.raises(CatalogError, match="key 'files': 'nothing/\\*.root' matches no file") as err:
        open_period(tmp_path / "empty.yaml")
    assert isinstance(err.value, NA64Error) and err.value.exit_code == 2
