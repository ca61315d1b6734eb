"""The first pass over a period: the energy-dependent shower reference from
calibration-trigger electrons and low-energy physics-trigger electrons
(:mod:`processors.reference`).

:func:`derive_reference` reads chunks spread over the period (:func:`spread_order`) until
both samples hold enough electrons; :class:`ReferencePass` is what it read, chunks it
could not read included. :func:`stored_reference` finds a reference stored for the same inputs, to
be reused instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from processors.errors import InputError
from processors.output import ChunkFailure, ReferenceSums
from processors.reference import (
    LowEnergySelection,
    ReferenceUnavailable,
    ShowerReference,
    reference_from_output,
)
from processors.schema import TREE_NAME
from workflows.processing.catalog import Period
from workflows.processing.results import load_json
from workflows.processing.runner import coffea_runner

if TYPE_CHECKING:
    from workflows.processing.period import ProcessOptions

log = logging.getLogger(__name__)


def spread_order(n: int) -> list[int]:
    """Indices 0..n-1 in an order that spreads early picks over the whole range."""
    order, seen = [], set()
    step = n
    while len(order) < n:
        for i in range(0, n, max(step, 1)):
            if i not in seen:
                seen.add(i)
                order.append(i)
        step //= 2
        if step == 0:
            step = 1
    return order


@dataclass
class ReferencePass:
    """What the first pass read: the per-chunk sums of the reference electrons, and the
    chunks it could not read (file, entrystart, entrystop, reason)."""

    output: ReferenceSums
    central_cell: tuple[int, int]
    beam_energy: float

    @property
    def failed(self) -> list[ChunkFailure]:
        return self.output.failed

    def reference(self) -> ShowerReference:
        """The reference (raises :class:`ReferenceUnavailable` with too few electrons)."""
        try:
            return reference_from_output(self.output, self.central_cell, self.beam_energy)
        except ReferenceUnavailable as err:
            if not self.failed:
                raise
            raise ReferenceUnavailable(f"{err}; {len(self.failed)} chunk(s) of the shower "
                                       "reference pass could not be read (see 'failed')") from None


def reference_selection(period: Period) -> LowEnergySelection:
    """The thresholds of ``period`` that the low-energy electron sample reads."""
    return LowEnergySelection.of(period.cuts, period.calibration.hcal_scale, tuple(period.hcal_modules))


def derive_reference(period: Period, chunks: list, client,
                     options: ProcessOptions) -> ReferencePass:
    """First pass: electrons from chunks spread over the period, until at least
    ``reference_events`` calibration electrons AND ``reference_events`` low-energy
    electrons are found, or every chunk was read.

    Both populations are needed: the calibration electrons fix the shape at E0, the
    low-energy ones its energy dependence. The batches of chunks (2, 4, 8, ... in
    :func:`spread_order`) do not depend on the number of workers, and the sums are added
    in chunk order, so the reference does not either.
    """
    from processors.reference_processor import ShowerReferenceProcessor

    proc = ShowerReferenceProcessor(period.beam.energy, period.calibration.ecal_scale,
                                    period.cuts.ecal_central_cell, reference_selection(period))
    runner = coffea_runner(client, options, {}, f"{period.name} shower reference", status=False)
    order = spread_order(len(chunks))
    merged = ReferenceSums()
    batch = 2  # fixed, so the chosen chunks do not depend on the number of workers
    done = 0
    while done < len(order):
        picked = [chunks[i] for i in order[done:done + batch]]
        done += len(picked)
        merged += runner(picked, proc, treename=TREE_NAME) or ReferenceSums()
        if (merged.calibration_electrons >= period.reference_events
                and merged.low_energy_electrons >= period.reference_events):
            break
        batch *= 2
    log.info("%s: shower reference from %d chunk(s) of %d: %d calibration and %d low-energy "
             "electrons", period.name, done, len(order), merged.calibration_electrons,
             merged.low_energy_electrons)
    return ReferencePass(merged, period.cuts.ecal_central_cell, period.beam.energy)


def stored_reference(key: str, *paths: Path) -> ShowerReference | None:
    """The shower reference stored under the first of ``paths`` that holds one for ``key``;
    one that cannot be read is absent (with a warning)."""
    for path in paths:
        if not path.exists():
            continue
        try:
            stored = load_json(path)
            if isinstance(stored, dict) and stored.get("key") == key:
                return ShowerReference.from_json(stored)
        except InputError as err:
            log.warning("%s; derived again", err)
        except (KeyError, TypeError, ValueError) as err:
            log.warning("%s: cannot be read: not a shower reference (%s: %s); derived again",
                        path, type(err).__name__, err)
    return None
