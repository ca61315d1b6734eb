"""The fast simulation's files: the SCHEMA.md contract, shards and numbering, determinism,
simulation.json, stale shards, the signal sample, the CLI and the closed-form cell
integral. Real ROOT files are written and read back with uproot."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
import uproot
from typer.testing import CliRunner

from workflows.processing.catalog import load_period
from workflows.simulation import SignalSpec, SimulationConfig, simulate_period
from workflows.simulation.ecal import cell_edges, grid_fractions, quadrant_integral

REPO = Path(__file__).resolve().parents[3]
DATASETS = REPO / "datasets"

#: SCHEMA.md, branch by branch: big-endian on disk as ROOT stores it.
SCHEMA = {
    "run": (">i4", ()), "spill": (">i4", ()), "event": (">i8", ()), "trigger": ("u1", ()),
    "beam_momentum": (">f4", ()), "beam_angle": (">f4", ()), "straw_tracks": (">i2", ()),
    "srd": (">f4", (3,)), "ecal": (">f4", (2, 6, 6)), "ecal_time": (">f4", ()),
    "veto": (">f4", (3,)), "hcal": (">f4", (4, 3, 3)), "mc_process": ("i1", ()),
    "mc_emiss": (">f4", ()),
}
MC = ("mc_process", "mc_emiss")

#: Small runs and blocks so that a few ten thousand events span several runs and shards.
SMALL = SimulationConfig(block_events=5_000, run_events=20_000, spill_events=1_000)
N = 45_000


def period(name: str = "2022"):
    return load_period(DATASETS / f"{name}.yaml")


def shard_key(path: Path) -> tuple[int, int]:
    m = re.search(r"_r(\d+)_(\d+)\.root$", path.name)
    assert m, path.name
    return int(m.group(1)), int(m.group(2))


def read(directory: Path, pattern: str = "na64sim_*.root") -> dict[str, np.ndarray]:
    files = sorted(directory.glob(pattern), key=shard_key)
    parts = [uproot.open(f)["events"].arrays(library="np") for f in files]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    report = simulate_period(period(), N, out, seed=7, events_per_shard=8_000, config=SMALL)
    return out, report


def test_every_branch_follows_the_schema(sample):
    out, report = sample
    files = sorted(out.glob("*.root"))
    assert files and files == sorted(report.files)
    for f in files:
        with uproot.open(f) as rf:
            assert [k.split(";")[0] for k in rf] == ["events"]
            tree = rf["events"]
            assert isinstance(tree, uproot.TTree)  # a TTree, not an RNTuple
            assert {b.name for b in tree.branches} == set(SCHEMA)
            for name, (dtype, shape) in SCHEMA.items():
                expected = uproot.AsDtype(np.dtype((dtype, shape)) if shape else np.dtype(dtype))
                assert tree[name].interpretation == expected, name
            arrays = tree.arrays(library="np")
            n = tree.num_entries
            for name, (dtype, shape) in SCHEMA.items():
                assert arrays[name].dtype == np.dtype(dtype).newbyteorder("="), name
                assert arrays[name].shape == (n, *shape), name
            assert all(np.isfinite(arrays[b]).all() for b in ("srd", "ecal", "veto", "hcal"))


def test_shards_cut_runs_and_numbering_follows_the_stream(sample):
    out, _ = sample
    seen = []
    for f in sorted(out.glob("*.root"), key=shard_key):
        assert re.fullmatch(r"na64sim_2022_r\d+_\d+\.root", f.name)
        run, k = shard_key(f)
        a = uproot.open(f)["events"].arrays(["run", "spill", "event"], library="np")
        assert set(a["run"]) == {run}, "one file is one shard of one run"
        assert len(a["run"]) <= 8_000
        seen.append((run, k, a))
    runs = sorted({r for r, _, _ in seen})
    assert runs == [22000, 22001, 22002]       # 45k events, a run every 20k
    for run in runs:
        parts = [a for r, _, a in seen if r == run]
        event = np.concatenate([a["event"] for a in parts])
        spill = np.concatenate([a["spill"] for a in parts])
        assert np.array_equal(event, np.arange(len(event)))    # index within the run
        assert np.array_equal(spill, event // 1_000 + 1)
    # Shards restart at every run: 8k + 8k + 4k per full run.
    assert [(r, k) for r, k, _ in seen][:4] == [(22000, 0), (22000, 1), (22000, 2), (22001, 0)]


def test_triggers_are_disjoint_and_calibration_is_prescaled(sample):
    out, report = sample
    d = read(out)
    assert set(np.unique(d["trigger"])) == {1, 2}
    calib = d["trigger"] == 2
    assert np.array_equal(np.flatnonzero(calib), np.arange(9, N, 10))   # every 10th event
    assert report.calibration_events == calib.sum() == N // 10
    assert report.eot_equivalent == calib.sum() * SMALL.eot_per_calibration
    assert set(np.unique(d["mc_process"][calib])) == {0}
    assert sum(report.physics_events.values()) == (~calib).sum()


def test_simulation_json_records_the_sample(sample):
    out, report = sample
    doc = json.loads((out / "simulation.json").read_text())
    assert doc["seed"] == 7 and doc["n_events"] == N
    assert doc["calibration_events"] == N // 10
    assert doc["eot_equivalent"] == pytest.approx(N // 10 * 1000)
    assert sorted(doc["files"]) == sorted(p.name for p in out.glob("*.root"))
    assert doc["physics_events"] == report.physics_events
    assert sum(s["events"] for s in doc["shards"]) == N
    assert doc["config"]["detector"]["ecal"]["stochastic"] == 0.10
    assert doc["pileup_probability"] == pytest.approx(0.022 * 6.0)
    assert 0 < doc["expected_box_background"]["total"] < 0.05


def test_same_seed_same_events_whatever_the_shards_and_jobs(sample, tmp_path):
    out, _ = sample
    reference = read(out)
    simulate_period(period(), N, tmp_path / "a", seed=7, events_per_shard=15_000, jobs=2,
                    config=SMALL)
    simulate_period(period(), N, tmp_path / "b", seed=7, events_per_shard=50_000, config=SMALL)
    # Fewer shards than jobs: workers generate blocks, the parent writes.
    simulate_period(period(), N, tmp_path / "d", seed=7, events_per_shard=50_000, jobs=4,
                    config=SMALL)
    for other in (read(tmp_path / "a"), read(tmp_path / "b"), read(tmp_path / "d")):
        assert other.keys() == reference.keys()
        for k in reference:
            np.testing.assert_array_equal(other[k], reference[k], err_msg=k)
    assert len(list((tmp_path / "b").glob("*.root"))) == 3       # one shard per run
    simulate_period(period(), N, tmp_path / "c", seed=8, events_per_shard=50_000, config=SMALL)
    assert not np.array_equal(read(tmp_path / "c")["ecal"], reference["ecal"])


def test_without_truth_the_mc_branches_are_absent(tmp_path):
    simulate_period(period("2016"), 3_000, tmp_path, truth=False, config=SMALL)
    (f,) = tmp_path.glob("*.root")
    names = {b.name for b in uproot.open(f)["events"].branches}
    assert names == set(SCHEMA) - set(MC)


def test_stale_shards_are_removed_and_nothing_else(tmp_path):
    stale = tmp_path / "na64sim_2016_r16007_3.root"
    stale_signal = tmp_path / "na64sim_2016_sig20MeV_r16900_0.root"
    other_period = tmp_path / "na64sim_2017_r17000_0.root"
    keep = tmp_path / "notes.root"
    for p in (stale, stale_signal, other_period, keep):
        p.write_bytes(b"x")
    simulate_period(period("2016"), 2_000, tmp_path, config=SMALL)
    assert not stale.exists() and not stale_signal.exists()
    assert other_period.exists() and keep.exists()
    assert (tmp_path / "na64sim_2016_r16000_0.root").exists()
    assert not list(tmp_path.glob("*.part"))


def test_calibration_scales_are_applied(tmp_path):
    """Files hold E / scale: multiplying back gives the beam energy for every period."""
    means = {}
    for name in ("2021", "2022", "2023"):
        p = period(name)
        simulate_period(p, 20_000, tmp_path / name, config=SMALL)
        d = read(tmp_path / name)
        calib = d["trigger"] == 2
        means[name] = d["ecal"][calib].sum(axis=(1, 2, 3)).mean() * p.calibration.ecal_scale
        # Beam hadrons crossing the ECAL as a MIP put the rest into the HCAL (muons: ~5 GeV).
        hadrons = (d["mc_process"] == 3) & (d["ecal"].sum(axis=(1, 2, 3)) < 1.0)
        e_hcal = d["hcal"][hadrons].sum(axis=(1, 2, 3)) * p.calibration.hcal_scale
        assert np.median(e_hcal[e_hcal > 30]) == pytest.approx(99.0, rel=0.03)
    assert set(means) == {"2021", "2022", "2023"}
    for name, m in means.items():
        assert m == pytest.approx(100.0, rel=0.003), name
    raw = {n: means[n] / period(n).calibration.ecal_scale for n in means}
    assert raw["2021"] > raw["2022"] > raw["2023"]          # scales 0.985, 1, 1.01


def fraction_sampler(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.5, 0.9, n)


def quiet(p):
    """The period at a negligible beam intensity: no pile-up."""
    return p.model_copy(update={"beam": p.beam.model_copy(update={"intensity": 1.0})})


def test_pure_signal_sample(tmp_path):
    spec = SignalSpec(mass=0.0167, n_events=9_000, sample_fraction=fraction_sampler)
    report = simulate_period(quiet(period()), 0, tmp_path, signal=spec, config=SMALL)
    files = sorted(tmp_path.glob("*.root"), key=shard_key)
    assert files and all(re.fullmatch(r"na64sim_2022_sig16\.7MeV_r229\d\d_\d+\.root", f.name)
                         for f in files)
    d = read(tmp_path)
    phys, calib = d["trigger"] == 1, d["trigger"] == 2
    # The same prescaler: every 10th event; 9999 events hold the 9000 signal events.
    assert phys.sum() == 9_000 and calib.sum() == 999
    assert np.array_equal(np.flatnonzero(calib), np.arange(9, 9_999, 10))
    assert set(np.unique(d["mc_process"][phys])) == {6}
    x = d["mc_emiss"][phys] / 100.0        # x E_beam, the beam's 0.6 % spread aside
    assert x.min() > 0.5 * 0.97 and x.max() < 0.9 * 1.03
    assert np.mean(x) == pytest.approx(0.7, abs=0.005)
    e_ecal = d["ecal"][phys].sum(axis=(1, 2, 3))
    np.testing.assert_allclose(np.mean(e_ecal + d["mc_emiss"][phys]), 100.0, rtol=0.003)
    assert d["hcal"][phys].sum(axis=(1, 2, 3)).max() < 0.5        # HCAL: noise only
    assert d["veto"][phys].max() < 0.3                             # VETO: noise only
    assert report.signal["signal_events"] == 9_000
    assert report.signal["trigger_acceptance"] == pytest.approx(1.0)   # x > 0.5 always fires
    assert report.calibration_events == 0 and report.n_events == 0


def test_signal_suffers_the_periods_pile_up(tmp_path):
    """A' events get pile-up like any physics trigger: out-of-time ECAL at the period's rate."""
    spec = SignalSpec(mass=0.0167, n_events=9_000, sample_fraction=fraction_sampler)
    report = simulate_period(period(), 0, tmp_path, signal=spec, config=SMALL)
    d = read(tmp_path)
    phys = d["trigger"] == 1
    assert set(np.unique(d["mc_process"][phys])) == {6}
    late = np.mean(np.abs(d["ecal_time"][phys]) > 4.5)
    # Most pile-up overlays shift the ECAL time out of the +-4.5 ns window.
    assert 0.6 * report.pileup_probability < late < 1.05 * report.pileup_probability


def test_signal_next_to_background_and_trigger_acceptance(tmp_path):
    spec = SignalSpec(0.1, 4_000, lambda n, rng: rng.uniform(0.0, 1.0, n))
    report = simulate_period(quiet(period()), 5_000, tmp_path, signal=spec, config=SMALL)
    assert len(list(tmp_path.glob("na64sim_2022_r*.root"))) == 1
    assert len(list(tmp_path.glob("na64sim_2022_sig100MeV_r*.root"))) == 1
    # The trigger keeps x > ~0.2 of a uniform x: acceptance ~0.8.
    assert report.signal["trigger_acceptance"] == pytest.approx(0.8, abs=0.03)
    d = read(tmp_path, "na64sim_2022_sig*.root")
    assert d["mc_emiss"][d["trigger"] == 1].min() > 10.0     # E_ECAL < 80 GeV, resolution


def cli() -> typer.Typer:
    """The project's command line (its error handling included)."""
    from workflows.cli import app

    return app


def test_cli_writes_a_period_and_prints_a_summary(tmp_path):
    out = tmp_path / "data"
    result = CliRunner().invoke(cli(), [
        "simulate", "--period", "2016", "--events", "3000", "--output", str(out),
        "--catalog", str(DATASETS), "--events-per-shard", "1000", "--seed", "3", "--no-truth"])
    assert result.exit_code == 0, result.output
    assert "events/s" in result.output and "equivalent EOT" in result.output
    files = sorted(out.glob("na64sim_2016_r16000_*.root"))
    assert len(files) == 3
    assert "mc_process" not in {b.name for b in uproot.open(files[0])["events"].branches}


def test_cli_errors_are_clear(tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli(), ["simulate", "--period", "1999", "--events", "10", "--output",
                              str(tmp_path), "--catalog", str(DATASETS)])
    assert r.exit_code == 2 and "no period named '1999'" in r.output
    r = runner.invoke(cli(), ["simulate", "--period", "2016", "--events", "10", "--output",
                              str(tmp_path), "--catalog", str(DATASETS), "--signal-events", "5"])
    assert r.exit_code == 2 and "--signal-mass" in r.output


def test_cli_signal_uses_the_aprime_sampler(tmp_path):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    shutil.copy(DATASETS / "2022.yaml", catalog)
    r = CliRunner().invoke(cli(), [
        "simulate", "--period", "2022", "--events", "0", "--output", str(tmp_path / "s"),
        "--catalog", str(catalog), "--signal-mass", "0.02", "--signal-events", "2000"])
    assert r.exit_code == 0, r.output
    d = read(tmp_path / "s")
    assert np.sum(d["mc_process"] == 6) == 2000


def test_closed_form_cell_integral_matches_numerical_integration():
    integrate = pytest.importorskip("scipy.integrate")
    for radius in (4.1, 17.0, 120.0):
        def density(v: float, u: float, r: float = radius) -> float:
            return r * r / (np.pi * (u * u + v * v + r * r) ** 2)

        def q(x: float, y: float, r: float = radius) -> float:
            return quadrant_integral(np.float64(x), np.float64(y), r)

        for x1, x2, y1, y2 in [(0, 19, 0, 38), (-19, 19, -19, 19), (19, 57, -19, 19),
                               (-133, -95, 57, 95), (-30, 5, -7, 60)]:
            numeric = integrate.dblquad(density, x1, x2, y1, y2, epsabs=1e-12)[0]
            closed = q(x2, y2) - q(x1, y2) - q(x2, y1) + q(x1, y1)
            assert closed == pytest.approx(numeric, rel=1e-9, abs=1e-12)
    # The whole plane holds the whole profile; the float32 cell grid adds up to it.
    assert 4 * quadrant_integral(1e9, 1e9, 17.0) == pytest.approx(1.0, rel=1e-9)
    wide = np.linspace(-2e4, 2e4, 41).astype(np.float32)
    f = grid_fractions(np.zeros(1, np.float32), np.zeros(1, np.float32),
                       np.array([17.0], np.float32), wide, wide)
    assert f.sum() == pytest.approx(1.0, abs=2e-5)
    from workflows.simulation.config import EcalModel

    edges = cell_edges(EcalModel())
    np.testing.assert_allclose(edges, [-133, -95, -57, -19, 19, 57, 95])
