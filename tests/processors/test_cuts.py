"""Each cut of the chain on hand-built events just inside and just outside its threshold."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from processors.cuts import CHAIN, Thresholds, cut_names
from processors.invisible import InvisibleSearchProcessor, PeriodSetup
from processors.kernels import shower_shape
from processors.quantities import EventQuantities
from processors.reference import ShowerReference
from processors.variations import Variation, nominal
from tests.eventfiles import BRANCH_TYPES, calibration_electrons, electron, hcal_deposit, shower


def columns(events: list[dict]) -> dict[str, np.ndarray]:
    out = {}
    for name, spec in BRANCH_TYPES.items():
        if name not in events[0]:
            continue
        dtype = spec[0] if isinstance(spec, tuple) else spec
        out[name] = np.asarray([e[name] for e in events], dtype=dtype)
    return out


@pytest.fixture(scope="module")
def reference() -> ShowerReference:
    cal = columns(calibration_electrons(400))
    _, _, f = shower_shape(cal["ecal"], np.arange(400), (3, 3))
    return ShowerReference.from_sums((3, 3), len(f), f.sum(0), (f * f).sum(0))


def chi2_of(widen: float, reference: ShowerReference) -> float:
    q = EventQuantities.compute(columns([electron(ecal=shower(100, widen=widen))]), reference, (0, 1, 2, 3),
                                ecal_scale=1.0)
    return float(q.chi2[0])


def selection(events, reference, thresholds=None, setup=None, blinded=False):
    t = thresholds or Thresholds()
    proc = InvisibleSearchProcessor(setup or PeriodSetup("test", 100.0), reference, [nominal(t)], blinded)
    q = EventQuantities.compute(columns(events), reference, (0, 1, 2, 3), ecal_scale=proc.setup.ecal_scale)
    return q, proc.select(q, proc.variations[0], {})


def first_failed_cut(sel, i) -> str | None:
    for name, step in zip(cut_names(), sel.steps, strict=True):
        if not step[i]:
            return name
    return None


def test_chain_reads_like_the_papers():
    assert [c.name for c in CHAIN] == [
        "finite_energies", "in_time", "momentum", "angle", "srd_tag", "single_straw_track",
        "central_cell", "shower_chi2", "veto",
    ]


def test_clean_electron_passes_everything(reference):
    _, sel = selection([electron(30.0)], reference)
    assert first_failed_cut(sel, 0) is None


def _chi2_pair(reference):
    t = Thresholds().chi2_max
    w = brentq(lambda w: chi2_of(w, reference) - t, 0.0, 0.5, xtol=1e-9)
    return electron(ecal=shower(100, widen=w - 2e-4)), electron(ecal=shower(100, widen=w + 2e-4))


nan_ecal = shower(100.0)
nan_ecal[0, 0, 0] = np.nan

CASES = {  # case: (the cut that must reject the outside event, inside event, outside event)
    "finite": ("finite_energies", electron(), electron(ecal=nan_ecal)),
    "late": ("in_time", electron(ecal_time=4.49), electron(ecal_time=4.51)),
    "early": ("in_time", electron(ecal_time=-4.49), electron(ecal_time=-4.51)),
    "p_high": ("momentum", electron(beam_momentum=102.99), electron(beam_momentum=103.01)),
    "p_low": ("momentum", electron(beam_momentum=97.01), electron(beam_momentum=96.99)),
    "no_track": ("momentum", electron(beam_momentum=100.0), electron(beam_momentum=np.nan)),
    "angle": ("angle", electron(beam_angle=0.99), electron(beam_angle=1.01)),
    "srd_low": ("srd_tag", electron(srd=[1.01, 10, 10]), electron(srd=[0.99, 10, 10])),
    "srd_high": ("srd_tag", electron(srd=[10, 10, 99.9]), electron(srd=[10, 10, 100.1])),
    "two_tracks": ("single_straw_track", electron(straw_tracks=1), electron(straw_tracks=2)),
    "no_straw": ("single_straw_track", electron(straw_tracks=1), electron(straw_tracks=0)),
    "off_centre": ("central_cell", electron(ecal=shower(100, centre=(3, 3))),
                   electron(ecal=shower(100, centre=(2, 3)))),
    "veto": ("veto", electron(veto=[0.0, 0.49, 0.0]), electron(veto=[0.0, 0.51, 0.0])),
}


@pytest.mark.parametrize("case", [*CASES, "chi2"])
def test_cut_just_inside_and_just_outside(case, reference):
    if case == "chi2":
        cut, (inside, outside) = "shower_chi2", _chi2_pair(reference)
    else:
        cut, inside, outside = CASES[case]
    _, sel = selection([inside, outside], reference)
    assert first_failed_cut(sel, 0) is None, "the inside event must pass the whole chain"
    assert first_failed_cut(sel, 1) == cut


def test_thresholds_are_overridable(reference):
    event = [electron(beam_angle=1.5)]
    _, sel = selection(event, reference)
    assert first_failed_cut(sel, 0) == "angle"
    _, sel = selection(event, reference, Thresholds(max_angle=2.0))
    assert first_failed_cut(sel, 0) is None


def test_momentum_window_scales_with_beam_energy(reference):
    events = [electron(beam_momentum=154.4), electron(beam_momentum=154.6)]
    _, sel = selection(events, reference, setup=PeriodSetup("x", 150.0))
    assert sel.steps[3][0] and not sel.steps[3][1]


REGION_CASES = [
    (49.9, 0.5, "box"), (50.1, 0.5, "C"), (30.0, 0.99, "box"), (30.0, 1.01, "A"),
    (70.0, 5.0, None),
]


@pytest.mark.parametrize(("e_ecal", "e_hcal", "region"), REGION_CASES)
def test_regions(e_ecal, e_hcal, region, reference):
    _, sel = selection([electron(e_ecal, hcal=hcal_deposit(e_hcal))], reference)
    got = [r for r, m in sel.regions.items() if m[0]]
    assert got == ([region] if region else [])


def test_energy_scale_moves_event_out_of_box(reference):
    event = [electron(49.5, hcal=hcal_deposit(0.5))]
    _, sel = selection(event, reference)
    assert sel.regions["box"][0]
    _, sel = selection(event, reference, setup=PeriodSetup("x", 100.0, ecal_scale=1.02))
    assert sel.regions["C"][0] and not sel.regions["box"][0]


def test_hcal_modules_choose_what_enters_e_hcal(reference):
    deposit = np.zeros((4, 3, 3), np.float32)
    deposit[3, 1, 1] = 5.0
    cols = columns([electron(30.0, hcal=deposit)])
    assert EventQuantities.compute(cols, reference, (0, 1, 2, 3), ecal_scale=1.0).e_hcal_raw[0] == pytest.approx(5.0)
    assert EventQuantities.compute(cols, reference, (0, 1), ecal_scale=1.0).e_hcal_raw[0] == 0.0


def test_calibration_events_never_enter_the_search(reference):
    q, sel = selection([electron(30.0), electron(30.0, trigger=2), electron(30.0, trigger=3)], reference)
    assert len(q) == 1


def test_cut_masks_are_shared_between_variations(reference):
    t = Thresholds()
    proc = InvisibleSearchProcessor(PeriodSetup("x", 100.0), reference,
                                    [nominal(t), Variation("chi2_up", t.model_copy(update={"chi2_max": 30.0}))])
    q = EventQuantities.compute(columns([electron(30.0)]), reference, (0, 1, 2, 3), ecal_scale=1.0)
    cache: dict = {}
    for v in proc.variations:
        proc.select(q, v, cache)
    assert len(cache) == len(CHAIN) + 1  # one extra mask: the varied chi2 threshold
