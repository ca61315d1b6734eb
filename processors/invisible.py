"""The coffea processor of the invisible search.

``process`` is a fixed sequence of steps on one chunk:

1. read the branches of the schema once (numpy arrays);
2. compute the per-event quantities once (E_ECAL, E_HCAL before scales, hottest
   tower, 3 x 3 fractions, shower chi2 against the period's reference);
3. for every variation: the cut masks (a mask is computed once per distinct set of
   thresholds it reads and shared by the variations that agree on them), the scaled
   energies and the regions;
4. blinding: signal-box candidates (of the variation, and of the nominal box) are
   left out of every region count, histogram and per-process cutflow of the
   variation (the total cutflow counts all events);
5. fill the histograms.

A chunk that cannot be read or processed is returned as a failure record (file,
entry range, reason) instead of an exception, so one bad file never costs the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from coffea.processor import ProcessorABC

from processors.cuts import CHAIN, LATE_CUTS, Cut, Thresholds
from processors.histograms import PROCESS_CODES, book
from processors.quantities import EventQuantities, read_columns
from processors.reference import ShowerReference
from processors.schema import CALIBRATION_BIT
from processors.variations import NOMINAL, Variation

_PROCESS_INDEX = {code: i for i, code in enumerate(PROCESS_CODES)}


@dataclass(frozen=True)
class PeriodSetup:
    """What the processor needs to know of a run period."""

    name: str
    beam_energy: float
    ecal_scale: float = 1.0
    hcal_scale: float = 1.0
    hcal_modules: tuple[int, ...] = (0, 1, 2, 3)


@dataclass
class Selection:
    """The masks of one variation on one chunk."""

    steps: list[np.ndarray]  # cumulative: steps[0] all physics events, steps[k] after cut k
    before_late: np.ndarray
    e_ecal: np.ndarray
    e_hcal: np.ndarray
    regions: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def final(self) -> np.ndarray:
        return self.steps[-1]


def _process_index(codes: np.ndarray) -> np.ndarray:
    out = np.full(codes.shape, _PROCESS_INDEX[-1], np.int64)
    for code, i in _PROCESS_INDEX.items():
        out[codes == code] = i
    return out


class InvisibleSearchProcessor(ProcessorABC):
    """Selection chain, regions and histograms of one run period, all variations at once."""

    def __init__(
        self,
        setup: PeriodSetup,
        reference: ShowerReference,
        variations: Sequence[Variation],
        blinded: bool = True,
    ):
        if not variations or variations[0].name != NOMINAL:
            raise ValueError("the first variation must be the nominal one")
        self.setup = setup
        self.reference = reference
        self.variations = tuple(variations)
        self.blinded = blinded

    # -- steps ---------------------------------------------------------------------------
    def select(self, q: EventQuantities, variation: Variation, cache: dict) -> Selection:
        """Cut masks, scaled energies and regions of one variation."""
        t = variation.thresholds
        e0 = self.setup.beam_energy
        step = np.ones(len(q), bool)
        steps = [step]
        before_late = np.ones(len(q), bool)
        for cut in CHAIN:
            mask = self._cut_mask(cut, q, t, e0, cache)
            step = step & mask
            steps.append(step)
            if cut.name not in LATE_CUTS:
                before_late = before_late & mask
        e_ecal = q.e_ecal_raw * (self.setup.ecal_scale * variation.ecal_factor)
        e_hcal = q.e_hcal_raw * (self.setup.hcal_scale * variation.hcal_factor)
        sel = Selection(steps, before_late, e_ecal, e_hcal)
        final = sel.final
        low_ecal = e_ecal < t.box_ecal_max
        low_hcal = e_hcal < t.box_hcal_max
        sel.regions = {
            "A": final & low_ecal & (e_hcal > t.a_hcal_min),
            "C": final & (e_ecal > t.c_ecal_min) & low_hcal,
            "box": final & low_ecal & low_hcal,
        }
        return sel

    @staticmethod
    def _cut_mask(cut: Cut, q: EventQuantities, t: Thresholds, e0: float, cache: dict) -> np.ndarray:
        key = (cut.name, tuple(getattr(t, r) for r in cut.reads))
        if key not in cache:
            cache[key] = cut(q, t, e0)
        return cache[key]

    def fill(self, hists: dict, variation: str, sel: Selection, keep: np.ndarray,
             process_index: np.ndarray) -> None:
        n_codes = len(PROCESS_CODES)
        steps = np.arange(len(sel.steps))
        hists["cutflow"].fill(
            variation=variation, step=steps,
            weight=[float(np.count_nonzero(s)) for s in sel.steps],
        )
        counts = np.stack([np.bincount(process_index[s & keep], minlength=n_codes)
                           for s in sel.steps])
        hists["cutflow_by_process"].fill(
            variation=variation,
            step=np.repeat(steps, n_codes),
            process=np.tile(np.asarray(PROCESS_CODES), len(sel.steps)),
            weight=counts.ravel().astype(np.float64),
        )
        region_names = [r for r in ("A", "C", "box") if not (self.blinded and r == "box")]
        hists["regions"].fill(
            variation=variation,
            region=region_names,
            weight=[float(np.count_nonzero(sel.regions[r] & keep)) for r in region_names],
        )
        final = sel.final & keep
        hists["plane"].fill(variation=variation, e_ecal=sel.e_ecal[final], e_hcal=sel.e_hcal[final])
        early = sel.before_late & keep
        hists["plane_before_veto_chi2"].fill(
            variation=variation, e_ecal=sel.e_ecal[early], e_hcal=sel.e_hcal[early])
        c = sel.regions["C"] & keep
        hists["ecal_sideband_c"].fill(variation=variation, e_ecal=sel.e_ecal[c])
        a = sel.regions["A"] & keep
        hists["hcal_sideband_a"].fill(variation=variation, e_hcal=sel.e_hcal[a])

    # -- coffea entry point --------------------------------------------------------------
    def process(self, events) -> dict:
        meta = events.metadata
        where = {"file": meta["filename"], "entrystart": int(meta["entrystart"]),
                 "entrystop": int(meta["entrystop"])}
        try:
            columns = read_columns(events, with_truth="mc_process" in events.fields)
            out = self.process_columns(columns)
        except Exception as err:  # unreadable or non-conforming chunk
            return {"failed": [{**where, "reason": f"{type(err).__name__}: {err}"}],
                    "chunks": 1, "failed_chunks": 1}
        out["entries_by_file"] = {meta["filename"]: out["events"]}
        return out

    def process_columns(self, columns: dict[str, np.ndarray]) -> dict:
        """Steps 2-5 on the numpy columns of one chunk."""
        q = EventQuantities.compute(columns, self.reference, self.setup.hcal_modules)
        hists = book([v.name for v in self.variations], self.setup.beam_energy)
        cache: dict = {}
        selections = [self.select(q, v, cache) for v in self.variations]
        process_index = _process_index(q.mc_process)
        # Blinded, each variation hides its own box candidates and those of the nominal
        # box (the signal box proper), so no variation shows what the signal box holds
        # and adding variations leaves the nominal outputs unchanged.
        nominal_box = selections[0].regions["box"]
        everything = np.ones(len(q), bool)
        for v, sel in zip(self.variations, selections, strict=True):
            keep = ~(sel.regions["box"] | nominal_box) if self.blinded else everything
            self.fill(hists, v.name, sel, keep, process_index)
        trigger = columns["trigger"]
        return {
            "hists": hists,
            "chunks": 1,
            "failed_chunks": 0,
            "events": len(trigger),
            "physics_events": len(q),
            "calibration_events": int(np.count_nonzero(trigger & CALIBRATION_BIT)),
            "nonfinite_events": int(np.count_nonzero(~q.finite)),
            "has_truth": int("mc_process" in columns),
        }

    def postprocess(self, accumulator):
        return accumulator
