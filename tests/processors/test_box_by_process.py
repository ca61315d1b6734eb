"""The signal box by true process: counted from the truth only when unblinded; while
blinded the histogram stays empty (the blinding of every other output is unchanged)."""

from __future__ import annotations

import numpy as np

from processors.cuts import Thresholds
from processors.histograms import PROCESS_CODES
from processors.invisible import InvisibleSearchProcessor, PeriodSetup
from processors.kernels import shower_shape
from processors.reference import ShowerReference
from processors.variations import nominal
from tests.eventfiles import calibration_electrons, electron, hcal_deposit
from tests.processors.test_cuts import columns


def _run(blinded: bool):
    cal = columns(calibration_electrons(300))
    _, _, f = shower_shape(cal["ecal"], np.arange(300), (3, 3))
    reference = ShowerReference.from_sums((3, 3), len(f), f.sum(0), (f * f).sum(0))
    events = ([electron(30.0, mc_process=4)] * 3 + [electron(40.0, mc_process=3)] * 2
              + [electron(30.0, hcal=hcal_deposit(5.0), mc_process=1)] * 4       # sideband A
              + [electron(70.0, mc_process=0)] * 5)                                # sideband C
    proc = InvisibleSearchProcessor(PeriodSetup("2022", 100.0), reference, [nominal(Thresholds())],
                                    blinded=blinded)
    return proc.process_columns(columns(events + calibration_electrons(20, seed=2))).hists


def test_box_by_process_only_when_unblinded():
    unblinded = _run(False)
    box = unblinded["box_by_process"][{"variation": "nominal"}].values()
    by_code = dict(zip(PROCESS_CODES, box, strict=True))
    assert by_code[4] == 3 and by_code[3] == 2 and sum(box) == 5
    assert unblinded["regions"][{"variation": "nominal"}].values()[2] == 5   # the box region agrees
    blinded = _run(True)
    assert blinded["box_by_process"].sum().value == 0
    # blinded, the sidebands are what they were
    np.testing.assert_array_equal(blinded["regions"][{"variation": "nominal"}].values()[:2],
                                  unblinded["regions"][{"variation": "nominal"}].values()[:2])
