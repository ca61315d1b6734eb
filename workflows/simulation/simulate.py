"""simulate_period: a run period's sharded ROOT files, its report and simulation.json."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import SimulationConfig, hadron_scale, pileup_probability
from .expectations import box_background, exposure_box_background
from .exposure import ExposurePlan, plan_exposure
from .processes import PROCESS_NAMES, SIGNAL
from .stream import (
    SIGNAL_STREAM,
    BlockSource,
    BlockStats,
    Stream,
    base_run,
    calibration_count,
    period_key,
    simulate_block,
    stream_length,
)
from .writer import Shard, ShardResult, mass_tag, plan_shards, remove_stale, write_shard

if TYPE_CHECKING:  # pragma: no cover
    from workflows.processing.catalog import Period

#: Signal runs start this many runs after the period's first background run.
SIGNAL_RUN_OFFSET = 900


@dataclass(frozen=True)
class SignalSpec:
    """A' -> invisible events to add (mc_process 6).

    ``sample_fraction(n, rng)`` returns n values of x = E_A'/E0 (the A' energy fraction),
    e.g. ``lambda n, rng: sample_energy_fraction(mass, e0, n, rng)`` of
    :mod:`workflows.signal.aprime`. ``n_events`` counts written signal events (they passed the
    physics trigger); the report gives the trigger acceptance of the generated ones.
    Signal events get the period's pile-up like every physics trigger (and keep
    mc_process 6), so the efficiency measured on them includes the pile-up loss. The
    sample has its own calibration triggers (same prescale) and its own runs (first
    run + 900), so it can be processed alone. With ``electron_share`` > 0 that share of
    its physics triggers are process-0 electrons (low-momentum tail and shower losses,
    as in the period's physics triggers) on top of the ``n_events`` A' events: the
    low-energy electrons the shower reference measures its energy dependence with.
    """

    mass: float
    n_events: int
    sample_fraction: Callable[[int, np.random.Generator], np.ndarray]
    electron_share: float = 0.0


@dataclass
class SimulationReport:
    """What :func:`simulate_period` wrote."""

    period: str
    output: Path
    files: list[Path]
    n_events: int
    calibration_events: int
    physics_events: dict[str, int]
    eot_equivalent: float
    pileup_probability: float
    expected_box_background: dict[str, float]
    wall_time: float
    signal: dict | None = None
    shards: list[dict] = field(default_factory=list)
    #: Samples for an exposure: the strata, their rates, prescale and counts.
    exposure: ExposurePlan | None = None

    def to_dict(self) -> dict:
        return {
            "period": self.period,
            "output": str(self.output),
            "files": [p.name for p in self.files],
            "n_events": self.n_events,
            "calibration_events": self.calibration_events,
            "physics_events": self.physics_events,
            "eot_equivalent": self.eot_equivalent,
            "pileup_probability": self.pileup_probability,
            "expected_box_background": self.expected_box_background,
            "signal": self.signal,
            "shards": self.shards,
            "exposure": self.exposure.to_dict() if self.exposure else None,
        }


# Work handed to forked workers (inherited, so samplers need not be picklable).
_TASK: dict = {}


def _run_group(indices: Sequence[int], make: Callable | None = None
               ) -> tuple[list[ShardResult], dict[tuple[int, int], BlockStats]]:
    """Write the shards ``indices`` (in order), generating their blocks or taking them
    from ``make``."""
    streams: list[Stream] = _TASK["streams"]
    shards: list[tuple[int, Shard]] = _TASK["shards"]
    sources: dict[int, BlockSource] = {}
    results = []
    for i in indices:
        s_id, shard = shards[i]
        if s_id not in sources:
            sources[s_id] = BlockSource(streams[s_id], make or simulate_block)
        results.append(write_shard(shard, sources[s_id], _TASK["truth"], _TASK["compression"]))
    stats = {(s_id, b): st for s_id, src in sources.items() for b, st in src.stats.items()}
    return results, stats


def _make_block(key: tuple[int, int]) -> tuple[dict[str, np.ndarray], BlockStats]:
    """Worker side of block-parallel generation: block ``key[1]`` of stream ``key[0]``."""
    return simulate_block(_TASK["streams"][key[0]], key[1])


def _blocks_in_order(shards: Sequence[tuple[int, Shard]], streams: Sequence[Stream]
                     ) -> list[tuple[int, int]]:
    """(stream, block) pairs in the order the shards need them, each once."""
    keys: list[tuple[int, int]] = []
    for s_id, shard in shards:
        size = streams[s_id].config.block_events
        for b in range(shard.start // size, (shard.stop - 1) // size + 1):
            if not keys or keys[-1] != (s_id, b):
                keys.append((s_id, b))
    return keys


def _run_block_parallel(jobs: int) -> list[tuple[list[ShardResult], dict]]:
    """Fewer shards than jobs: workers generate the blocks (in order, ahead of need) while
    this process writes every shard."""
    streams, shards = _TASK["streams"], _TASK["shards"]
    keys = _blocks_in_order(shards, streams)
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        feed = _prefetch(pool, keys, window=2 * jobs)

        def make(stream: Stream, block: int) -> tuple[dict[str, np.ndarray], BlockStats]:
            key, made = next(feed)
            if streams[key[0]] is not stream or key[1] != block:
                raise RuntimeError(f"block {key} arrived when block {block} was needed")
            return made

        return [_run_group(range(len(shards)), make)]


def _prefetch(pool, keys: Sequence[tuple[int, int]], window: int) -> Iterator:
    """(key, block) in order, with at most ``window`` blocks generated ahead (memory)."""
    pending: deque = deque()
    todo = iter(keys)
    for key in itertools.islice(todo, window):
        pending.append((key, pool.apply_async(_make_block, (key,))))
    while pending:
        key, result = pending.popleft()
        nxt = next(todo, None)
        if nxt is not None:
            pending.append((nxt, pool.apply_async(_make_block, (nxt,))))
        yield key, result.get()


def _groups(sizes: Sequence[int], jobs: int) -> list[list[int]]:
    """Split shards (in order) into at most ``jobs`` contiguous groups of similar size."""
    jobs = max(1, min(jobs, len(sizes)))
    total = sum(sizes)
    groups: list[list[int]] = [[] for _ in range(jobs)]
    acc = 0
    for i, n in enumerate(sizes):
        g = min(jobs - 1, int(acc * jobs / total)) if total else 0
        groups[g].append(i)
        acc += n
    return [g for g in groups if g]


def _stream(period: Period, config: SimulationConfig, seed: int, n: int, *, signal: SignalSpec | None,
            plan: ExposurePlan | None = None) -> Stream:
    first = base_run(period.name)
    kw: dict = {"hadron_scale": hadron_scale(config.detector, period.beam.particle),
                "srd_window": (period.cuts.srd_min, period.cuts.srd_max)}
    if plan is not None and signal is None:
        labels = plan.labels(np.random.default_rng(
            np.random.SeedSequence([seed, period_key(period.name), 0xE07, 1])))
        kw |= {"labels": labels, "prescales": plan.prescales()}
    if signal is not None:
        kw |= {"key": (SIGNAL_STREAM, round(signal.mass * 1e6)), "signal": True,
               "sample_fraction": signal.sample_fraction, "electron_share": signal.electron_share}
        first += SIGNAL_RUN_OFFSET
    return Stream(period=period.name, e0=period.beam.energy, intensity=period.beam.intensity,
                  ecal_scale=period.calibration.ecal_scale,
                  hcal_scale=period.calibration.hcal_scale, config=config, seed=seed,
                  n_events=n, first_run=first, **kw)


def simulate_period(
    period: Period,
    n_events: int,
    output: Path,
    seed: int = 1,
    events_per_shard: int = 250_000,
    truth: bool = True,
    signal: SignalSpec | None = None,
    jobs: int = 1,
    config: SimulationConfig | None = None,
    eot: float | None = None,
    prescale: int | None = None,
) -> SimulationReport:
    """Simulate ``n_events`` background events of ``period`` (a catalog ``Period``) and
    optionally a signal sample, into sharded ROOT files under ``output``.

    With ``eot`` the background is instead the sample of that exposure (``n_events`` is
    ignored): every stratum at its per-EOT rate (:mod:`.exposure`), the abundant ones
    that cannot reach the sidebands or the box prescaled by ``prescale`` (default: the
    smallest integer keeping them at ``config.prescaled_events``), plus
    ``config.exposure_calibration_events`` calibration triggers.

    Earlier shards of this period in ``output`` are removed first (other files are left
    alone). The files do not depend on ``events_per_shard`` (beyond where they are cut)
    or on ``jobs``; they depend on ``seed`` and ``config``.
    """
    t0 = time.perf_counter()
    config = config or SimulationConfig()
    if n_events < 0:
        raise ValueError(f"n_events must be >= 0, got {n_events}")
    if events_per_shard <= 0:
        raise ValueError(f"events_per_shard must be > 0, got {events_per_shard}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if signal is not None and signal.n_events < 0:
        raise ValueError(f"signal n_events must be >= 0, got {signal.n_events}")
    if signal is not None and not 0 <= signal.electron_share < 1:
        raise ValueError(f"signal electron_share must be in [0, 1), got {signal.electron_share}")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    remove_stale(output, period.name)

    plan = None
    signal_config = config   # a signal sample keeps the configured calibration share
    if eot is not None:
        plan = plan_exposure(
            config, eot, period.beam.energy, period.beam.particle,
            np.random.SeedSequence([seed, period_key(period.name), 0xE07]),
            srd_window=(period.cuts.srd_min, period.cuts.srd_max), prescale=prescale)
        if plan.physics_events == 0:
            raise ValueError(f"period {period.name}: {eot:g} EOT hold no physics trigger")
        n_cal = plan.calibration_events
        f = n_cal / (n_cal + plan.physics_events)
        config = config.model_copy(update={"calibration_fraction": f})
        n_events = stream_length(plan.physics_events, config.calibration_fraction)
    f_cal = config.calibration_fraction
    streams = [_stream(period, config, seed, n_events, signal=None, plan=plan)]
    shards = [(0, s) for s in plan_shards(streams[0], events_per_shard, output)]
    if signal is not None and signal.n_events > 0:
        n_phys = (stream_length(signal.n_events, signal.electron_share)
                  if signal.electron_share > 0 else signal.n_events)
        n_sig = stream_length(n_phys, signal_config.calibration_fraction)
        streams.append(_stream(period, signal_config, seed, n_sig, signal=signal))
        shards += [(1, s) for s in plan_shards(streams[1], events_per_shard, output,
                                               mass_tag(signal.mass))]

    global _TASK
    _TASK = {"streams": streams, "shards": shards, "truth": truth,
             "compression": config.compression_level}
    # Workers are forked: they inherit the streams (and the signal sampler, which need
    # not be picklable). Without fork (Windows) the shards are written one after another.
    # With at least as many shards as jobs, each worker writes its own shards; with fewer,
    # workers generate blocks and this process writes (one shard still uses all jobs).
    forkable = "fork" in multiprocessing.get_all_start_methods()
    jobs = jobs if forkable else 1
    groups = _groups([s.n_events for _, s in shards], jobs)
    n_blocks = len(_blocks_in_order(shards, streams))
    try:
        if jobs > 1 and len(groups) < jobs and n_blocks > 1:
            outputs = _run_block_parallel(min(jobs, n_blocks))
        elif len(groups) <= 1:
            outputs = [_run_group(g) for g in groups]
        else:
            with multiprocessing.get_context("fork").Pool(len(groups)) as pool:
                outputs = pool.map(_run_group, groups)
    finally:
        _TASK = {}
    results: list[ShardResult] = [r for out, _ in outputs for r in out]
    stats: dict[tuple[int, int], BlockStats] = {}
    for _, st in outputs:
        stats.update(st)

    background = [r for r, (s_id, _) in zip(results, shards, strict=True) if s_id == 0]
    sig_results = [r for r, (s_id, _) in zip(results, shards, strict=True) if s_id == 1]
    n_cal = sum(r.calibration for r in background)
    by_code: dict[int, int] = {}
    for r in background:
        for code, k in r.physics.items():
            by_code[code] = by_code.get(code, 0) + k
    physics = {PROCESS_NAMES[c]: by_code[c] for c in sorted(by_code)}
    pu = pileup_probability(config.detector, period.beam.intensity)
    if plan is not None:
        eot_total = plan.eot
        expected = exposure_box_background(config, plan, period.beam.energy, pu, period.cuts)
    else:
        eot_total = n_cal * config.eot_per_calibration
        expected = box_background(config.detector, period.beam.energy, pu,
                                  n_events - calibration_count(n_events, f_cal),
                                  period.cuts)
    sig_info = None
    if signal is not None:
        written = sum(r.physics.get(SIGNAL, 0) for r in sig_results)
        candidates = sum(st.candidates.get(SIGNAL, 0) for (s_id, _), st in stats.items()
                         if s_id == 1)
        sig_info = {
            "mass": signal.mass,
            "written_events": sum(r.n_events for r in sig_results),
            "signal_events": written,
            "calibration_events": sum(r.calibration for r in sig_results),
            "generated_signal_events": candidates,
            "trigger_acceptance": written / candidates if candidates else None,
            "files": [r.path.name for r in sig_results],
        }
    report = SimulationReport(
        period=period.name, output=output, files=[r.path for r in results],
        n_events=n_events, calibration_events=n_cal, physics_events=physics,
        eot_equivalent=eot_total, pileup_probability=pu, expected_box_background=expected,
        wall_time=0.0, signal=sig_info, exposure=plan,
        shards=[{"file": r.path.name, "run": r.run, "events": r.n_events,
                 "calibration": r.calibration,
                 "physics": {PROCESS_NAMES[c]: k for c, k in sorted(r.physics.items())}}
                for r in results],
    )
    _write_json(output / "simulation.json", report, period, config, seed, events_per_shard,
                truth)
    report.wall_time = time.perf_counter() - t0
    return report


def _write_json(path: Path, report: SimulationReport, period: Period, config: SimulationConfig,
                seed: int, events_per_shard: int, truth: bool) -> None:
    eot = report.eot_equivalent
    doc = {
        "generator": "workflows.simulation (NA64-style fast simulation)",
        "seed": seed,
        "events_per_shard": events_per_shard,
        "truth": truth,
        "catalog_period": period.model_dump(mode="json"),
        **report.to_dict(),
        "per_eot": {k: (v / eot if eot else None) for k, v in report.physics_events.items()},
        "notes": _notes(report, config),
        "config": config.model_dump(mode="json"),
    }
    tmp = path.with_name(path.name + ".part")
    if report.exposure is not None:
        # Written events of prescaled strata stand for `prescale` triggers each (by the
        # stratum's process: pile-up events are counted with the process they overlay).
        scaled: dict[str, float] = {}
        for p in report.exposure.strata:
            name = PROCESS_NAMES[p.rate.stratum.process]
            scaled[name] = scaled.get(name, 0.0) + p.generated * p.prescale
        doc["physics_triggers_scaled"] = scaled
        doc["per_eot"] = {k: v / eot for k, v in scaled.items()}
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


def _notes(report: SimulationReport, config: SimulationConfig) -> list[str]:
    if report.exposure is None:
        return [
            ("physics-trigger composition is enriched in electron-induced backgrounds "
             "relative to a real run, so that the sidebands are populated at demo size"),
            f"equivalent EOT = calibration events x {config.eot_per_calibration:g}",
            "beam muons are mc_process 3 (beam hadron)",
        ]
    return [
        (f"generated for {report.exposure.eot:.4g} EOT at the per-EOT rates of "
         "SimulationConfig.rates (exposure.strata); the strata that can reach the sidebands "
         "or the box are at their true rate (Poisson counts, weight 1)"),
        ("prescaled strata (cannot reach the sidebands or the box): each its prescale "
         "(exposure.strata), the branch mc_prescale of each event says how many triggers "
         "it stands for; physics_triggers_scaled counts them scaled back"),
        (f"{report.exposure.calibration_events} calibration triggers (their prescale: EOT / "
         "calibration triggers)"),
        "beam muons are mc_process 3 (beam hadron)",
    ]
