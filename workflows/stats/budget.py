"""The box background by source: the MC truth of unblinded simulated samples beside the
sideband estimate and the published budget (seeds/002 Table 1).

Only summaries of files with MC truth that were processed unblinded carry the box
events by ``mc_process`` (``truth_box_by_process``); data never do, and a blinded
summary never holds them. The budget checks the data-driven sideband method against the
truth of the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from workflows.stats.fit import PeriodBackground

#: mc_process of A' signal events (SCHEMA.md): listed only where a sample holds some.
SIGNAL_CODE = 6
#: Exposure of the published budget: "Expected background for 2.95e11 EOT" (seeds/002).
PUBLISHED_EOT = 2.95e11


@dataclass(frozen=True)
class PublishedSource:
    """A row of seeds/002 Table 1 (events for :data:`PUBLISHED_EOT`); ``upper`` for "<"."""

    source: str
    events: float
    error: float
    upper: bool = False


#: seeds/002 Table 1 by the SCHEMA.md process the row belongs to (SCHEMA.md has one code
#: for beam hadrons and muons: interactions and decays in flight are both process 3).
PUBLISHED_BY_PROCESS: dict[int, tuple[PublishedSource, ...]] = {
    0: (PublishedSource("punchthrough gammas, cracks, holes", 0.01, 0.0, upper=True),),
    2: (PublishedSource("loss of dimuons", 0.024, 0.007),),
    3: (PublishedSource("mu, pi, K interactions in the target", 0.044, 0.014),
        PublishedSource("mu, pi, K decays in flight", 0.02, 0.01)),
    4: (PublishedSource("e- interactions in the beam line", 0.43, 0.16),),
    5: (PublishedSource("accidental SR tag and mu, pi, K decays", 0.01, 0.0, upper=True),),
}
PUBLISHED_TOTAL = PublishedSource("total", 0.53, 0.17)


@dataclass(frozen=True)
class BudgetRow:
    """Box events of one true process: the truth count, and the published budget scaled
    to the exposure (None where the table has no row)."""

    process: str
    truth: int
    published: float | None
    published_error: float | None
    published_upper: bool
    published_sources: tuple[str, ...]

    @property
    def truth_error(self) -> float:
        """Poisson error of the truth count (1.15: the 68 % upper bound of 0 observed)."""
        return math.sqrt(self.truth) if self.truth else 1.15

    def to_json(self) -> dict[str, Any]:
        return {"process": self.process, "truth": self.truth,
                "published": self.published, "published_error": self.published_error,
                "published_upper_limit": self.published_upper,
                "published_sources": list(self.published_sources)}


@dataclass(frozen=True)
class BackgroundBudget:
    """The truth budget of the periods with MC truth, the sideband estimate of the same
    periods, and the published budget scaled to their exposure."""

    periods: tuple[str, ...]
    eot: float
    rows: tuple[BudgetRow, ...]
    sideband: float
    sideband_error: float

    @property
    def truth_total(self) -> int:
        return sum(r.truth for r in self.rows)

    @property
    def scale(self) -> float:
        """Exposure over the published budget's."""
        return self.eot / PUBLISHED_EOT

    @property
    def published_total(self) -> tuple[float, float]:
        return PUBLISHED_TOTAL.events * self.scale, PUBLISHED_TOTAL.error * self.scale

    def to_json(self) -> dict[str, Any]:
        total, error = self.published_total
        return {"periods": list(self.periods), "eot": self.eot,
                "note": ("box events by mc_process from the MC truth of unblinded simulated "
                         f"samples; published: seeds/002 Table 1 ({PUBLISHED_EOT:.3g} EOT) "
                         "scaled to this exposure"),
                "by_process": [r.to_json() for r in self.rows],
                "truth_total": self.truth_total,
                "sideband_estimate": {"total": self.sideband, "error": self.sideband_error},
                "published_total": {"total": total, "error": error}}


def background_budget(backgrounds: Sequence[PeriodBackground]) -> BackgroundBudget | None:
    """The budget of the periods whose summaries carry the truth box (None: no such period)."""
    with_truth = [b for b in backgrounds if b.truth_box is not None]
    if not with_truth:
        return None
    eot = sum(b.eot for b in with_truth)
    scale = eot / PUBLISHED_EOT
    counts: dict[str, int] = {}
    for b in with_truth:
        assert b.truth_box is not None
        for name, k in b.truth_box.items():
            counts[name] = counts.get(name, 0) + k
    rows = []
    for name in sorted(counts, key=lambda n: int(n.split()[0])):
        code = int(name.split()[0])
        if code == SIGNAL_CODE and not counts[name]:
            continue
        published = PUBLISHED_BY_PROCESS.get(code, ())
        value = sum(p.events for p in published) * scale if published else None
        error = math.hypot(*(p.error for p in published)) * scale if published else None
        rows.append(BudgetRow(name, counts[name], value, error,
                              bool(published) and all(p.upper for p in published),
                              tuple(p.source for p in published)))
    sideband = sum(b.background for b in with_truth)
    sideband_error = math.hypot(*(b.error for b in with_truth))
    return BackgroundBudget(tuple(b.period for b in with_truth), eot, tuple(rows), sideband,
                            sideband_error)
