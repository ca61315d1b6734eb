"""Strata of a sample generated for an exposure, and their generators.

A physics-trigger process splits into strata by a property of its truth that decides
whether the event can reach the end of the selection (or the sidebands): full-energy
showers against low-momentum-tail electrons, clean against dirty upstream interactions,
neutral against charged electroproduction, beam hadrons with an accidental SRD tag
against those without. The strata that can reach the sidebands or the box are generated
at their true rate; the abundant rest (``prescaled``) may be prescaled. Three strata are
mechanisms of seeds/002 Table 1 that the enrichment processes lack: lost dimuons,
beam mu/pi/K interactions with the rest unseen, and decays in flight.

Every stratum has an internal generator label (>= 10) and writes its process's
mc_process code (SCHEMA.md has no finer code: both beam-hadron mechanisms are process 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import processes as proc
from .processes import Context, Truth
from .sampling import F32


@dataclass(frozen=True)
class Stratum:
    """One stratum: its generator label, name, mc_process code and whether it may be
    prescaled (it cannot reach the sidebands or the box)."""

    label: int
    name: str
    process: int
    prescaled: bool


ELECTRON_TAIL = Stratum(10, "electron_tail", proc.ELECTRON, True)
ELECTRON_LOSS = Stratum(11, "electron_loss", proc.ELECTRON, False)
ELECTROPRODUCTION_NEUTRAL = Stratum(12, "electroproduction_neutral", proc.ELECTROPRODUCTION, False)
ELECTROPRODUCTION_CHARGED = Stratum(13, "electroproduction_charged", proc.ELECTROPRODUCTION, True)
DIMUON = Stratum(14, "dimuon", proc.DIMUON, True)
LOST_DIMUON = Stratum(15, "lost_dimuon", proc.DIMUON, False)
HADRON_TAGGED = Stratum(16, "beam_hadron_srd_tagged", proc.BEAM_HADRON, False)
HADRON_UNTAGGED = Stratum(17, "beam_hadron_untagged", proc.BEAM_HADRON, True)
HADRON_INTERACTION = Stratum(18, "beam_hadron_interaction_unseen", proc.BEAM_HADRON, False)
DECAY_IN_FLIGHT = Stratum(19, "beam_decay_in_flight", proc.BEAM_HADRON, False)
UPSTREAM_CLEAN = Stratum(20, "upstream_clean", proc.UPSTREAM, False)
UPSTREAM_DIRTY = Stratum(21, "upstream_dirty", proc.UPSTREAM, True)

STRATA: tuple[Stratum, ...] = (
    ELECTRON_TAIL, ELECTRON_LOSS, ELECTROPRODUCTION_NEUTRAL, ELECTROPRODUCTION_CHARGED, DIMUON,
    LOST_DIMUON, HADRON_TAGGED, HADRON_UNTAGGED, HADRON_INTERACTION, DECAY_IN_FLIGHT,
    UPSTREAM_CLEAN, UPSTREAM_DIRTY,
)
BY_LABEL = {s.label: s for s in STRATA}

#: mc_process code of every internal label (index label + 1; CALIBRATION = -1 -> 0).
_CODE_OF = np.zeros(128, np.int8)
for _code in range(7):
    _CODE_OF[_code + 1] = _code
for _s in STRATA:
    _CODE_OF[_s.label + 1] = _s.process


def code_of(labels: np.ndarray) -> np.ndarray:
    """mc_process codes (int8) of internal labels (calibration: 0)."""
    return _CODE_OF[labels.astype(np.intp) + 1]


Parts = Callable[[np.random.Generator, int, Context], tuple[Truth, np.ndarray]]


def select(rng: np.random.Generator, n: int, ctx: Context, make: Parts, want: bool) -> Truth:
    """n events of ``make`` whose stratum mask equals ``want`` (by rejection)."""
    out = Truth.empty(n)
    filled, factor = 0, 1.5
    while filled < n:
        m = int((n - filled) * factor) + 16
        t, mask = make(rng, m, ctx)
        hit = mask == want
        idx = np.flatnonzero(hit)[: n - filled]
        out.put(np.arange(filled, filled + idx.size), t.take(idx))
        filled += idx.size
        factor = 1.2 / max(float(hit.mean()), 1e-3)
    return out


def forced_tag(rng: np.random.Generator, n: int, ctx: Context) -> np.ndarray:
    """SRD energies (n, 3) of a hadron or muon whose three modules all fired on knock-on
    electrons inside the analysis window: the accidental tag, drawn conditionally
    (exponential of the fake mean energy truncated to the window, plus noise)."""
    srd = ctx.model.srd
    lo, hi = ctx.srd_window
    mu = srd.fake_mean_energy
    a, b = np.exp(-lo / mu), np.exp(-hi / mu)
    u = rng.random((n, 3))
    e = -mu * np.log(a - u * (a - b))
    noise = srd.noise * rng.standard_normal((n, 3))
    return np.clip(e + noise, lo * 1.0001, hi * 0.9999).astype(F32)


def _tag_mask(t: Truth, ctx: Context) -> np.ndarray:
    lo, hi = ctx.srd_window
    return np.all((t.srd > lo) & (t.srd < hi), axis=1)


def _electron_parts(rng: np.random.Generator, n: int, ctx: Context) -> tuple[Truth, np.ndarray]:
    return proc.electron_shower_parts(rng, n, ctx)


def _electroproduction_parts(rng: np.random.Generator, n: int, ctx: Context
                             ) -> tuple[Truth, np.ndarray]:
    t = proc.electroproduction(rng, n, ctx)
    return t, t.charged == 0


def _hadron_parts(rng: np.random.Generator, n: int, ctx: Context) -> tuple[Truth, np.ndarray]:
    t = proc.beam_hadron(rng, n, ctx)
    return t, _tag_mask(t, ctx)


def hadron_tagged(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """A beam hadron or muon with an accidental SRD tag (otherwise process 3 as usual)."""
    t = proc.beam_hadron(rng, n, ctx)
    t.srd = forced_tag(rng, n, ctx)
    return t


def _em_leading(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """A beam particle (E0, clean track, accidental SRD tag) that leaves an EM shower of
    a fraction f ~ U(0.05, 0.45) of its energy in the ECAL (inside the box at any beam
    energy, the box being E_ECAL < 0.5 E0), the rest carried away unseen."""
    m = ctx.model
    t = Truth.empty(n)
    from . import beam as beamlib

    p = beamlib.true_momentum(rng, ctx.e0, n, m.beam)
    t.momentum = beamlib.measure_momentum(rng, p, m.beam, 0.0)
    t.angle = beamlib.angle(rng, m.beam.angle_sigma, n)
    t.straw = beamlib.straw_clean(rng, n, m.straw)
    t.srd = forced_tag(rng, n, ctx)
    t.x, t.y = beamlib.spot(rng, n, m.beam)
    f = rng.uniform(0.05, 0.45, n).astype(F32)
    t.em = p * f
    t.emiss = p - t.em
    return t


def hadron_interaction(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """seeds/002 "mu, pi, K interactions in the target": a leading pi0/eta shower (charge
    exchange, diffractive) while the neutral hadrons leave unseen (estimate of the mechanism)."""
    return _em_leading(rng, n, ctx)


def decay_in_flight(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """seeds/002 "mu -> e nu nu, pi, K -> e nu, K_e3 decays": the decay electron showers,
    the neutrinos carry the rest."""
    return _em_leading(rng, n, ctx)


def lost_dimuon(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """A dimuon event whose muons escape unseen (no MIP, VETO or HCAL signal) with the
    remaining shower in the box (photon fraction x > 0.55)."""
    def make(r: np.random.Generator, m: int, c: Context) -> tuple[Truth, np.ndarray]:
        t = proc.dimuon(r, m, c)
        return t, t.em < 0.45 * c.e0

    t = select(rng, n, ctx, make, True)
    p_gamma = np.sum(t.muons, axis=1) + 2 * F32(ctx.model.ecal.mip)
    t.emiss = p_gamma.astype(F32)
    t.mips[:] = 0
    t.muons[:] = 0
    t.charged[:] = 0
    return t


def _upstream_parts(rng: np.random.Generator, n: int, ctx: Context) -> tuple[Truth, np.ndarray]:
    return proc.upstream_parts(rng, n, ctx)


def _stratum(make: Parts, want: bool) -> proc.Generator:
    def gen(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
        return select(rng, n, ctx, make, want)
    return gen


GENERATORS: dict[int, proc.Generator] = {
    ELECTRON_TAIL.label: _stratum(_electron_parts, True),
    ELECTRON_LOSS.label: _stratum(_electron_parts, False),
    ELECTROPRODUCTION_NEUTRAL.label: _stratum(_electroproduction_parts, True),
    ELECTROPRODUCTION_CHARGED.label: _stratum(_electroproduction_parts, False),
    DIMUON.label: proc.dimuon,
    LOST_DIMUON.label: lost_dimuon,
    HADRON_TAGGED.label: hadron_tagged,
    HADRON_UNTAGGED.label: _stratum(_hadron_parts, False),
    HADRON_INTERACTION.label: hadron_interaction,
    DECAY_IN_FLIGHT.label: decay_in_flight,
    UPSTREAM_CLEAN.label: _stratum(_upstream_parts, True),
    UPSTREAM_DIRTY.label: _stratum(_upstream_parts, False),
}


def triggered_share(make: Parts, ctx: Context, n: int = 100_000, seed: int = 20261201) -> float:
    """Share of events with mask True among those passing the hardware trigger, from the
    truth (in-time ECAL energy: EM, hadronic and MIP deposits below trigger_fraction E0;
    the resolution's smearing of the edge is neglected), with a fixed seed."""
    rng = np.random.default_rng(seed)
    t, mask = make(rng, n, ctx)
    e = t.em + t.em2 + t.hadronic + t.mips * F32(ctx.model.ecal.mip)
    trig = e < ctx.model.trigger_fraction * ctx.e0
    return float(mask[trig].mean()) if trig.any() else 0.0


def neutral_share(ctx: Context) -> float:
    """Share of neutral (no charged secondary through the VETO) electroproduction triggers."""
    return triggered_share(_electroproduction_parts, ctx)


def clean_share(ctx: Context) -> float:
    """Share of clean-looking upstream interactions among their triggers."""
    return triggered_share(_upstream_parts, ctx)
