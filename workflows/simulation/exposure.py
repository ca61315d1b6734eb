"""A sample for an exposure: per-EOT rates of the strata, their prescale and their counts.

For an exposure of N electrons (positrons) on target, stratum s is expected
``rate_s N`` times; the strata that can reach the sidebands or the box are generated at
that rate (Poisson counts), the others (``Stratum.prescaled``) at ``rate_s N / P_s``,
each with its own integer prescale P_s: the smallest keeping it at or below an equal
share of ``SimulationConfig.prescaled_events`` (or one prescale asked for all of them). A written event of a
prescaled stratum stands for P triggers: its ``mc_prescale`` branch says so, and
``simulation.json`` lists every stratum's rate, expectation, prescale and count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import srd as srdlib
from . import strata as st
from .config import SimulationConfig, hadron_scale
from .processes import Context
from .strata import Stratum


@dataclass(frozen=True)
class StratumRate:
    """A stratum's rate per EOT and where the number comes from."""

    stratum: Stratum
    per_eot: float
    source: str


@dataclass(frozen=True)
class StratumPlan:
    """A stratum of one sample: its rate, expectation, prescale and drawn count."""

    rate: StratumRate
    expected: float
    prescale: int
    generated: int

    def to_dict(self) -> dict[str, Any]:
        s = self.rate.stratum
        return {"stratum": s.name, "mc_process": s.process, "rate_per_eot": self.rate.per_eot,
                "expected_triggers": self.expected, "prescale": self.prescale,
                "generated": self.generated, "source": self.rate.source}


@dataclass(frozen=True)
class ExposurePlan:
    """What a sample of ``eot`` holds before generation."""

    eot: float
    #: The prescale asked for every prescaled stratum (None: each its own).
    prescale: int | None
    strata: tuple[StratumPlan, ...]
    calibration_events: int

    @property
    def physics_events(self) -> int:
        return sum(p.generated for p in self.strata)

    def labels(self, rng: np.random.Generator) -> np.ndarray:
        """Generator labels of the physics triggers, in a random order (int8)."""
        labels = np.concatenate([np.full(p.generated, p.rate.stratum.label, np.int8)
                                 for p in self.strata]) if self.strata else np.zeros(0, np.int8)
        rng.shuffle(labels)
        return labels

    def prescales(self) -> tuple[tuple[int, int], ...]:
        """(label, prescale) of every stratum."""
        return tuple((p.rate.stratum.label, p.prescale) for p in self.strata)

    def to_dict(self) -> dict[str, Any]:
        return {"eot": self.eot, "prescale": self.prescale,
                "calibration_events": self.calibration_events,
                "physics_events": self.physics_events,
                "strata": [p.to_dict() for p in self.strata]}


def stratum_rates(config: SimulationConfig, e0: float, particle: str,
                  srd_window: tuple[float, float] = (1.0, 100.0)) -> list[StratumRate]:
    """Per-EOT trigger rates of every stratum for a beam of ``e0`` GeV ``particle``
    (rates are those quoted for 100 GeV electrons; the beam hadrons follow the particle)."""
    model = config.detector
    r, b = config.rates, model.beam
    ctx = Context(model=model, e0=e0, hadron_scale=hadron_scale(model, particle),
                  srd_window=srd_window)
    h = (b.hadron_fraction + b.muon_fraction) * ctx.hadron_scale
    p_tag = srdlib.tag_probability("hadron", e0, model.srd, *srd_window)
    neutral = st.neutral_share(ctx)
    clean = st.clean_share(ctx)
    table = f"seeds/002 Table 1 ({r.table_eot:.3g} EOT)"
    e_plus = " x positron factor" if particle == "e+" else ""
    return [
        StratumRate(st.ELECTRON_TAIL, r.electron_tail, "estimate: H4 low-momentum tail"),
        StratumRate(st.ELECTRON_LOSS, r.electron_loss, "estimate"),
        StratumRate(st.ELECTROPRODUCTION_NEUTRAL, r.electroproduction * neutral,
                    f"effective rate (estimate) x neutral share {neutral:.3f} (model)"),
        StratumRate(st.ELECTROPRODUCTION_CHARGED, r.electroproduction * (1 - neutral),
                    "effective rate (estimate) x charged share (model)"),
        StratumRate(st.DIMUON, r.dimuon, "seeds/002: ~1e4 clean mu mu in 4.3e10 EOT"),
        StratumRate(st.LOST_DIMUON, r.lost_dimuon_box / r.table_eot, f"{table}: loss of dimuons"),
        StratumRate(st.HADRON_TAGGED, h * p_tag,
                    f"beam hadron + muon fraction{e_plus} (seeds/000-001) x SRD fake tag "
                    f"{p_tag:.2g} (model)"),
        StratumRate(st.HADRON_UNTAGGED, h * (1 - p_tag),
                    f"beam hadron + muon fraction{e_plus} (seeds/000-001)"),
        StratumRate(st.HADRON_INTERACTION, r.hadron_interaction_box / r.table_eot * ctx.hadron_scale,
                    f"{table}: mu, pi, K interactions in the target{e_plus}"),
        StratumRate(st.DECAY_IN_FLIGHT, r.decay_in_flight_box / r.table_eot * ctx.hadron_scale,
                    f"{table}: mu, pi, K decays in flight{e_plus}"),
        StratumRate(st.UPSTREAM_CLEAN, r.upstream * clean,
                    f"estimate x clean share {clean:.3f} (model)"),
        StratumRate(st.UPSTREAM_DIRTY, r.upstream * (1 - clean), "estimate x dirty share (model)"),
    ]


def plan_exposure(config: SimulationConfig, eot: float, e0: float, particle: str,
                  seed: np.random.SeedSequence, srd_window: tuple[float, float] = (1.0, 100.0),
                  prescale: int | None = None) -> ExposurePlan:
    """Rates, prescale and Poisson counts of the strata of a sample of ``eot``; every
    stratum draws its count from its own child of ``seed``, so the counts of the strata
    at their true rate do not depend on the prescale."""
    if not eot > 0:
        raise ValueError(f"the exposure must be > 0 EOT, got {eot}")
    if prescale is not None and prescale < 1:
        raise ValueError(f"the prescale must be >= 1, got {prescale}")
    rates = stratum_rates(config, e0, particle, srd_window)
    share = config.prescaled_events / max(1, sum(r.stratum.prescaled for r in rates))
    plans = []
    for r, child in zip(rates, seed.spawn(len(rates)), strict=True):
        k = 1
        if r.stratum.prescaled:
            k = prescale if prescale is not None else max(1, math.ceil(r.per_eot * eot / share))
        mean = r.per_eot * eot / k
        count = int(np.random.default_rng(child).poisson(mean))
        plans.append(StratumPlan(r, r.per_eot * eot, k, count))
    return ExposurePlan(eot, prescale, tuple(plans), config.exposure_calibration_events)
