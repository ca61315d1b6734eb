"""The event stream of a run period: fixed-size blocks, each with its own random stream.

Event i of a stream is a calibration trigger when the prescaler fires
(floor((i+1) f) > floor(i f), f the calibration fraction), else a physics trigger. A
block of ``block_events`` events draws everything from
``SeedSequence([seed, period_key, block])`` (signal streams append their own key), so
the events do not depend on how the stream is later cut into shards or spread over jobs.

Physics triggers must pass the hardware trigger (in-time ECAL energy below
``trigger_fraction`` E0); events that fail are regenerated, same process, from the same
block stream, until all pass.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from . import processes as proc
from . import strata
from .config import SimulationConfig, pileup_probability
from .detector import Overlay, Readout, digitize
from .processes import Context, Truth

#: Branches in SCHEMA.md order: dtype and per-event shape.
BRANCHES: dict[str, tuple[type, tuple[int, ...]]] = {
    "run": (np.int32, ()),
    "spill": (np.int32, ()),
    "event": (np.int64, ()),
    "trigger": (np.uint8, ()),
    "beam_momentum": (np.float32, ()),
    "beam_angle": (np.float32, ()),
    "straw_tracks": (np.int16, ()),
    "srd": (np.float32, (3,)),
    "ecal": (np.float32, (2, 6, 6)),
    "ecal_time": (np.float32, ()),
    "veto": (np.float32, (3,)),
    "hcal": (np.float32, (4, 3, 3)),
    "mc_process": (np.int8, ()),
    "mc_emiss": (np.float32, ()),
}
TRUTH_BRANCHES = ("mc_process", "mc_emiss")
#: Written (with the truth) by samples generated for an exposure: the prescale of the
#: event's stratum (physics triggers; 1 for calibration triggers). SCHEMA.md: "extra
#: branches are ignored", and it has no other place for per-file metadata.
EXPOSURE_BRANCHES: dict[str, tuple[type, tuple[int, ...]]] = {"mc_prescale": (np.uint32, ())}
PHYSICS_BIT, CALIBRATION_BIT = 1, 2
SIGNAL_STREAM = 6


def period_key(name: str) -> int:
    """A stable integer for a period name (the SeedSequence key)."""
    return zlib.crc32(name.encode())


def base_run(name: str) -> int:
    """First run number of a period: 22000 for "2022", else derived from the name."""
    if name.isdigit() and 2000 <= int(name) < 2100:
        return (int(name) - 2000) * 1000
    return 100_000 + (zlib.crc32(name.encode()) % 900) * 1000


def calibration_mask(start: int, stop: int, fraction: float) -> np.ndarray:
    """True where global event i in [start, stop) is a (prescaled) calibration trigger."""
    q = Fraction(fraction).limit_denominator(1_000_000)
    i = np.arange(start, stop, dtype=np.int64)
    return (i + 1) * q.numerator // q.denominator > i * q.numerator // q.denominator


def prescaled(i: np.ndarray, fraction: float) -> np.ndarray:
    """True where a prescaler of ``fraction`` fires on the (0-based) ordinals ``i``."""
    q = Fraction(fraction).limit_denominator(1_000_000)
    i = np.asarray(i, np.int64)
    return (i + 1) * q.numerator // q.denominator > i * q.numerator // q.denominator


def calibration_count(n: int, fraction: float) -> int:
    """Calibration triggers among the first n events."""
    q = Fraction(fraction).limit_denominator(1_000_000)
    return n * q.numerator // q.denominator


def stream_length(n_physics: int, fraction: float) -> int:
    """Smallest stream holding ``n_physics`` physics triggers."""
    n = int(np.ceil(n_physics / (1 - fraction)))
    while n - calibration_count(n, fraction) < n_physics:
        n += 1
    while n > 0 and n - 1 - calibration_count(n - 1, fraction) >= n_physics:
        n -= 1
    return n


@dataclass
class BlockStats:
    """Bookkeeping of one block: candidates drawn per process and trigger rounds."""

    candidates: dict[int, int] = field(default_factory=dict)
    rounds: int = 0


@dataclass(frozen=True)
class Stream:
    """A stream of events: the background of a period, or a signal sample."""

    period: str
    e0: float
    intensity: float | None
    ecal_scale: float
    hcal_scale: float
    config: SimulationConfig
    seed: int
    n_events: int
    first_run: int
    key: tuple[int, ...] = ()
    signal: bool = False
    sample_fraction: Callable[[int, np.random.Generator], np.ndarray] | None = None
    #: signal streams: share of the physics triggers that are process-0 electrons instead
    #: of A' events (every 1/share-th physics trigger, a prescaler like the calibration's)
    electron_share: float = 0.0
    #: Beam hadrons per beam lepton relative to the e- beam (e+ beams: 10).
    hadron_scale: float = 1.0
    #: SRD analysis window of the period (MeV).
    srd_window: tuple[float, float] = (1.0, 100.0)
    #: Samples for an exposure: the generator label of every physics trigger, in stream
    #: order, and the prescale of every label (:mod:`.exposure`).
    labels: np.ndarray | None = field(default=None, compare=False)
    prescales: tuple[tuple[int, int], ...] = ()

    @property
    def n_blocks(self) -> int:
        b = self.config.block_events
        return (self.n_events + b - 1) // b

    def block_range(self, block: int) -> tuple[int, int]:
        b = self.config.block_events
        return block * b, min((block + 1) * b, self.n_events)

    def rng(self, block: int) -> np.random.Generator:
        ss = np.random.SeedSequence([self.seed, period_key(self.period), block, *self.key])
        return np.random.default_rng(ss)

    def context(self) -> Context:
        model = self.config.detector
        pu = pileup_probability(model, self.intensity)
        return Context(model=model, e0=self.e0, pileup=pu, sample_fraction=self.sample_fraction,
                       hadron_scale=self.hadron_scale, srd_window=self.srd_window)

    def physics_labels(self, start: int, stop: int, phys: np.ndarray) -> np.ndarray:
        """Labels of the physics triggers ``phys`` (indices within [start, stop))."""
        assert self.labels is not None
        i = start + phys.astype(np.int64)
        q = Fraction(self.config.calibration_fraction).limit_denominator(1_000_000)
        before = i * q.numerator // q.denominator   # calibration triggers before event i
        return self.labels[i - before]


def _candidates(rng: np.random.Generator, labels: np.ndarray, pileup: np.ndarray, ctx: Context
                ) -> tuple[Truth, Readout]:
    """Truth and readout of events of the given labels (no trigger applied yet)."""
    t = proc.generate(rng, labels, ctx, strata.GENERATORS)
    idx = np.flatnonzero(pileup)
    ov = None
    if idx.size:
        b = ctx.model.beam
        ov_truth, dt = proc.overlay(rng, idx.size, ctx)
        t.straw[idx] += (rng.random(idx.size) < b.pileup_extra_track).astype(np.int16)
        t.momentum[idx[rng.random(idx.size) < b.pileup_no_track]] = np.nan
        ov = Overlay(idx, ov_truth, dt)
    return t, digitize(t, rng, ctx.model, ov)


def _put(r: Readout, idx: np.ndarray, other: Readout) -> None:
    for name in r.__dataclass_fields__:
        getattr(r, name)[idx] = getattr(other, name)


def simulate_block(stream: Stream, block: int) -> tuple[dict[str, np.ndarray], BlockStats]:
    """All branches (written dtypes and scales, without run/spill/event) of one block."""
    cfg = stream.config
    model = cfg.detector
    start, stop = stream.block_range(block)
    n = stop - start
    rng = stream.rng(block)
    ctx = stream.context()
    stats = BlockStats()

    cal = calibration_mask(start, stop, cfg.calibration_fraction)
    phys = np.flatnonzero(~cal)
    labels = np.full(n, proc.CALIBRATION, np.int8)
    pileup = np.zeros(n, bool)
    if stream.signal:
        # A' events suffer pile-up like every physics trigger of the period (they keep
        # mc_process 6: the truth is the signal).
        labels[phys] = proc.SIGNAL
        if stream.electron_share > 0:
            ordinal = start + phys - calibration_count(start + phys, cfg.calibration_fraction)
            labels[phys[prescaled(ordinal, stream.electron_share)]] = proc.ELECTRON
        pileup[phys] = rng.random(phys.size) < ctx.pileup
    elif stream.labels is not None:
        labels[phys] = stream.physics_labels(start, stop, phys)
        pileup[phys] = rng.random(phys.size) < ctx.pileup
    else:
        labels[phys], pileup[phys] = proc.choose_processes(rng, phys.size, ctx)
    t, r = _candidates(rng, labels, pileup, ctx)
    for code in np.unique(labels[phys]):
        stats.candidates[int(code)] = int(np.sum(labels[phys] == code))

    threshold = np.float32(model.trigger_fraction * stream.e0)
    todo = phys[r.trigger_energy[phys] >= threshold]
    while todo.size:
        stats.rounds += 1
        if stats.rounds > cfg.max_trigger_rounds:
            raise RuntimeError(
                f"{todo.size} physics-trigger candidates of block {block} still fail the "
                f"trigger after {cfg.max_trigger_rounds} rounds: check the process model")
        for code in np.unique(labels[todo]):
            stats.candidates[int(code)] += int(np.sum(labels[todo] == code))
        t_new, r_new = _candidates(rng, labels[todo], pileup[todo], ctx)
        t.put(todo, t_new)
        _put(r, todo, r_new)
        todo = todo[r_new.trigger_energy >= threshold]

    trigger = np.where(cal, CALIBRATION_BIT, PHYSICS_BIT).astype(np.uint8)
    process = np.where(pileup & (labels != proc.SIGNAL), proc.PILEUP,
                       strata.code_of(labels)).astype(np.int8)
    m = model
    out = {
        "trigger": trigger,
        "beam_momentum": t.momentum,
        "beam_angle": t.angle,
        "straw_tracks": t.straw,
        "srd": t.srd,
        "ecal": _quantise(r.ecal, m.ecal.lsb, stream.ecal_scale),
        "ecal_time": r.ecal_time,
        "veto": _quantise(r.veto, m.veto.lsb),
        "hcal": _quantise(r.hcal, m.hcal.lsb, stream.hcal_scale),
        "mc_process": process,
        "mc_emiss": r.emiss,
    }
    if stream.labels is not None:
        prescale = np.ones(128, np.uint32)
        for label, k in stream.prescales:
            prescale[label + 1] = k
        out["mc_prescale"] = prescale[labels.astype(np.intp) + 1]
    for name, arr in out.items():
        dtype, shape = {**BRANCHES, **EXPOSURE_BRANCHES}[name]
        assert arr.dtype == dtype and arr.shape == (n, *shape), (name, arr.dtype, arr.shape)
    return out, stats


def _quantise(x: np.ndarray, lsb: float, scale: float = 1.0) -> np.ndarray:
    """x / scale (the files hold energies divided by the period's calibration scale),
    rounded to multiples of the digitisation step lsb (a power of two keeps the float32
    mantissas short, and the files small)."""
    x *= np.float32(1.0 / (scale * lsb))
    np.rint(x, out=x)
    x *= np.float32(lsb)
    return x


def numbering(stream: Stream, start: int, stop: int) -> dict[str, np.ndarray]:
    """run, spill (from 1) and event (index within the run) of global events [start, stop)."""
    cfg = stream.config
    i = np.arange(start, stop, dtype=np.int64)
    within = i % cfg.run_events
    return {
        "run": (stream.first_run + i // cfg.run_events).astype(np.int32),
        "spill": (within // cfg.spill_events + 1).astype(np.int32),
        "event": within,
    }


#: A function returning block ``b`` of a stream (data, stats): simulate_block itself, or
#: one handing out blocks that worker processes generated in advance.
BlockMaker = Callable[[Stream, int], tuple[dict[str, np.ndarray], BlockStats]]


class BlockSource:
    """Hands out arbitrary event ranges of a stream, generating (and caching) blocks."""

    def __init__(self, stream: Stream, make: BlockMaker = simulate_block):
        self.stream = stream
        self.make = make
        self._cache: tuple[int, dict[str, np.ndarray]] | None = None
        self.stats: dict[int, BlockStats] = {}

    def _block(self, b: int) -> dict[str, np.ndarray]:
        if self._cache is None or self._cache[0] != b:
            data, stats = self.make(self.stream, b)
            self.stats[b] = stats
            self._cache = (b, data)
        return self._cache[1]

    def events(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """All branches of global events [start, stop)."""
        size = self.stream.config.block_events
        parts: list[dict[str, np.ndarray]] = []
        pos = start
        while pos < stop:
            b = pos // size
            b0 = b * size
            end = min(stop, b0 + size)
            data = self._block(b)
            parts.append({k: v[pos - b0:end - b0] for k, v in data.items()})
            pos = end
        cols = {k: (np.concatenate([p[k] for p in parts]) if len(parts) > 1 else parts[0][k])
                for k in parts[0]} if parts else {}
        cols.update(numbering(self.stream, start, stop))
        return cols
