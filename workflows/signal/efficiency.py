"""Signal efficiency per run period and A' mass, from A' samples through the same
processors as the data.

A signal sample is described by a signal catalog (:mod:`workflows.processing.catalog`):
its files, its mass, the number of A' ``generated`` with E_A' above the box threshold
(E0 - box edge, the yield's definition) and the data period whose conditions it
simulates. Each sample is processed unblinded with that period's cuts and calibration
and a shower reference from the sample's own electrons, exactly as a data period is
(:mod:`processors.reference`: calibration triggers at E0 and low-energy physics-trigger
electrons for the energy dependence), and

    efficiency = (signal events in the box after all cuts) / generated

and, per systematic variation, the same with that variation's box count.

Samples come from signal catalogs (anybody's simulation, :func:`measure_samples`) or
from the project's simulation (:func:`measure`), which writes its samples with signal
catalogs (``OUTPUT/signal/catalogs/``) and then measures them the same way. The
simulated A' events carry the period's pile-up, so the pile-up loss is included.

Why the sample's own reference and not the data period's: the A' recoil electron leaves
a 0-50 GeV shower, and the chi2 efficiency to measure is that of the cut on electron
showers of that energy in the conditions the sample simulates. A reference derived from
the sample's own electrons (simulated with the same detector as its recoil showers, and
derived by the same code as the data's) measures exactly that; the data period's
reference applied to simulated showers would also measure any difference between the
simulated and the real shower shape, and would tie the efficiency to a processed data
result. So the simulated samples carry low-energy electrons: :data:`ELECTRON_SHARE` of
their physics triggers are process-0 electrons (the period's low-momentum tail, through
the simulation's own electron-shower process), about 4 per A' event, which gives the
reference's energy bins down to ~1 GeV enough electrons at the default 2000 A' events.
They never reach the box (their momentum is below the window, or their shower is at E0).
A foreign sample without such electrons gets the reference's logged fallback.

The table needs every period at every mass: samples whose periods have different mass
sets are refused (naming what is missing) rather than extrapolated.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from processors.errors import ConfigurationError, InputError, ProcessingError
from processors.variations import NOMINAL
from workflows.processing.catalog import (
    CatalogError,
    Period,
    SignalSample,
    load_catalog,
    load_signal_samples,
)
from workflows.processing.results import load_json, write_json
from workflows.signal.samples import signal_variations, write_processing_catalogs, write_signal_catalogs

log = logging.getLogger(__name__)

DEFAULT_MASSES = (0.002, 0.02, 0.2, 0.9)
#: Share of a simulated signal sample's physics triggers that are process-0 electrons
#: (for the energy dependence of its shower reference; see the module docstring).
ELECTRON_SHARE = 0.8
#: Electrons a simulated signal sample's shower reference asks for (its catalog's
#: ``reference_events``): a 2000-event sample has about 1100 calibration electrons, all of
#: which its reference uses; a data period's 20 000 would warn for every sample.
SIGNAL_REFERENCE_EVENTS = 1000
EFFICIENCY_FILE = "signal_efficiency.json"
DEFINITION = ("signal events in the box after all cuts / A' generated with E_A' > E0 - box edge "
              "(pile-up included in the simulation)")


def mass_tag(mass: float) -> str:
    return f"m{mass * 1e3:g}MeV".replace(".", "p")


@dataclass(frozen=True)
class EfficiencyTable:
    """Efficiencies per period at a few masses; interpolated linearly in log(mass).

    ``variations`` holds, per systematic variation (``ecal_scale_up``, ...), the
    efficiencies of the same signal samples with that variation's selection: variation
    name -> period -> one value per mass (empty when the signal was processed without
    variations).
    """

    masses: tuple[float, ...]
    efficiency: dict[str, tuple[float, ...]]
    variations: dict[str, dict[str, tuple[float, ...]]] = field(default_factory=dict)

    def at(self, period: str, mass: np.ndarray | float, variation: str = NOMINAL) -> np.ndarray:
        """The efficiency of ``period`` at ``mass`` (GeV), nominal or of ``variation``."""
        values = self.efficiency[period] if variation == NOMINAL else self.variations[variation][period]
        m = np.log(np.asarray(mass, dtype=float))
        return np.interp(m, np.log(self.masses), values)

    @classmethod
    def read(cls, path: Path) -> EfficiencyTable:
        d = load_json(path)
        variations = {name: {k: tuple(v) for k, v in by_period.items()}
                      for name, by_period in d.get("variations", {}).items()}
        return cls(tuple(d["masses"]), {k: tuple(v) for k, v in d["efficiency"].items()}, variations)


def table_layout(samples: Sequence[SignalSample]) -> tuple[list[str], list[float]]:
    """The periods and masses (sorted) of the table of ``samples``; :class:`CatalogError` when
    a period lacks a sample at a mass another period has (no extrapolation)."""
    masses = sorted({s.mass for s in samples})
    periods = sorted({s.data_period for s in samples})
    problems = []
    for period in periods:
        have = {s.mass for s in samples if s.data_period == period}
        if missing := [m for m in masses if m not in have]:
            files = ", ".join(str(s.source) for s in samples if s.data_period == period)
            problems.append(f"{files}: key 'signal.mass': period {period} has no signal sample at "
                            f"{', '.join(f'{m:g}' for m in missing)} GeV, which other periods have; "
                            "the efficiency table needs every period at every mass")
    if problems:
        raise CatalogError("\n".join(problems))
    return periods, masses


def _box(sample: SignalSample, box: int | None, variation: str = NOMINAL) -> int:
    what = "" if variation == NOMINAL else f" with variation {variation}"
    if box is None:
        raise ProcessingError(f"{sample.source}: signal sample {sample.name}: no box count{what} "
                              "(processed blinded)")
    if box > sample.generated:
        raise InputError(f"{sample.source}: key 'signal.generated': {box} events of sample "
                         f"{sample.name} are in the box after all cuts{what}, more than the "
                         f"{sample.generated} generated")
    return box


def measure_samples(
    samples: Sequence[SignalSample],
    output: Path,
    variations_file: Path | None = None,
    cluster=None,
    data_periods: Sequence[Period] | None = None,
) -> EfficiencyTable:
    """Process the signal ``samples`` unblinded (with the variations of ``variations_file``,
    if given) and count: the efficiency table, written to ``output/signal_efficiency.json``.

    ``data_periods`` (the catalog's data periods) are what a variation's ``periods:`` may
    name; by default the periods of the samples.
    The samples are processed under ``output/signal/processed/<sample>`` from the period
    catalogs written to ``output/signal/periods/``; a sample processed before with the same
    inputs and configuration is not processed again.
    """
    from workflows.processing.periods import run_processing

    if not samples:
        raise CatalogError("no signal samples to measure")
    periods, masses = table_layout(samples)
    work = Path(output) / "signal"
    catalogs = write_processing_catalogs(work / "periods", samples)
    vfile = (signal_variations(Path(variations_file), samples, catalogs / "variations.yaml",
                               data_periods)
             if variations_file is not None else None)
    runs = {r.period: r for r in run_processing(catalogs, work / "processed", unblind=True,
                                                variations_file=vfile, cluster=cluster,
                                                progress=False)}
    nominal_eff: dict[str, list[float]] = {p: [] for p in periods}
    varied: dict[str, dict[str, list[float]]] = {}
    details = []
    for sample in sorted(samples, key=lambda s: (s.data_period, s.mass)):
        run = runs[sample.name]
        if not run.complete or run.summary is None:
            raise ProcessingError(f"{sample.source}: signal sample {sample.name} could not be "
                                  f"processed completely: {run.message or run.status}")
        summary = run.summary
        box = _box(sample, summary.regions.box)
        eff = box / sample.generated
        nominal_eff[sample.data_period].append(eff)
        by_variation = {}
        for name, v in (summary.variations or {}).items():
            vbox = _box(sample, v.regions.box, name)
            by_variation[name] = {"box": vbox, "efficiency": vbox / sample.generated}
            varied.setdefault(name, {p: [] for p in periods})[sample.data_period].append(
                vbox / sample.generated)
        log.debug("%s: %d of %d generated in the box, efficiency %.4f", sample.name, box,
                 sample.generated, eff)
        details.append({"period": sample.data_period, "mass": sample.mass, "sample": sample.name,
                        "catalog": str(sample.source), "box": box, "generated": sample.generated,
                        "efficiency": eff, "variations": by_variation})
    table = EfficiencyTable(tuple(masses), {k: tuple(v) for k, v in nominal_eff.items()},
                            {n: {k: tuple(v) for k, v in by.items()} for n, by in varied.items()})
    write_json(Path(output) / EFFICIENCY_FILE, {
        "masses": masses, "efficiency": nominal_eff, "variations": varied, "details": details,
        "definition": DEFINITION,
        **({"variations_file": str(variations_file)} if variations_file is not None else {}),
    })
    return table


def simulate_samples(
    catalog: Path,
    output: Path,
    masses: Sequence[float] = DEFAULT_MASSES,
    n_events: int = 2000,
    periods: Sequence[str] | None = None,
    seed: int = 11,
) -> Path:
    """Simulate A' samples of each period and mass under ``output/signal/data/`` and write
    them with signal catalogs (``generated`` from the simulation) to
    ``output/signal/catalogs/``, beside copies of the data periods; return that directory."""
    from workflows.signal.aprime import sample_signal_fraction
    from workflows.simulation import SignalSpec, simulate_period

    selected = load_catalog(catalog, periods, require_files=False)
    work = Path(output) / "signal"
    entries = []
    for period in selected:
        e0 = period.beam.energy
        x_min = 1.0 - period.cuts.box_ecal_max / e0
        for mass in masses:
            name = f"{period.name}_{mass_tag(mass)}"
            spec = SignalSpec(mass, n_events,
                              lambda n, rng, m=mass, e=e0, x=x_min, p=period.beam.particle:
                              sample_signal_fraction(m, e, n, rng, threshold_fraction=x, particle=p),
                              electron_share=ELECTRON_SHARE)
            report = simulate_period(period, 0, work / "data" / name, seed=seed, signal=spec)
            info = report.signal
            entries.append({
                "name": name, "files": [f"../data/{name}/*.root"],
                "reference_events": SIGNAL_REFERENCE_EVENTS,
                "signal": {"mass": mass, "generated": int(info["generated_signal_events"]),
                           "period": period.name},
                "description": (f"A' -> invisible sample simulated by na64 (seed {seed}): "
                                f"{info['signal_events']} physics triggers written, pile-up "
                                f"probability {report.pileup_probability:.4f}"),
            })
    return write_signal_catalogs(work / "catalogs", selected, entries)


def measure(
    catalog: Path,
    output: Path,
    masses: Sequence[float] = DEFAULT_MASSES,
    n_events: int = 2000,
    periods: Sequence[str] | None = None,
    seed: int = 11,
    cluster=None,
    variations_file: Path | None = None,
) -> EfficiencyTable:
    """Simulate (:func:`simulate_samples`), process and count (:func:`measure_samples`)."""
    if variations_file is not None:  # refused before anything is simulated
        from workflows.processing.variations import load_variations

        load_variations(variations_file, load_catalog(catalog, require_files=False))
    written = simulate_samples(catalog, output, masses, n_events, periods, seed)
    return measure_samples(load_signal_samples(written), output, variations_file, cluster,
                           load_catalog(written, require_files=False))


def select_samples(samples: Sequence[SignalSample], masses: Sequence[float] | None = None,
                   periods: Sequence[str] | None = None) -> list[SignalSample]:
    """The samples of the given data periods and masses (all when None); a period or mass
    that no sample has is a :class:`ConfigurationError`."""
    out = list(samples)
    if periods:
        known = sorted({s.data_period for s in out})
        if unknown := [p for p in periods if p not in known]:
            raise ConfigurationError(f"--period: no signal sample of period {', '.join(unknown)} "
                                     f"(periods with samples: {', '.join(known)})")
        out = [s for s in out if s.data_period in periods]
    if masses:
        known_m = sorted({s.mass for s in out})
        if unknown_m := [m for m in masses if not any(np.isclose(m, k, rtol=1e-9) for k in known_m)]:
            raise ConfigurationError(f"--mass: no signal sample at {', '.join(f'{m:g}' for m in unknown_m)}"
                                     f" GeV (masses of the samples: {', '.join(f'{m:g}' for m in known_m)})")
        out = [s for s in out if any(np.isclose(s.mass, m, rtol=1e-9) for m in masses)]
    return out


def signal_efficiency(
    catalog: Path,
    output: Path,
    masses: Sequence[float] | None = None,
    n_events: int | None = None,
    periods: Sequence[str] | None = None,
    seed: int = 11,
    cluster=None,
    variations_file: Path | None = None,
) -> EfficiencyTable:
    """What ``na64 signal`` does: measure the signal samples of ``catalog`` if it holds
    signal catalogs (``masses`` and ``periods`` select among them; ``n_events`` must not be
    given), otherwise simulate them (:func:`measure`) and measure them the same way."""
    samples = load_signal_samples(catalog)
    if samples:
        if n_events is not None:
            raise ConfigurationError(f"--events: {catalog} holds signal catalogs; their samples are "
                                     "used as they are (their size is their catalogs' 'generated')")
        log.info("%d signal sample(s) from the signal catalogs of %s", len(samples), catalog)
        return measure_samples(select_samples(samples, masses, periods), output, variations_file,
                               cluster, load_catalog(catalog, require_files=False))
    return measure(catalog, output, masses or DEFAULT_MASSES, n_events or 2000, periods, seed,
                   cluster, variations_file)
