"""A systematic variation as the processor sees it: energy-scale factors and thresholds."""

from __future__ import annotations

from dataclasses import dataclass

from processors.cuts import Thresholds

NOMINAL = "nominal"


@dataclass(frozen=True)
class Variation:
    """One evaluation of the selection on the same events.

    ``ecal_factor`` and ``hcal_factor`` multiply the period's energy scales;
    ``thresholds`` replace the period's nominal thresholds. ``correlated`` is for the fit
    (the processor does not read it): one nuisance parameter for all periods, or one per
    period.
    """

    name: str
    thresholds: Thresholds
    ecal_factor: float = 1.0
    hcal_factor: float = 1.0
    correlated: bool = True


def nominal(thresholds: Thresholds) -> Variation:
    return Variation(NOMINAL, thresholds)
