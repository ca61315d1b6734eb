"""What happens to each beam particle: the true deposits of every process.

A generator returns a :class:`Truth` (one array per quantity, one entry per event):
the measured beam quantities (spectrometer momentum, angle, straw tracks, SRD), which
only depend on what happened upstream, and the true deposits the detectors then see
(EM showers, hadronic deposits, MIP tracks, muons, charged particles crossing the VETO,
energy escaping). :mod:`detector` turns deposits into cell energies.

Process codes (SCHEMA.md ``mc_process``): 0 electron shower, 1 hadron electroproduction
in the ECAL, 2 dimuon, 3 beam hadron (and beam muon), 4 upstream interaction, 5 pile-up,
6 A' -> invisible signal. Numbers come from :class:`~.config.ProcessModel` and the other
models, each documented there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from . import beam as beamlib
from . import srd as srdlib
from .config import DetectorModel, interaction_depth
from .ecal import cell_edges
from .hcal import muon_cells
from .sampling import F32, categorical, exponential, gamma_cdf, log_uniform

ELECTRON, ELECTROPRODUCTION, DIMUON, BEAM_HADRON, UPSTREAM, PILEUP, SIGNAL = range(7)
PROCESS_NAMES = {
    ELECTRON: "electron_shower",
    ELECTROPRODUCTION: "hadron_electroproduction",
    DIMUON: "dimuon",
    BEAM_HADRON: "beam_hadron",
    UPSTREAM: "upstream_interaction",
    PILEUP: "pileup",
    SIGNAL: "aprime_invisible",
}
MUON_MASS = 0.10566


@dataclass
class Context:
    """What every generator needs: the model, the beam energy, the period's pile-up."""

    model: DetectorModel
    e0: float
    pileup: float = 0.0
    sample_fraction: Callable[[int, np.random.Generator], np.ndarray] | None = None
    #: Beam hadrons and muons per beam lepton relative to the e- beam (positrons: 10).
    hadron_scale: float = 1.0
    #: SRD analysis window (MeV) of the period: what an accidental tag must fall into.
    srd_window: tuple[float, float] = (1.0, 100.0)


@dataclass
class Truth:
    """True quantities of n events (float32 unless noted)."""

    momentum: np.ndarray      # measured by the spectrometer (GeV), NaN: no single track
    angle: np.ndarray         # mrad
    straw: np.ndarray         # int16
    srd: np.ndarray           # (n, 3) MeV as measured (SR or knock-on electrons, noise)
    x: np.ndarray             # impact on the ECAL face (mm, from the centre of cell (3, 3))
    y: np.ndarray
    em: np.ndarray            # EM shower energy entering at (x, y)
    em2: np.ndarray           # a second EM (photon) shower at (x2, y2)
    x2: np.ndarray
    y2: np.ndarray
    hadronic: np.ndarray      # hadronic deposit in the ECAL around (x, y)
    mips: np.ndarray          # minimum-ionising tracks crossing the ECAL at (x, y)
    hcal: np.ndarray          # energy entering the HCAL as a shower
    hcal_start: np.ndarray    # depth (lambda) that shower has already developed
    muons: np.ndarray         # (n, 2) energy of muons entering the HCAL (0: none)
    muon_cell: np.ndarray     # (n, 2) int8 HCAL cell x*3+y of each muon
    charged: np.ndarray       # int16, charged particles through the VETO
    emiss: np.ndarray         # energy lost invisibly before the HCAL (GeV)

    @classmethod
    def empty(cls, n: int) -> Truth:
        def z() -> np.ndarray:
            return np.zeros(n, F32)

        return cls(
            momentum=z(), angle=z(), straw=np.ones(n, np.int16), srd=np.zeros((n, 3), F32),
            x=z(), y=z(), em=z(), em2=z(), x2=z(), y2=z(), hadronic=z(), mips=z(), hcal=z(),
            hcal_start=z(), muons=np.zeros((n, 2), F32), muon_cell=np.full((n, 2), 4, np.int8),
            charged=np.zeros(n, np.int16), emiss=z(),
        )

    def __len__(self) -> int:
        return len(self.em)

    def put(self, idx: np.ndarray, other: Truth) -> None:
        """Write ``other`` into the events ``idx``."""
        for f in fields(self):
            getattr(self, f.name)[idx] = getattr(other, f.name)

    def take(self, idx: np.ndarray) -> Truth:
        """The events ``idx`` as a new Truth."""
        return Truth(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def _clean_electron(rng: np.random.Generator, n: int, ctx: Context,
                    fraction_lost_upstream: np.ndarray | None = None) -> tuple[Truth, np.ndarray]:
    """A beam electron with clean upstream signatures; returns its truth and true energy.

    With ``fraction_lost_upstream`` the electron radiated that share of its energy before
    the spectrometer (low-momentum tail): it is measured, radiates SR and showers with
    what is left.
    """
    m = ctx.model
    t = Truth.empty(n)
    p = beamlib.true_momentum(rng, ctx.e0, n, m.beam)
    if fraction_lost_upstream is not None:
        p = (p * (1 - fraction_lost_upstream)).astype(F32)
    t.momentum = beamlib.measure_momentum(rng, p, m.beam, 0.0)
    t.angle = beamlib.angle(rng, m.beam.angle_sigma, n)
    t.straw = beamlib.straw_clean(rng, n, m.straw)
    t.srd = srdlib.electron(rng, p, m.srd)
    t.x, t.y = beamlib.spot(rng, n, m.beam)
    t.em = p.copy()
    return t, p


def calibration(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """Calibration trigger: unbiased full-energy beam electrons (mc_process 0)."""
    return _clean_electron(rng, n, ctx)[0]


def signal(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """A' -> invisible: the A' takes x E0 (x from the sampler); the recoil electron showers."""
    if ctx.sample_fraction is None:
        raise ValueError("signal events need a sampler of x = E_A'/E0")
    t, p = _clean_electron(rng, n, ctx)
    x = np.clip(np.asarray(ctx.sample_fraction(n, rng), np.float64), 0.0, 1.0).astype(F32)
    if x.shape != (n,):
        raise ValueError(f"the signal sampler returned shape {x.shape}, expected ({n},)")
    t.em = p * (F32(1) - x)
    t.emiss = p * x
    return t


def _brems_fraction(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    """Photon energy fraction y from the bremsstrahlung spectrum (4/3 - 4/3 y + y^2)/y
    (complete screening, PDG), by acceptance from ~1/y (acceptance >= 2/3)."""
    out = np.empty(0)
    while out.size < n:
        k = int(1.6 * (n - out.size)) + 16
        y = log_uniform(rng, lo, hi, k)
        ok = rng.random(k) < 1 - y + 0.75 * y * y
        out = np.concatenate([out, y[ok]])
    return out[:n]


def electron_shower(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """Process 0 physics triggers: low-momentum-tail electrons, and full-energy showers
    that lose part of their energy (cracks and dead material, or into the HCAL)."""
    return electron_shower_parts(rng, n, ctx)[0]


def electron_shower_parts(rng: np.random.Generator, n: int, ctx: Context
                          ) -> tuple[Truth, np.ndarray]:
    """:func:`electron_shower` and which events are low-momentum-tail electrons."""
    pm = ctx.model.processes
    tail = rng.random(n) < pm.electron_tail_share
    t = Truth.empty(n)
    k = int(tail.sum())
    if k:
        y = _brems_fraction(rng, pm.shower_loss_min, 0.995, k)
        tt, p = _clean_electron(rng, k, ctx, fraction_lost_upstream=y)
        tt.emiss = (p / (1 - y) * y).astype(F32)
        t.put(np.flatnonzero(tail), tt)
    k = n - k
    if k:
        tt, p = _clean_electron(rng, k, ctx)
        loss = (ctx.e0 * (pm.shower_loss_min + exponential(rng, pm.shower_loss_mean, k)))
        loss = np.minimum(loss, 0.95 * p).astype(F32)
        tt.em = p - loss
        to_hcal = rng.random(k) < pm.shower_loss_to_hcal
        tt.hcal = np.where(to_hcal, loss, 0).astype(F32)
        tt.hcal_start = np.zeros(k, F32)
        tt.emiss = np.where(to_hcal, 0, loss).astype(F32)
        t.put(np.flatnonzero(~tail), tt)
    return t, tail


def electroproduction(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """Process 1: the electron's shower produces hadrons (region II).

    The hadronic energy that reaches the HCAL, h E0, falls like 1/h (virtual-photon flux)
    above h_min (the trigger needs E_ECAL < ~0.8 E0); the hadrons leave a share g of their
    energy f E0 = h E0/(1 - g) in the ECAL, g = (1 - h) b with b ~ Beta (so that f <= 1).
    """
    pm = ctx.model.processes
    t, p = _clean_electron(rng, n, ctx)
    h = log_uniform(rng, pm.hadron_f_min, 1.0, n)
    g = (1 - h) * rng.beta(*pm.hadron_ecal_share, n)
    f = h / (1 - g)
    esc = np.minimum(exponential(rng, pm.hadron_escape_mean, n), 1.0)
    charged = rng.poisson(pm.hadron_charged_base + pm.hadron_charged_slope * f)
    lost = rng.random(n) < pm.hadron_all_escape
    g[lost], esc[lost], charged[lost] = 0.0, 1.0, 0
    had = f * p
    t.em = (p - had).astype(F32)
    t.hadronic = (g * had).astype(F32)
    t.hcal = ((1 - g) * had * (1 - esc)).astype(F32)
    t.emiss = ((1 - g) * had * esc).astype(F32)
    t.charged = charged.astype(np.int16)
    return t


def dimuon(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """Process 2: e Z -> e Z gamma, gamma Z -> mu+ mu- Z (region I: ~10 GeV in the HCAL)."""
    pm = ctx.model.processes
    t, p = _clean_electron(rng, n, ctx)
    x = _brems_fraction(rng, pm.dimuon_x_min, 1.0 - 1e-3, n)
    e_gamma = x * p
    delta = np.minimum(MUON_MASS / e_gamma, 0.49)
    # x+ from 1 - 4/3 x+ x- on [delta, 1 - delta] (acceptance >= 2/3)
    xp = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        u = delta[todo] + (1 - 2 * delta[todo]) * rng.random(todo.size)
        ok = rng.random(todo.size) * 1.0 < 1 - 4 / 3 * u * (1 - u)
        xp[todo[ok]] = u[ok]
        todo = todo[~ok]
    e_mu = np.stack([xp * e_gamma, (1 - xp) * e_gamma], axis=1)
    mip = ctx.model.ecal.mip
    t.em = (p - e_gamma).astype(F32)
    t.mips = np.full(n, 2, F32)
    t.muons = np.maximum(e_mu - mip, 0).astype(F32)
    t.muon_cell = muon_cells(rng, 2 * n, ctx.model.hcal).reshape(n, 2)
    t.charged = np.full(n, 2, np.int16)
    return t


def beam_particle(rng: np.random.Generator, n: int, ctx: Context, muon: np.ndarray,
                  tags: bool = True) -> Truth:
    """A beam hadron (pi, K, pbar treated alike) or muon entering the ECAL at E0.

    ``tags``: draw the upstream signatures (for pile-up overlays they are not needed).
    """
    m = ctx.model
    t = Truth.empty(n)
    p = beamlib.true_momentum(rng, ctx.e0, n, m.beam)
    if tags:
        t.momentum = beamlib.measure_momentum(rng, p, m.beam, 0.0)
        t.angle = beamlib.angle(rng, m.beam.angle_sigma, n)
        t.straw = beamlib.straw_clean(rng, n, m.straw)
        t.srd = srdlib.non_radiating(rng, n, m.srd)
    t.x, t.y = beamlib.spot(rng, n, m.beam)
    mip = F32(m.ecal.mip)
    # Hadrons: interaction depth t (lambda) in the ECAL, exponential, 1 - exp(-L) interact.
    depth = interaction_depth(m)
    u = rng.random(n)
    t_int = -np.log1p(-u)
    interacts = (t_int < depth) & ~muon
    passes = ~interacts
    b = m.hcal.longitudinal_b
    a = 1 + b * (0.2 * np.log(ctx.e0) + 0.7)
    inside = gamma_cdf(np.full(n, a), b * np.maximum(depth - t_int, 0.0))
    had = np.where(interacts, inside * p, 0.0)
    t.hadronic = had.astype(F32)
    t.mips = np.where(interacts, t_int / depth, 1.0).astype(F32)
    t.hcal = np.where(interacts, p - had, np.where(muon, 0.0, p - mip)).astype(F32)
    t.hcal_start = np.where(interacts, depth - t_int, 0.0).astype(F32)
    t.muons[:, 0] = np.where(muon, np.maximum(p - mip, 0), 0).astype(F32)
    t.muon_cell[:, 0] = muon_cells(rng, n, m.hcal)
    after = rng.poisson(ctx.model.processes.hadron_charged_after_interaction, n)
    t.charged = np.where(interacts, after, np.where(passes, 1, 0)).astype(np.int16)
    return t


def muon_share(ctx: Context) -> float:
    """Share of muons among beam hadrons + muons (beam composition; both scale alike
    with the beam particle, so the share is that of the electron beam)."""
    b = ctx.model.beam
    return b.muon_fraction / (b.muon_fraction + b.hadron_fraction)


def beam_hadron(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """Process 3: beam pi, K, pbar and beam muons (documented: muons are process 3 too)."""
    return beam_particle(rng, n, ctx, rng.random(n) < muon_share(ctx))


def upstream(rng: np.random.Generator, n: int, ctx: Context) -> Truth:
    """Process 4: the electron interacts in beam-line material upstream of the ECAL.

    It arrives with E0 - Delta; the secondaries leave at wide angles. With probability
    s(Delta) the event looks clean upstream (one track, small angle, momentum E0).
    """
    return upstream_parts(rng, n, ctx)[0]


def upstream_parts(rng: np.random.Generator, n: int, ctx: Context) -> tuple[Truth, np.ndarray]:
    """:func:`upstream` and which events look clean upstream."""
    m, pm = ctx.model, ctx.model.processes
    t, p = _clean_electron(rng, n, ctx)
    y = np.minimum(pm.upstream_loss_min + exponential(rng, pm.upstream_loss_tau, n), 0.99)
    loss = (y * p).astype(F32)
    s = np.minimum(pm.upstream_clean_max * np.exp(-pm.upstream_clean_slope * (y - 0.2)), 1.0)
    clean = rng.random(n) < s
    t.em = p - loss
    t.emiss = loss.copy()
    t.angle = beamlib.angle(rng, np.where(clean, pm.upstream_angle_clean,
                                          pm.upstream_angle_dirty).astype(F32), n)
    dirty = np.flatnonzero(~clean)
    k = dirty.size
    if k:
        before = rng.random(k) < pm.upstream_before_spectrometer
        p_seen = np.where(before, p[dirty] - loss[dirty], p[dirty]).astype(F32)
        t.momentum[dirty] = beamlib.measure_momentum(rng, p_seen, m.beam, pm.upstream_no_track)
        srd = srdlib.electron(rng, p_seen, m.srd)
        srdlib.spray(rng, srd, m.srd)
        t.srd[dirty] = srd
        t.straw[dirty] = (2 + rng.poisson(pm.upstream_extra_tracks, k)).astype(np.int16)
        # A photon radiated upstream reaching the ECAL off axis: extra energy taken from
        # the electron on top of the loss Delta (which stays what the ECAL misses).
        photon = rng.random(k) < pm.upstream_photon
        share = np.where(photon, rng.uniform(0.2, 0.8, k), 0.0)
        em2 = np.minimum(share * loss[dirty], 0.9 * t.em[dirty]).astype(F32)
        t.em[dirty] -= em2
        t.em2[dirty] = em2
        edges = cell_edges(m.ecal)
        lo, hi = float(edges[0]), float(edges[-1])
        t.x2[dirty] = rng.uniform(lo, hi, k).astype(F32)
        t.y2[dirty] = rng.uniform(lo, hi, k).astype(F32)
        neutral = rng.random(k) < pm.upstream_neutral_hcal
        to_hcal = (np.where(neutral, rng.uniform(0.0, 0.5, k), 0.0) * loss[dirty]).astype(F32)
        t.hcal[dirty] = to_hcal
        t.charged[dirty] = (rng.random(k) < pm.upstream_charged_veto).astype(np.int16)
        t.emiss[dirty] = loss[dirty] - to_hcal
    return t, clean


#: Internal label of calibration-trigger events (written as mc_process 0).
CALIBRATION = -1

GENERATORS: dict[int, Callable[[np.random.Generator, int, Context], Truth]] = {
    CALIBRATION: calibration,
    ELECTRON: electron_shower,
    ELECTROPRODUCTION: electroproduction,
    DIMUON: dimuon,
    BEAM_HADRON: beam_hadron,
    UPSTREAM: upstream,
    SIGNAL: signal,
}


Generator = Callable[[np.random.Generator, int, Context], Truth]


def generate(rng: np.random.Generator, labels: np.ndarray, ctx: Context,
             extra: dict[int, Generator] | None = None) -> Truth:
    """Truth for events of the given labels (0-4, 6; CALIBRATION; and the labels of
    ``extra``, e.g. the strata of :mod:`.strata`), drawn label by label."""
    generators = {**GENERATORS, **(extra or {})}
    t = Truth.empty(len(labels))
    for code in sorted(generators):
        idx = np.flatnonzero(labels == code)
        if idx.size:
            t.put(idx, generators[code](rng, idx.size, ctx))
    return t


def overlay(rng: np.random.Generator, n: int, ctx: Context) -> tuple[Truth, np.ndarray]:
    """Out-of-time beam particles for pile-up: a full-energy electron, hadron or muon by
    the beam composition, arriving uniformly within +-window ns of the trigger."""
    b = ctx.model.beam
    h, mu = b.hadron_fraction * ctx.hadron_scale, b.muon_fraction * ctx.hadron_scale
    kind = categorical(rng, np.array([1 - h - mu, h, mu]), n)
    t = Truth.empty(n)
    el = np.flatnonzero(kind == 0)
    if el.size:
        tt = Truth.empty(el.size)
        p = beamlib.true_momentum(rng, ctx.e0, el.size, b)
        tt.x, tt.y = beamlib.spot(rng, el.size, b)
        tt.em = p
        t.put(el, tt)
    other = np.flatnonzero(kind > 0)
    if other.size:
        t.put(other, beam_particle(rng, other.size, ctx, kind[other] == 2, tags=False))
    dt = rng.uniform(-b.pileup_window, b.pileup_window, n).astype(F32)
    return t, dt


def choose_processes(rng: np.random.Generator, n: int, ctx: Context
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Process labels (0-4) of n in-time physics triggers and their pile-up flags (the
    beam-hadron share scaled by the beam's hadron contamination, ``ctx.hadron_scale``)."""
    shares = np.array(ctx.model.processes.shares)
    if ctx.hadron_scale != 1.0:
        shares[BEAM_HADRON] *= ctx.hadron_scale
        shares /= shares.sum()
    labels = categorical(rng, shares, n)
    pileup = rng.random(n) < ctx.pileup
    return labels, pileup
