"""A small simulated period for the explorer's and the examples' tests: background, A'
signal events in the signal box (so that blinding has something to hide) and a shard
copied whole (a duplicate the processing leaves out)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.faults import simulate, write_catalog

PERIOD = "explore"
#: entries per chunk of the processing, and per partition of the explorer
CHUNKSIZE = 10_000


def simulated_period(root: Path, n_events: int = 40_000, signal_events: int = 300) -> Path:
    """The catalog file of a simulated period below ``root``."""
    from workflows.signal.aprime import sample_energy_fraction
    from workflows.simulation.simulate import SignalSpec

    catalog = root / "catalog"
    path = write_catalog(catalog, PERIOD, ["../background/*.root", "../signal/*.root"])
    shards = simulate(catalog, PERIOD, n_events, root / "background", seed=8, block_events=5000,
                      events_per_shard=20_000)
    mass, e0 = 0.02, 100.0
    simulate(catalog, PERIOD, 0, root / "signal", seed=8, block_events=5000,
             signal=SignalSpec(mass, signal_events,
                               lambda n, rng: sample_energy_fraction(mass, e0, n, rng)))
    shutil.copy(shards[0], root / "background" / f"copy_of_{shards[0].name}")
    return path
