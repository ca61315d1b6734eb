"""Blinding with a real signal in the data: background and an injected A' sample
(``na64 simulate --signal-mass 0.05 --signal-events 500`` into its own directory of the
same period), processed blinded and unblinded with the shipped variations.

The unblinded run shows box candidates (so every check below could fail); the blinded
run must show none of them: not in summary.json, not in any histogram of any variation,
not in the log, not in a plot drawn from its histograms.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import hist
import numpy as np
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from processors.cuts import Thresholds
from tests.faults import simulate, write_catalog
from workflows.cli import app
from workflows.plots import plot_plane
from workflows.processing.results import read_period

pytestmark = pytest.mark.distributed

VARIATIONS = Path(__file__).resolve().parents[2] / "datasets" / "variations.yaml"
SIGNAL = "6 A' signal"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("blinding")
    catalog = root / "catalog"
    write_catalog(catalog, "blind", ["../bkg/*.root", "../signal/*.root"])
    simulate(catalog, "blind", 200_000, root / "bkg", seed=4)
    result = CliRunner().invoke(app, [
        "simulate", "--period", "blind", "--events", "0", "--signal-mass", "0.05",
        "--signal-events", "500", "--output", str(root / "signal"), "--seed", "4",
        "--catalog", str(catalog)])
    assert result.exit_code == 0, result.output
    out = {}
    for name, extra in (("blinded", []), ("open", ["--unblind"])):
        result = CliRunner().invoke(app, [
            "process", "--catalog", str(catalog), "--output", str(root / name), "--workers", "2",
            "--chunksize", "50000", "--variations", str(VARIATIONS), *extra])
        assert result.exit_code == 0, result.output
        out[name] = (read_period(root / name / "blind"), result.output)
    return {"root": root, **out}


def box_mask(h: hist.Hist, t: Thresholds) -> np.ndarray:
    """Bins of an (e_ecal, e_hcal) plane inside the box (the box edges are bin edges)."""
    ecal, hcal = h.axes["e_ecal"].edges, h.axes["e_hcal"].edges
    assert np.isclose(ecal, t.box_ecal_max).any() and np.isclose(hcal, t.box_hcal_max).any()
    return (ecal[1:, None] <= t.box_ecal_max + 1e-9) & (hcal[None, 1:] <= t.box_hcal_max + 1e-9)


def variation_thresholds(result, name: str) -> Thresholds:
    prov = json.loads((result.directory / "provenance.json").read_text())
    (v,) = [v for v in prov["config"]["variations"] if v["name"] == name]
    return Thresholds(**v["thresholds"])


def test_the_unblinded_run_has_signal_in_the_box(runs):
    s = runs["open"][0].summary
    assert s.regions.box > 0
    assert s.cutflow_by_process[SIGNAL][-1] > 0
    assert all(v.regions.box is not None for v in s.variations.values())


def test_blinded_summary_carries_no_box_content(runs):
    blinded, opened = runs["blinded"][0].summary, runs["open"][0].summary
    assert blinded.blinded is True and blinded.blinding
    assert blinded.regions.box is None
    assert all(v.regions.box is None for v in blinded.variations.values())
    # Events in the box region are excluded at every step: the blinded cutflows lack the
    # box-region events still present at that step (fewer and fewer as cuts remove them),
    # ending with exactly the box candidates; A' events outside the box may show.
    removed = 0
    for process, open_row in opened.cutflow_by_process.items():
        row = blinded.cutflow_by_process.get(process, [0] * len(open_row))
        hidden = [o - b for o, b in zip(open_row, row, strict=True)]
        assert all(h >= 0 for h in hidden) and hidden == sorted(hidden, reverse=True), process
        removed += hidden[-1]
    assert removed == opened.regions.box > 0
    # The total cutflow is the sum of the per-process one: nothing to subtract.
    by_step = np.sum([r for r in blinded.cutflow_by_process.values()], axis=0)
    assert [e.events for e in blinded.cutflow] == list(by_step)


def test_blinded_histograms_are_empty_in_every_variations_box(runs):
    result, opened = runs["blinded"][0], runs["open"][0]
    nominal_t = result.summary.thresholds
    variations = list(result.hists["plane"].axes["variation"])
    assert len(variations) > 1
    open_in_box = 0
    for v in variations:
        t = variation_thresholds(result, v)
        h = result.hists["plane"][{"variation": v}]
        for box in (box_mask(h, t), box_mask(h, nominal_t)):
            assert h.values()[box].sum() == 0, v
        open_in_box += opened.hists["plane"][{"variation": v}].values()[box_mask(h, t)].sum()
        assert result.hists["regions"][{"variation": v, "region": "box"}].value == 0
    assert open_in_box > 0


def test_blinded_log_carries_no_box_content(runs):
    log, open_log = runs["blinded"][1], runs["open"][1]
    box = runs["open"][0].summary.regions.box
    assert f"signal box: {box:,}" in open_log
    assert "signal box: blinded" in log
    assert re.search(r"signal box:\s*\d", log) is None
    assert "A' signal" not in log and "UNBLINDED" not in log


def test_a_plot_from_blinded_histograms_shows_nothing_in_the_box(runs, tmp_path):
    blinded, opened = runs["blinded"][0], runs["open"][0]
    t = blinded.summary.thresholds
    plane = blinded.hists["plane"][{"variation": "nominal"}]
    open_plane = opened.hists["plane"][{"variation": "nominal"}]
    box = box_mask(open_plane, t)
    emptied = open_plane.copy()
    view = emptied.view()
    view.value[box] = 0
    view.variance[box] = 0
    assert open_plane.values()[box].sum() > 0

    def draw(h, name, blind):
        return imread(plot_plane(h, t, tmp_path / f"{name}.png", "plane", blinded=blind,
                                 hcal_max=5.0))  # zoomed: the box is 1 GeV high

    # Drawn as the project draws it (box hatched) and without the hatching: the blinded
    # histograms give exactly the picture of the open ones with the box emptied.
    assert np.array_equal(draw(plane, "blinded", True), draw(emptied, "emptied", True))
    uncovered = draw(plane, "blinded_uncovered", False)
    assert np.array_equal(uncovered, draw(emptied, "emptied_uncovered", False))
    assert not np.array_equal(uncovered, draw(open_plane, "open_uncovered", False))


def test_the_box_count_cannot_be_inferred_from_blinded_outputs(runs):
    result = runs["blinded"][0]
    h = result.hists
    for v in h["plane"].axes["variation"]:
        cutflow = h["cutflow"][{"variation": v}].values()
        by_process = h["cutflow_by_process"][{"variation": v}].values().sum(axis=1)
        assert np.array_equal(cutflow, by_process), v
        assert cutflow[-1] == h["plane"][{"variation": v}].sum(flow=True).value, v
