"""The model's own expectation of signal-box events (E_ECAL < 50, E_HCAL < 1 GeV after the
selection) in a background sample: what an empty box at demo exposure is measured against.

Only three mechanisms of the model can put a background event in the box:
- upstream interactions (process 4) that lose more than E0 - 50 GeV and still look clean
  (one track, E0 momentum, small angle): the steep exp(-0.48 Delta/GeV) tail;
- hadron electroproduction (process 1) whose hadrons all escape as neutrals;
- full-energy showers losing more than E0 - 50 GeV in dead material (process 0).
Everything else is excluded by construction (tail electrons fail the momentum window by
tens of sigma, muons always reach the HCAL, hadrons need a fake SRD tag (5.5e-6) and
deposit their energy in the HCAL, pile-up adds energy). The efficiencies of the upstream
cuts are applied analytically; the shower chi2, the central cell and the VETO are taken
as fully efficient (conservative).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from . import srd as srdlib
from .config import DetectorModel, SimulationConfig

if TYPE_CHECKING:  # pragma: no cover
    from .exposure import ExposurePlan


def _phi(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF."""
    return np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in np.ravel(z)]).reshape(np.shape(z))


def _ecal_sigma(e: np.ndarray, model: DetectorModel) -> np.ndarray:
    ec = model.ecal
    e = np.maximum(e, 1e-3)
    rel2 = ec.stochastic**2 / e + ec.constant**2 + model.beam.energy_spread**2
    return e * np.sqrt(rel2)


def tag_efficiency(model: DetectorModel, e0: float, cuts, angle_sigma: float | None = None
                   ) -> float:
    """Analytic efficiency of the in-time, momentum, angle, SRD and straw cuts for a clean
    electron of E0 (a beam electron, a signal recoil or a clean-looking upstream event)."""
    b = model.beam
    sigma_t = model.ecal.time_resolution
    in_time = math.erf(cuts.ecal_time_window / sigma_t / math.sqrt(2))
    sp = math.hypot(b.energy_spread, b.spectrometer_resolution)
    momentum = math.erf(cuts.momentum_window / sp / math.sqrt(2)) * (1 - b.tracking_inefficiency)
    s = angle_sigma if angle_sigma is not None else b.angle_sigma
    angle = 1 - math.exp(-cuts.max_angle**2 / (2 * s * s))
    srd = srdlib.tag_probability("electron", e0, model.srd, cuts.srd_min, cuts.srd_max)
    straw = (1 - model.straw.p_zero - model.straw.p_two) if cuts.straw_tracks == 1 else 0.0
    return in_time * momentum * angle * srd * straw


def box_background(model: DetectorModel, e0: float, pileup: float, n_physics: int, cuts
                   ) -> dict[str, float]:
    """Expected box events among ``n_physics`` physics triggers, per mechanism and total."""
    per_event = _per_event(model, float(e0), float(pileup), cuts)
    return {k: v * n_physics for k, v in per_event.items()}


@lru_cache(maxsize=32)
def _per_event(model: DetectorModel, e0: float, pileup: float, cuts) -> dict[str, float]:
    pm = model.processes
    share = pm.shares
    in_time = 1 - pileup
    trig = model.trigger_fraction * e0
    box = cuts.box_ecal_max

    # Upstream interactions: Delta = E0 y, y = y_min + Exp(tau); clean with s(y).
    y = np.linspace(pm.upstream_loss_min, 0.99, 4001)
    dy = y[1] - y[0]
    p = np.exp(-(y - pm.upstream_loss_min) / pm.upstream_loss_tau) / pm.upstream_loss_tau
    s = np.minimum(pm.upstream_clean_max * np.exp(-pm.upstream_clean_slope * (y - 0.2)), 1)
    e = e0 * (1 - y)
    sig = _ecal_sigma(e, model)
    p_trig = np.sum(p * _phi((trig - e) / sig)) * dy
    p_box = np.sum(p * s * _phi((box - e) / sig)) * dy / p_trig
    eff_up = tag_efficiency(model, e0, cuts, pm.upstream_angle_clean)
    upstream = in_time * share[4] * p_box * eff_up

    # Electroproduction with all hadrons escaping: E_ECAL = (1 - f) E0 (nothing deposited by
    # the hadrons), while ordinary events trigger when E_ECAL = (1 - h) E0 < trig.
    rng = np.random.default_rng(20240501)
    h = pm.hadron_f_min ** (1 - rng.random(200_000))
    f = h / (1 - (1 - h) * rng.beta(*pm.hadron_ecal_share, h.size))
    p_trig1 = np.mean((1 - h) * e0 < trig)
    p_f = np.mean((1 - f) * e0 < box)
    eff = tag_efficiency(model, e0, cuts)
    escape = in_time * share[1] * pm.hadron_all_escape * p_f / p_trig1 * eff

    # Full-energy showers losing >= E0 - box into dead material (not into the HCAL).
    y = np.linspace(pm.shower_loss_min, 0.95, 4001)
    dy = y[1] - y[0]
    p = np.exp(-(y - pm.shower_loss_min) / pm.shower_loss_mean) / pm.shower_loss_mean
    e = e0 * (1 - y)
    sig = _ecal_sigma(e, model)
    p_box = np.sum(p * _phi((box - e) / sig)) * dy / (np.sum(p * _phi((trig - e) / sig)) * dy)
    shower = (in_time * share[0] * (1 - pm.electron_tail_share) * (1 - pm.shower_loss_to_hcal)
              * p_box * eff)
    total = upstream + escape + shower
    return {"upstream_interaction": float(upstream), "hadron_electroproduction": float(escape),
            "electron_shower": float(shower), "total": float(total)}


def exposure_box_background(config: SimulationConfig, plan: ExposurePlan | dict[str, float],
                            e0: float, pileup: float, cuts: Any) -> dict[str, float]:
    """Expected box events of a sample generated for an exposure, by mechanism: the
    model's tails of :func:`box_background` per triggered event of their process times
    the process's trigger count, and the seeds/002 Table 1 strata (lost dimuons, beam
    hadron interactions, decays in flight) times the efficiency of the upstream cuts
    without the SRD (their SRD tag is drawn as fired). ``plan``: the sample's plan, or the
    expected triggers by stratum name."""
    model = config.detector
    pm = model.processes
    share = pm.shares
    per = _per_event(model, float(e0), float(pileup), cuts)
    expected = (plan if isinstance(plan, dict) else
                {p.rate.stratum.name: p.expected for p in plan.strata})
    upstream = per["upstream_interaction"] / share[4] * (
        expected["upstream_clean"] + expected["upstream_dirty"]) if share[4] else 0.0
    escape = per["hadron_electroproduction"] / share[1] * (
        expected["electroproduction_neutral"] + expected["electroproduction_charged"]
    ) if share[1] else 0.0
    loss_share = share[0] * (1 - pm.electron_tail_share)
    shower = per["electron_shower"] / loss_share * expected["electron_loss"] if loss_share else 0.0
    eff = tag_efficiency(model, e0, cuts) / srdlib.tag_probability(
        "electron", e0, model.srd, cuts.srd_min, cuts.srd_max) * (1 - pileup)
    out = {"upstream_interaction": upstream, "hadron_electroproduction": escape,
           "electron_shower": shower,
           "dimuon": eff * expected["lost_dimuon"],
           "beam_hadron": eff * (expected["beam_hadron_interaction_unseen"]
                                 + expected["beam_decay_in_flight"])}
    out["total"] = sum(out.values())
    return {k: float(v) for k, v in out.items()}


def box_background_per_eot(config: SimulationConfig, e0: float, particle: str, pileup: float,
                           cuts: Any) -> dict[str, float]:
    """The model's expected box events per EOT, by mechanism, at the per-EOT rates."""
    from .exposure import stratum_rates

    rates = stratum_rates(config, e0, particle, (cuts.srd_min, cuts.srd_max))
    return exposure_box_background(config, {r.stratum.name: r.per_eot for r in rates}, e0,
                                   pileup, cuts)
