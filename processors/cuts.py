"""The selection chain of the invisible search, written as data.

``CHAIN`` is the ordered cut list of the NA64 papers (PRD 97, 072002; PRL 123, 121801;
the 2016-2018 and 2021-2022 analyses in ``shared/seeds``). Every threshold lives in
:class:`Thresholds`, with its default and its source; a run period may override any
of them in its catalog (``cuts:``), and systematic variations shift them.

A cut is a named predicate over :class:`processors.quantities.EventQuantities`
(numpy arrays of one chunk) and the thresholds; it returns a boolean mask. The cuts
never look at E_ECAL or E_HCAL totals: those define the regions (box, sidebands A, C).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from processors.quantities import EventQuantities


class Thresholds(BaseModel):
    """Every number the selection and the regions depend on.

    Energies are in GeV unless stated; the momentum window is relative to the
    period's beam energy so that 100 +- 3 GeV becomes 150 +- 4.5 GeV at 150 GeV.
    Every value is finite (an infinite edge would silently remove a cut).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # (i) incoming track: "momentum 100 +- 3 GeV and a small angle" (PRD 97, 072002,
    # seeds/002; the 2016-2018 selection (i)). Relative half-width: 3/100.
    momentum_window: float = Field(0.03, gt=0, lt=1)
    # "small angle with respect to the beam axis": the seeds give no number; the H4
    # electron beam divergence is a few tenths of a mrad, so 1 mrad keeps > 99 % of
    # beam electrons while rejecting the wide tracks of upstream interactions (estimate).
    max_angle: float = Field(1.0, gt=0, description="mrad")
    # (ii) SRD: energy "within the SR range emitted by e-" in each of the three
    # modules. SR per electron: ~30 photons of ~MeV in the LYSO SRD (seeds/003), i.e.
    # ~10 MeV per module; hadrons emit (m_e/m)^4 less. Window per module (estimate).
    srd_min: float = Field(1.0, ge=0, description="MeV, each module")
    srd_max: float = Field(100.0, gt=0, description="MeV, each module")
    # Pile-up: the ECAL pulse must be in time with the trigger (seeds/003, "Timing
    # (pile up suppression)"); +-4.5 ns is 3 sigma of a 1.5 ns time resolution (estimate).
    ecal_time_window: float = Field(4.5, gt=0, description="ns, half-width")
    # (iv) "No multiple hits activity in the Straw": exactly this many straw tracks.
    straw_tracks: int = Field(1, ge=0)
    # (iii) shower shape: the hottest cell is the one the beam is aimed at (SCHEMA.md:
    # cell (3, 3)), and the lateral shape agrees with electron showers of the period.
    ecal_central_cell: tuple[int, int] = (3, 3)
    # The seeds give no number for the shower chi2. The chi2 sums nine squared pulls
    # (3 x 3 cells) against the reference at the event's shower energy; 19.0 is the
    # 97.5 % quantile of a chi2 with 9 degrees of freedom (19.02). It was 21.7 (99 %)
    # while the reference was that of 100 GeV electrons at every energy: with the spread
    # now growing as the energy falls, 19.0 keeps the rejection of hadron
    # electroproduction at least where 21.7 had it (85.2 % vs 84.9 % of the events
    # reaching the cut, simulated 2022, 200k events) and keeps >= 91 % of the A' showers
    # reaching it at every mass from 1 MeV to 1 GeV (README, "Shower shape").
    chi2_max: float = Field(19.0, gt=0)
    # (iv) "No energy deposition in the V2 counter exceeding about half of the energy
    # deposited by the minimum ionizing particle" (seeds/002, X -> ee analysis), applied
    # to each VETO counter.
    veto_max: float = Field(0.5, gt=0, description="MIP, each counter")

    # Regions of the (E_ECAL, E_HCAL) plane (SCHEMA.md; seeds/000: "Signal window:
    # E_ECAL < 47-50 GeV, E_HCAL < 1 GeV, depending on the run conditions").
    box_ecal_max: float = Field(50.0, gt=0)
    box_hcal_max: float = Field(1.0, gt=0)
    # Sideband edges; None means "the box edge". Sideband C: E_ECAL > sideband_c_ecal_min,
    # E_HCAL < box_hcal_max. Sideband A: E_ECAL < box_ecal_max, E_HCAL > sideband_a_hcal_min.
    sideband_c_ecal_min: float | None = Field(None, gt=0)
    sideband_a_hcal_min: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> Thresholds:
        if self.srd_min >= self.srd_max:
            raise ValueError(f"srd_min ({self.srd_min}) must be below srd_max ({self.srd_max})")
        if self.sideband_c_ecal_min is not None and self.sideband_c_ecal_min < self.box_ecal_max:
            raise ValueError("sideband_c_ecal_min must not reach into the signal box")
        if self.sideband_a_hcal_min is not None and self.sideband_a_hcal_min < self.box_hcal_max:
            raise ValueError("sideband_a_hcal_min must not reach into the signal box")
        x, y = self.ecal_central_cell
        if not (0 <= x < 6 and 0 <= y < 6):
            raise ValueError(f"ecal_central_cell {self.ecal_central_cell} is outside the 6 x 6 ECAL")
        return self

    @property
    def c_ecal_min(self) -> float:
        return self.box_ecal_max if self.sideband_c_ecal_min is None else self.sideband_c_ecal_min

    @property
    def a_hcal_min(self) -> float:
        return self.box_hcal_max if self.sideband_a_hcal_min is None else self.sideband_a_hcal_min


@dataclass(frozen=True)
class Cut:
    """One named cut of the chain: a predicate and the thresholds it reads."""

    name: str
    description: str
    predicate: Callable[[EventQuantities, Thresholds, float], np.ndarray]
    reads: tuple[str, ...]

    def __call__(self, q: EventQuantities, t: Thresholds, beam_energy: float) -> np.ndarray:
        return self.predicate(q, t, beam_energy)


def _finite(q: EventQuantities, t: Thresholds, e0: float) -> np.ndarray:
    return q.finite


def _in_time(q: EventQuantities, t: Thresholds, e0: float) -> np.ndarray:
    inside: np.ndarray = np.abs(q.ecal_time) < t.ecal_time_window
    return inside


def _momentum(q: EventQuantities, t: Thresholds, e0: float) -> np.ndarray:
    # NaN (no single reconstructed track) fails both comparisons.
    return np.abs(q.beam_momentum - e0) < t.momentum_window * e0


def _angle(q: EventQuantities, t: Thresholds, e0: float) -> np.ndarray:
    return q.beam_angle < t.max_angle


def _srd(q: EventQuantities, t: Thresholds, e0: float) -> np.ndarray:
    # every module within (srd_min, srd_max): the lowest above, the highest below
    return (q.srd_lowest > t.srd_min) & (q.srd_highest < t.srd_max)


def _straw(q: EventQuantities, t: Thresholds, e0: float) -> np.ndarray:
    matches: np.ndarray = q.straw_tracks == t.straw_tracks
    return matches


def _central(q: EventQuantities, t: Thresholds, e0: float) -> np.ndarray:
    x, y = t.ecal_central_cell
    central: np.ndarray = q.hottest_cell == 6 * x + y
    return central


def _chi2(q: EventQuantities, t: Thresholds, e0: float) -> np.ndarray:
    return q.chi2 < t.chi2_max


def _veto(q: EventQuantities, t: Thresholds, e0: float) -> np.ndarray:
    # every counter below veto_max: the highest one is
    return q.veto_highest < t.veto_max


#: The chain, in the papers' order. The cutflow's first entry counts all
#: physics-trigger events; each following entry counts the events left after a cut.
CHAIN: tuple[Cut, ...] = (
    Cut("finite_energies", "calorimeter, VETO and SRD energies are finite numbers", _finite, ()),
    Cut("in_time", "ECAL pulse in time with the trigger (against pile-up)", _in_time,
        ("ecal_time_window",)),
    Cut("momentum", "a single incoming track with momentum E0 +- 3 %", _momentum,
        ("momentum_window",)),
    Cut("angle", "small incoming-track angle (against upstream interactions)", _angle,
        ("max_angle",)),
    Cut("srd_tag", "synchrotron radiation in all three SRD modules (electron tag)", _srd,
        ("srd_min", "srd_max")),
    Cut("single_straw_track", "exactly one straw track in front of the ECAL", _straw,
        ("straw_tracks",)),
    Cut("central_cell", "the hottest ECAL cell is the one the beam is aimed at", _central,
        ("ecal_central_cell",)),
    Cut("shower_chi2", "lateral shower shape compatible with an electron shower", _chi2,
        ("chi2_max",)),
    Cut("veto", "no charged particle in any VETO counter", _veto, ("veto_max",)),
)

#: Name of the cutflow's first entry (all physics-trigger events).
FIRST_ENTRY = "physics_trigger"

#: Cuts that the "before VETO and shower chi2" plane leaves out.
LATE_CUTS = ("shower_chi2", "veto")


def cut_names() -> list[str]:
    """Cutflow entries in chain order, the first being all physics-trigger events."""
    return [FIRST_ENTRY, *(c.name for c in CHAIN)]


def describe_chain(t: Thresholds, beam_energy: float) -> list[tuple[str, str]]:
    """The chain as (name, human-readable condition) pairs, for printing."""
    e0 = beam_energy
    x, y = t.ecal_central_cell
    text = {
        "finite_energies": "all energies finite",
        "in_time": f"|t_ECAL| < {t.ecal_time_window:g} ns",
        "momentum": f"|p - {e0:g}| < {t.momentum_window * e0:g} GeV",
        "angle": f"theta < {t.max_angle:g} mrad",
        "srd_tag": f"{t.srd_min:g} < E_SRD,i < {t.srd_max:g} MeV (i = 1, 2, 3)",
        "single_straw_track": f"straw tracks == {t.straw_tracks}",
        "central_cell": f"hottest ECAL cell == ({x}, {y})",
        "shower_chi2": f"chi2 < {t.chi2_max:g}",
        "veto": f"E_VETO,i < {t.veto_max:g} MIP (i = 1, 2, 3)",
    }
    return [(c.name, text[c.name]) for c in CHAIN]
