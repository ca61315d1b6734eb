"""From true deposits to measured cells: ECAL, HCAL, VETO, the ECAL time and the
hardware trigger's in-time energy. Pile-up overlays are added at the analog level so
that the event sees one noise, one zero suppression and one time measurement."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ecal as ecallib
from . import hcal as hcallib
from . import veto as vetolib
from .config import DetectorModel
from .processes import Truth
from .sampling import F32, normal


@dataclass
class Readout:
    """Measured detector quantities of n events (true energy scale)."""

    ecal: np.ndarray             # (n, 2, 6, 6) GeV
    hcal: np.ndarray             # (n, 4, 3, 3) GeV
    veto: np.ndarray             # (n, 3) MIP
    ecal_time: np.ndarray        # ns
    emiss: np.ndarray            # GeV
    trigger_energy: np.ndarray   # in-time ECAL energy seen by the physics trigger (GeV)


@dataclass
class Overlay:
    """Out-of-time beam particles added to the events ``index``."""

    index: np.ndarray
    truth: Truth
    dt: np.ndarray


def deposit(t: Truth, rng: np.random.Generator, model: DetectorModel
            ) -> tuple[ecallib.EcalSignal, hcallib.HcalSignal, np.ndarray]:
    """Analog ECAL and HCAL signals of the true deposits, and the energy muons carry out."""
    n = len(t)
    es = ecallib.EcalSignal(n, model.ecal)
    i = np.flatnonzero(t.em > 0)
    half = F32(0.5 * model.ecal.cell_size)
    central = bool(np.all((np.abs(t.x[i]) < half) & (np.abs(t.y[i]) < half)))
    es.add_em(i, t.em[i], t.x[i], t.y[i], rng, central=central)
    i = np.flatnonzero(t.em2 > 0)
    es.add_em(i, t.em2[i], t.x2[i], t.y2[i], rng, photon=True)
    i = np.flatnonzero(t.hadronic > 0)
    es.add_hadronic(i, t.hadronic[i], t.x[i], t.y[i])
    i = np.flatnonzero(t.mips > 0)
    es.add_mips(i, t.mips[i], t.x[i], t.y[i], rng)
    hs = hcallib.HcalSignal(n, model.hcal)
    i = np.flatnonzero(t.hcal > 0)
    hs.add_shower(i, t.hcal[i], t.x[i], t.y[i], t.hcal_start[i])
    escape = np.zeros(n, F32)
    for k in range(t.muons.shape[1]):
        i = np.flatnonzero(t.muons[:, k] > 0)
        escape[i] += hs.add_muons(i, t.muons[i, k], t.muon_cell[i, k], rng)
    return es, hs, escape


def digitize(t: Truth, rng: np.random.Generator, model: DetectorModel,
             overlay: Overlay | None = None) -> Readout:
    """Measured cells of the events ``t``, with optional out-of-time overlays."""
    es, hs, escape = deposit(t, rng, model)
    charged = t.charged.astype(F32)
    emiss = t.emiss + escape
    n = len(t)
    time = F32(model.ecal.time_resolution) * normal(rng, n)
    out_of_gate = np.zeros(n, F32)
    if overlay is not None and overlay.index.size:
        idx, ov = overlay.index, overlay.truth
        oes, ohs, oesc = deposit(ov, rng, model)
        base_central = ecallib.central_energy(es)[idx]
        ov_central = ecallib.central_energy(oes)
        es.add(idx, oes)
        hs.s[idx] += ohs.s
        hs.v[idx] += ohs.v
        charged[idx] += ov.charged
        emiss[idx] += ov.emiss + oesc
        # The central-cell pulse time is that of the larger of the two pulses.
        later = ov_central > base_central
        time[idx[later]] += overlay.dt[later]
        late = np.abs(overlay.dt) > F32(model.beam.trigger_gate)
        out_of_gate[idx] = np.where(late, oes.s.sum(axis=(1, 2, 3)), 0)
    ecal = ecallib.readout(es, rng)
    hcal = hcallib.readout(hs, rng)
    veto = vetolib.readout(charged, rng, model.veto)
    trig = ecal.sum(axis=(1, 2, 3), dtype=np.float64).astype(F32) - out_of_gate
    return Readout(ecal=ecal, hcal=hcal, veto=veto, ecal_time=time, emiss=emiss.astype(F32),
                   trigger_energy=trig)
