"""Hand-built files through ``na64 process`` on a real two-worker LocalCluster."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from processors.cuts import cut_names
from tests.eventfiles import (
    calibration_electrons,
    electron,
    hcal_deposit,
    shower,
    write_catalog,
    write_events,
)
from workflows.cli import app
from workflows.processing.results import read_period

pytestmark = pytest.mark.distributed

nan_ecal = shower(100.0)
nan_ecal[1, 5, 5] = np.inf

#: One physics event failing each cut (and nothing before it), in chain order.
FAILING = [
    ("finite_energies", electron(ecal=nan_ecal)),
    ("in_time", electron(ecal_time=7.0)),
    ("momentum", electron(beam_momentum=np.nan)),
    ("momentum", electron(beam_momentum=90.0)),
    ("angle", electron(beam_angle=2.5)),
    ("srd_tag", electron(srd=[0.0, 0.2, 0.0])),
    ("single_straw_track", electron(straw_tracks=3)),
    ("central_cell", electron(ecal=shower(100, centre=(2, 2)))),
    ("shower_chi2", electron(ecal=shower(100, widen=0.3))),
    ("veto", electron(30.0, veto=[1.1, 0.9, 1.0])),
]
#: Events passing the chain, by region.
PASSING = {
    "box": [electron(30.0, mc_process=6), electron(45.0, hcal=hcal_deposit(0.4), mc_process=6)],
    "C": [electron(70.0), electron(75.0), electron(62.0, hcal=hcal_deposit(0.3))],
    "A": [electron(30.0, hcal=hcal_deposit(5.0), mc_process=1), electron(10.0, hcal=hcal_deposit(60.0), mc_process=1)],
    None: [electron(70.0, hcal=hcal_deposit(20.0), mc_process=1)],
}
#: Not physics triggers: no trigger bit, and both bits (calibration wins).
OTHER = [electron(30.0, trigger=0), electron(30.0, trigger=3)]


def in_box(event) -> bool:
    """(E_ECAL, E_HCAL) inside the default signal box (E_ECAL < 50, E_HCAL < 1 GeV)."""
    return float(np.sum(event["ecal"])) < 50.0 and float(np.sum(event["hcal"])) < 1.0


def expected_cutflow(blinded: bool = False) -> list[dict]:
    """Blinded, events in the box region are excluded from every step."""
    failing = [(cut, e) for cut, e in FAILING if not (blinded and in_box(e))]
    n_pass = sum(1 for v in PASSING.values() for e in v if not (blinded and in_box(e)))
    counts = [len(failing) + n_pass]
    for name in cut_names()[1:]:
        counts.append(counts[-1] - sum(1 for cut, _ in failing if cut == name))
    assert counts[-1] == n_pass
    return [{"cut": c, "events": n} for c, n in zip(cut_names(), counts, strict=True)]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("foreign")
    physics = [e for _, e in FAILING] + [e for v in PASSING.values() for e in v]
    calib = calibration_electrons(400)
    # Two shards of one run, written as another program would: calibration events interleaved.
    events = calib[:200] + physics[:8] + OTHER + calib[200:] + physics[8:]
    write_events(root / "data" / "shard_0.root", events[:300], truth=True, step=50)
    write_events(root / "data" / "shard_1.root", events[300:], truth=True, first_event=300, step=50)
    write_catalog(root / "catalog", "foreign", ["../data/shard_*.root"])
    return root


def run(catalog, output, *extra):
    result = CliRunner().invoke(app, ["process", "--catalog", str(catalog / "catalog"),
                                      "--output", str(output), "--workers", "2", "--chunksize", "100", *extra])
    assert result.exit_code == 0, result.output
    return result


def test_blinded_and_unblinded_counts_are_exact(catalog, tmp_path):
    blinded_out, open_out = tmp_path / "blinded", tmp_path / "open"
    log_blinded = run(catalog, blinded_out).output
    log_open = run(catalog, open_out, "--unblind").output

    blinded = json.loads((blinded_out / "foreign" / "summary.json").read_text())
    unblinded = json.loads((open_out / "foreign" / "summary.json").read_text())
    assert unblinded["cutflow"] == expected_cutflow()
    assert blinded["cutflow"] == expected_cutflow(blinded=True)
    # the event failing only the VETO at 30 GeV and the two box events are hidden
    assert [a["events"] - b["events"] for a, b in zip(unblinded["cutflow"], blinded["cutflow"])] \
        == [3] * (len(cut_names()) - 1) + [2]
    for s in (blinded, unblinded):
        assert s["regions"]["A"] == 2 and s["regions"]["C"] == 3
        assert s["failed"] == [] and s["complete"]
        assert s["events"]["calibration_trigger"] == 401  # 400 + the event with both bits
    assert blinded["blinded"] is True and blinded["regions"]["box"] is None
    assert unblinded["blinded"] is False and unblinded["regions"]["box"] == 2

    # The box content appears only with --unblind: histograms, per-process cutflow, log.
    def box_content(result_dir):
        h = read_period(result_dir / "foreign").hists
        plane = h["plane"][{"variation": "nominal"}]
        e_ecal = plane.axes["e_ecal"].centers
        e_hcal = plane.axes["e_hcal"].centers
        in_box = (e_ecal[:, None] < 50) & (e_hcal[None, :] < 1)
        return plane.values()[in_box].sum(), h

    hidden, hb = box_content(blinded_out)
    shown, hu = box_content(open_out)
    assert hidden == 0 and shown == 2
    assert hb["plane"].sum().value == 6 and hu["plane"].sum().value == 8
    assert "6 A' signal" not in blinded.get("cutflow_by_process", {})
    assert unblinded["cutflow_by_process"]["6 A' signal"][-1] == 2
    assert "signal box: blinded" in log_blinded
    assert "signal box: 2" in log_open


def test_second_identical_command_reprocesses_nothing(catalog, tmp_path):
    run(catalog, tmp_path)
    again = run(catalog, tmp_path)
    assert "up to date" in again.output
    assert "foreign 100%" not in again.output
