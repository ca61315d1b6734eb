"""Signal efficiency per run period and A' mass, from simulated A' events through the
same processors as the data.

For each period and mass, A' -> invisible events are simulated with the period's
conditions and E_A' above the box threshold (E0 - box edge, the yield's definition),
processed unblinded with the period's cuts, calibration and its own calibration
triggers, and the efficiency is

    efficiency = (signal events in the box after all cuts) / (A' generated)

The simulated A' events carry the period's pile-up, so the pile-up loss is included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from processors.variations import NOMINAL
from workflows.processing.catalog import Period, load_catalog
from workflows.processing.results import load_json, write_json

DEFAULT_MASSES = (0.002, 0.02, 0.2, 0.9)
EFFICIENCY_FILE = "signal_efficiency.json"


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


def _period_catalog(period: Period, name: str, files: str, directory: Path) -> Path:
    data = period.model_dump(mode="json")
    data.update(name=name, files=[files], description=f"A' signal sample of period {period.name}")
    path = directory / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def measure(
    catalog: Path,
    output: Path,
    masses: Sequence[float] = DEFAULT_MASSES,
    n_events: int = 2000,
    periods: Sequence[str] | None = None,
    seed: int = 11,
    cluster=None,
) -> EfficiencyTable:
    """Simulate, process and count: the efficiency table, written to ``output``."""
    from workflows.processing.periods import run_processing
    from workflows.signal.aprime import sample_energy_fraction
    from workflows.simulation import SignalSpec, simulate_period

    selected = load_catalog(catalog, periods, require_files=False)
    work = Path(output) / "signal"
    generated: dict[tuple[str, float], dict] = {}
    for period in selected:
        e0 = period.beam.energy
        x_min = 1.0 - period.cuts.box_ecal_max / e0
        for mass in masses:
            name = f"{period.name}_{mass_tag(mass)}"
            data_dir = work / "data" / name
            spec = SignalSpec(mass, n_events,
                              lambda n, rng, m=mass, e=e0, x=x_min:
                              sample_energy_fraction(m, e, n, rng, threshold_fraction=x))
            report = simulate_period(period, 0, data_dir, seed=seed, signal=spec)
            generated[(period.name, mass)] = {**report.signal, "pileup": report.pileup_probability}
            _period_catalog(period, name, str(data_dir.resolve() / "*.root"), work / "catalogs")
    runs = run_processing(work / "catalogs", work / "processed", unblind=True, cluster=cluster,
                          progress=False)
    by_name = {r.period: r for r in runs}
    table: dict[str, list[float]] = {}
    details = []
    for period in selected:
        row = []
        for mass in masses:
            name = f"{period.name}_{mass_tag(mass)}"
            box = by_name[name].summary.regions.box
            info = generated[(period.name, mass)]
            eff = box / info["generated_signal_events"]
            row.append(eff)
            details.append({"period": period.name, "mass": mass, "box": box,
                            "generated": info["generated_signal_events"],
                            "pileup_probability": info["pileup"], "efficiency": eff})
        table[period.name] = row
    result = EfficiencyTable(tuple(masses), {k: tuple(v) for k, v in table.items()})
    write_json(Path(output) / EFFICIENCY_FILE, {
        "masses": list(masses), "efficiency": table, "details": details,
        "definition": "signal events in the box after all cuts / A' generated with E_A' > E0 - box edge "
                      "(pile-up included in the simulation)",
    })
    return result
