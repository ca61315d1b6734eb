"""The coffea processor of the invisible search.

``process`` is a fixed sequence of steps on one chunk:

1. read the branches of the schema once (numpy arrays);
2. compute the per-event quantities once (E_ECAL, E_HCAL before scales, hottest
   tower, 3 x 3 fractions, shower chi2 against the period's reference at each event's
   shower energy);
3. for every variation: the cut masks (a mask is computed once per distinct set of
   thresholds it reads and shared by the variations that agree on them), the scaled
   energies and the regions;
4. blinding: events whose energies lie in the signal box (the variation's own, and
   the nominal one) are left out of every count and histogram, at every step;
5. fill the histograms.

A chunk whose file cannot be read, or does not follow the schema, is returned as a
failure record (file, entry range, reason) instead of an exception, so one bad file
never costs the rest. Any other exception (a programming error, no memory left) is
raised: Dask retries the task, and the command stops with its traceback.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import hist
import numpy as np
from coffea.processor import ProcessorABC

from processors.chunk_memory import release_previous_chunk
from processors.cuts import CHAIN, LATE_CUTS, Cut, Thresholds
from processors.histograms import PROCESS_CODES, add_tally, axis_index, book, combine_indices
from processors.output import ChunkFailure, ChunkOutput
from processors.quantities import EventQuantities, read_columns
from processors.reading import READ_ERRORS, describe
from processors.reference import ShowerReference
from processors.schema import CALIBRATION_BIT
from processors.tally import Bins, Masks, Tally, tally
from processors.variations import NOMINAL, Variation

_PROCESS_INDEX = {code: i for i, code in enumerate(PROCESS_CODES)}

#: The histograms of a chunk, by name (:func:`processors.histograms.book`).
Hists = dict[str, hist.Hist]
#: Cut masks (and scaled energies) of a chunk, by what they depend on.
MaskCache = dict[Hashable, np.ndarray]
#: What variations that agree on the first k cuts share: by the keys of those cuts, the
#: step after cut k, the depth and the events before the late cuts; by (name, scale),
#: the scaled energies.
StepsCache = dict[Hashable, Any]


@dataclass(frozen=True)
class PeriodSetup:
    """What the processor needs to know of a run period."""

    name: str
    beam_energy: float
    ecal_scale: float = 1.0
    hcal_scale: float = 1.0
    hcal_modules: tuple[int, ...] = (0, 1, 2, 3)

    def scales(self, variation: Variation) -> tuple[float, float]:
        """The ECAL and HCAL energy scales of a variation: E = scale x raw sum."""
        return self.ecal_scale * variation.ecal_factor, self.hcal_scale * variation.hcal_factor


def chunk_quantities(columns: Mapping[str, np.ndarray], setup: PeriodSetup,
                     reference: ShowerReference) -> EventQuantities:
    """The per-event quantities of a chunk's physics events: the one call that both the
    processor and the explorer (:mod:`workflows.explore`) make."""
    return EventQuantities.compute(columns, reference, setup.hcal_modules, ecal_scale=setup.ecal_scale)


def plane_regions(final: Any, e_ecal: Any, e_hcal: Any, t: Thresholds) -> tuple[Any, dict[str, Any]]:
    """Events in the signal box (at any step), and the regions A, C and box of the events
    passing the chain (``final``). Elementwise only, so numpy and dask-awkward arrays
    alike (the explorer calls it on its lazy columns)."""
    low_ecal = e_ecal < t.box_ecal_max
    low_hcal = e_hcal < t.box_hcal_max
    in_box = low_ecal & low_hcal
    regions = {
        "A": final & low_ecal & (e_hcal > t.a_hcal_min),
        "C": final & (e_ecal > t.c_ecal_min) & low_hcal,
        "box": final & in_box,
    }
    return in_box, regions


@dataclass
class Selection:
    """The masks of one variation on one chunk."""

    steps: list[np.ndarray]  # cumulative: steps[0] all physics events, steps[k] after cut k
    before_late: np.ndarray
    e_ecal: np.ndarray
    e_hcal: np.ndarray
    #: per event, how many cuts of the chain it passes in a row (steps[k] is depth >= k)
    depth: np.ndarray
    #: events whose (E_ECAL, E_HCAL) lie in this variation's signal box, at any step
    in_box: np.ndarray
    regions: dict[str, np.ndarray]

    @property
    def final(self) -> np.ndarray:
        return self.steps[-1]


def _process_lookup() -> np.ndarray:
    """Position on the process axis of every int8 mc_process code (offset by 128); codes
    outside SCHEMA.md's list count as "no MC truth"."""
    lookup = np.full(256, _PROCESS_INDEX[-1], np.int64)
    for code, i in _PROCESS_INDEX.items():
        lookup[code + 128] = i
    return lookup


_PROCESS_LOOKUP = _process_lookup()


def _process_index(codes: np.ndarray) -> np.ndarray:
    return _PROCESS_LOOKUP[codes.astype(np.intp) + 128]


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
    def select(self, q: EventQuantities, variation: Variation, cache: MaskCache,
               steps_cache: StepsCache | None = None) -> Selection:
        """Cut masks, scaled energies and regions of one variation.

        ``cache`` is shared by the variations of a chunk: each cut mask is computed once
        per distinct set of thresholds it reads. With ``steps_cache`` (also shared),
        variations that agree on the thresholds of the first k cuts share their first k
        cumulative steps, and those with the same energy scales their scaled energies.
        """
        if steps_cache is None:
            steps_cache = {}
        t = variation.thresholds
        e0 = self.setup.beam_energy
        step = np.ones(len(q), bool)
        steps = [step]
        depth = np.zeros(len(q), np.uint8)
        before_late = step
        prefix: tuple[Hashable, ...] = ()
        for cut in CHAIN:
            prefix += (self._cut_key(cut, t),)
            if prefix not in steps_cache:
                mask = self._cut_mask(cut, q, t, e0, cache)
                after = step & mask
                steps_cache[prefix] = (
                    after, depth + after,
                    before_late if cut.name in LATE_CUTS else before_late & mask)
            step, depth, before_late = steps_cache[prefix]
            steps.append(step)
        ecal_scale, hcal_scale = self.setup.scales(variation)
        e_ecal = self._scaled(steps_cache, "e_ecal", q.e_ecal_raw, ecal_scale)
        e_hcal = self._scaled(steps_cache, "e_hcal", q.e_hcal_raw, hcal_scale)
        in_box, regions = plane_regions(steps[-1], e_ecal, e_hcal, t)
        return Selection(steps, before_late, e_ecal, e_hcal, depth, in_box, regions)

    @staticmethod
    def _cut_key(cut: Cut, t: Thresholds) -> tuple[Hashable, ...]:
        return (cut.name, tuple(getattr(t, r) for r in cut.reads))

    @classmethod
    def _cut_mask(cls, cut: Cut, q: EventQuantities, t: Thresholds, e0: float,
                  cache: MaskCache) -> np.ndarray:
        key = cls._cut_key(cut, t)
        if key not in cache:
            cache[key] = cut(q, t, e0)
        return cache[key]

    @staticmethod
    def _scaled(cache: StepsCache, name: str, raw: np.ndarray, scale: float) -> np.ndarray:
        if (name, scale) not in cache:
            cache[(name, scale)] = raw * scale
        scaled: np.ndarray = cache[(name, scale)]
        return scaled

    def _region_names(self) -> list[str]:
        return [r for r in ("A", "C", "box") if not (self.blinded and r == "box")]

    def fill_counts(self, hists: Hists, variations: Sequence[str], t: Tally) -> None:
        """The count histograms (cutflow, by process, regions, box by process) of all
        variations from a chunk's tally, one fill each (one entry per bin)."""
        n_var = len(variations)
        names = np.asarray(variations)
        # The steps are nested, so the events after step k are those of depth >= k: the
        # counts per depth, summed from the deepest step down.
        by_process = t.by_depth[:, ::-1].cumsum(axis=1)[:, ::-1]
        n_steps = by_process.shape[1]
        steps = np.arange(n_steps)
        hists["cutflow"].fill(
            variation=np.repeat(names, n_steps), step=np.tile(steps, n_var),
            weight=by_process.sum(axis=2).ravel().astype(np.float64),
        )
        codes = np.asarray(PROCESS_CODES)
        hists["cutflow_by_process"].fill(
            variation=np.repeat(names, n_steps * len(codes)),
            step=np.tile(np.repeat(steps, len(codes)), n_var),
            process=np.tile(codes, n_steps * n_var),
            weight=by_process.ravel().astype(np.float64),
        )
        region_names = self._region_names()
        hists["regions"].fill(
            variation=np.repeat(names, len(region_names)), region=np.tile(region_names, n_var),
            weight=t.regions[:, :len(region_names)].ravel().astype(np.float64),
        )
        if not self.blinded:
            hists["box_by_process"].fill(
                variation=np.repeat(names, len(codes)), process=np.tile(codes, n_var),
                weight=t.box_by_process.ravel().astype(np.float64),
            )

    @staticmethod
    def bins(hists: Hists, selections: Sequence[Selection]) -> Bins:
        """The histogram bins of the events any variation may fill (those passing its
        cuts before the late ones), computed once per distinct pair of energy arrays
        (variations with the same scales share them), binned by hist's own axes."""
        events = np.flatnonzero(np.logical_or.reduce([s.before_late for s in selections]))
        position = np.full(len(selections[0].before_late), -1, np.intp)
        position[events] = np.arange(len(events))
        # Each distinct energy array is binned once per axis: the planes and the E_ECAL
        # spectrum share their E_ECAL axis.
        ecal_axis, hcal_axis = hists["plane"].axes["e_ecal"], hists["plane"].axes["e_hcal"]
        spectrum_axis = hists["hcal_sideband_a"].axes["e_hcal"]
        binned: dict[tuple[str, int], np.ndarray] = {}

        def index(kind: str, values: np.ndarray, axis: Any) -> np.ndarray:
            if (kind, id(values)) not in binned:
                binned[(kind, id(values))] = axis_index(axis, values[events])
            return binned[(kind, id(values))]

        rows: dict[tuple[int, int], int] = {}
        plane, e_ecal, e_hcal = [], [], []
        for sel in selections:
            key = (id(sel.e_ecal), id(sel.e_hcal))
            if key in rows:
                continue
            rows[key] = len(rows)
            ecal = index("ecal", sel.e_ecal, ecal_axis)
            plane.append(combine_indices(hists["plane"], {
                "e_ecal": ecal, "e_hcal": index("hcal", sel.e_hcal, hcal_axis)}))
            e_ecal.append(ecal)
            e_hcal.append(index("spectrum", sel.e_hcal, spectrum_axis))
        scale_of = np.array([rows[(id(s.e_ecal), id(s.e_hcal))] for s in selections], np.intp)
        return Bins(position, scale_of, np.stack(plane), np.stack(e_ecal), np.stack(e_hcal))

    @staticmethod
    def fill_events(hists: Hists, variations: Sequence[str], t: Tally) -> None:
        """The planes and sideband spectra of all variations from a chunk's tally."""
        for name, counts in (("plane_before_veto_chi2", t.plane_before_late), ("plane", t.plane),
                             ("ecal_sideband_c", t.ecal_sideband_c),
                             ("hcal_sideband_a", t.hcal_sideband_a)):
            add_tally(hists[name], variations, counts)

    # -- coffea entry point --------------------------------------------------------------
    def process(self, events: Any) -> ChunkOutput:
        release_previous_chunk(every=64)  # little is left per chunk: see the function
        meta = events.metadata
        try:
            columns = read_columns(events, with_truth="mc_process" in events.fields)
        except READ_ERRORS as err:  # unreadable or non-conforming chunk; anything else is a bug
            return ChunkOutput.failure(ChunkFailure.of(meta, describe(err)))
        out = self.process_columns(columns)
        out.entries_by_file = {meta["filename"]: out.events}
        return out

    def process_columns(self, columns: dict[str, np.ndarray]) -> ChunkOutput:
        """Steps 2-5 on the numpy columns of one chunk."""
        q = chunk_quantities(columns, self.setup, self.reference)
        hists = book([v.name for v in self.variations], self.setup.beam_energy)
        cache: MaskCache = {}
        steps_cache: StepsCache = {}
        selections = [self.select(q, v, cache, steps_cache) for v in self.variations]
        process_index = _process_index(q.mc_process)
        # Blinded, events in the signal box are excluded from the analysis at every step
        # (as in the NA64 blind analyses, seeds/002: "Events from the signal box were
        # excluded from the analysis"): each variation hides its own box region and the
        # nominal one, so no output of any variation holds what the signal box holds, and
        # adding variations leaves the nominal outputs unchanged.
        nominal_box = selections[0].in_box
        masks = Masks(
            depth=np.stack([sel.depth for sel in selections]),
            keep=(np.stack([~(sel.in_box | nominal_box) for sel in selections]) if self.blinded
                  else np.ones((len(selections), len(q)), bool)),
            before_late=np.stack([sel.before_late for sel in selections]),
            region_a=np.stack([sel.regions["A"] for sel in selections]),
            region_c=np.stack([sel.regions["C"] for sel in selections]),
            region_box=np.stack([sel.regions["box"] for sel in selections]),
        )
        names = [v.name for v in self.variations]
        plane, ecal, hcal = (hists[h].view(flow=True)[0].size
                             for h in ("plane", "ecal_sideband_c", "hcal_sideband_a"))
        counted = tally(masks, process_index, self.bins(hists, selections), len(CHAIN) + 1,
                        len(PROCESS_CODES), (plane, ecal, hcal))
        self.fill_counts(hists, names, counted)
        self.fill_events(hists, names, counted)
        trigger = columns["trigger"]
        return ChunkOutput(
            hists=hists,
            chunks=1,
            events=len(trigger),
            physics_events=len(q),
            calibration_events=int(np.count_nonzero(trigger & CALIBRATION_BIT)),
            nonfinite_events=int(np.count_nonzero(~q.finite)),
            has_truth="mc_process" in columns,
        )

    def postprocess(self, accumulator: ChunkOutput) -> ChunkOutput:
        return accumulator
