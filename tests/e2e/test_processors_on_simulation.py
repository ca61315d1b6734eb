"""The processors on simulated data: clean electrons pass, beam hadrons are tagged away."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot
from scipy import stats

from processors.cuts import Thresholds
from processors.invisible import InvisibleSearchProcessor, PeriodSetup
from processors.reference import ShowerReference, reference_from_bins
from processors.reference_processor import ShowerReferenceProcessor
from processors.schema import CALIBRATION_BIT, PHYSICS_BIT
from processors.variations import nominal
from workflows.processing.catalog import load_period
from workflows.simulation import DetectorModel, simulate_period, tag_probability

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
BRANCHES = ["trigger", "beam_momentum", "beam_angle", "straw_tracks", "srd", "ecal", "ecal_time",
            "veto", "hcal", "mc_process"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    period = load_period(DATASETS / "2022.yaml")
    simulate_period(period, 120_000, out, seed=4)
    cols = uproot.concatenate([f"{f}:events" for f in sorted(out.glob("*.root"))], BRANCHES, library="np")
    return period, cols


def reference_from(cols, period) -> ShowerReference:
    """The data-driven reference, as the first pass derives it (calibration and low-energy
    electrons, energy dependent)."""
    proc = ShowerReferenceProcessor(period.beam.energy, 1.0, (3, 3))
    reference = reference_from_bins((3, 3), period.beam.energy, proc.sums(cols.__getitem__))
    assert reference.fallback is None
    return reference


def test_clean_electrons_pass_the_chain(sample):
    period, cols = sample
    reference = reference_from(cols, period)
    # The calibration trigger records unbiased beam electrons: run them through the chain
    # as if they were physics triggers.
    calib = cols["trigger"] & CALIBRATION_BIT > 0
    electrons = {k: v[calib] for k, v in cols.items()}
    electrons["trigger"] = np.full(calib.sum(), PHYSICS_BIT, np.uint8)
    proc = InvisibleSearchProcessor(PeriodSetup("2022", 100.0), reference, [nominal(Thresholds())], blinded=False)
    cutflow = proc.process_columns(electrons).hists["cutflow"][{"variation": "nominal"}].values()
    assert cutflow[0] == calib.sum() > 10_000
    assert cutflow[-1] / cutflow[0] >= 0.90


def test_beam_hadrons_are_suppressed_by_the_srd_tag_at_the_simulated_level(sample):
    period, cols = sample
    reference = reference_from(cols, period)
    proc = InvisibleSearchProcessor(PeriodSetup("2022", 100.0), reference, [nominal(Thresholds())], blinded=False)
    h = proc.process_columns(cols).hists["cutflow_by_process"][{"variation": "nominal", "process": 3}].values()
    steps = ["physics_trigger", "finite_energies", "in_time", "momentum", "angle", "srd_tag"]
    before, after = h[steps.index("angle")], h[steps.index("srd_tag")]
    p_tag = tag_probability("hadron", period.beam.energy, DetectorModel().srd)
    assert 1e-7 < p_tag < 1e-4  # the seeds: suppression 1e-5 to 1e-6
    assert before > 5_000
    # Observed tags are compatible with the simulated probability (Poisson, 99.9 %).
    assert after <= stats.poisson.ppf(0.999, before * p_tag)
    # ...while beam electrons keep their tag (the seeds: SRD efficiency > 95 %).
    for code in (0,):
        by_process = proc.process_columns(cols).hists["cutflow_by_process"]
        e = by_process[{"variation": "nominal", "process": code}].values()
        assert e[steps.index("srd_tag")] / e[steps.index("angle")] > 0.95
