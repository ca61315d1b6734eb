"""Run periods and chunks fail honestly and in isolation, through ``na64 process``.

* A period that cannot be processed (too few calibration electrons for the shower
  reference, no chunk that can be read) gets a ``summary.json`` saying so (``status:
  "failed"``, a ``reason``), the other periods are processed, the command ends with exit
  code 1 and the runs table names the period and the reason; no traceback. A period that
  fails when it is reprocessed keeps its previous result (``previous/``).
* A chunk the shower-reference pass cannot read is a failure of the period like any
  other (``failed``, ``"pass": "reference"``); such a reference is never reused, and
  ``--force`` always derives the reference again. A reference short of the requested
  electrons is flagged.
* Paths with non-ASCII characters are processed like any other.
* The processors report a chunk whose file cannot be read, or does not follow the
  schema, as a failure (file, entry range, reason), and nothing else: a programming
  error fails the task (Dask retries it) and stops the command with its traceback.

Small hand-built files (``tests/eventfiles.py``), real LocalClusters and external
``dask`` schedulers and workers. Two tests inject a fault on the workers of an external
cluster (``client.run``): a bug in the search processor, and a read error of the
reference pass that happens once.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import traceback
from pathlib import Path

import numpy as np
import pytest
import uproot
from typer.testing import CliRunner

from tests.eventfiles import calibration_electrons, electron, write_catalog, write_events
from tests.faults import external_cluster, summary
from workflows.cli import app
from workflows.processing.results import read_period

CHUNK = ("--chunksize", "100")


def process(catalog: Path, output: Path, *extra: str):
    return CliRunner().invoke(app, ["process", "--catalog", str(catalog), "--output", str(output),
                                    "--workers", "1", *CHUNK, *extra])


def flat(text: str) -> str:
    return " ".join(text.split())


def mentions(output: str, message: str) -> bool:
    """Whether the output holds ``message``, whatever rich's line breaks (long paths are
    folded at any character)."""
    return "".join(message.split()) in "".join(output.split())


def runs_table(output: str) -> dict[str, str]:
    """Status per period in the runs table (rich may cut names short: ``a_few_ele…``)."""
    rows = {}
    for line in output[output.rindex("Processing"):].splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 8 and cells[0]:
            rows[cells[0].rstrip("…")] = cells[1]
    return rows


def status_in_table(output: str, period: str) -> str:
    (status,) = [s for name, s in runs_table(output).items() if period.startswith(name)]
    return status


def period_events(n_calibration: int, n_physics: int, clusters: int = 5,
                  seed: int = 7) -> list[dict]:
    """Calibration electrons and clean physics electrons (70 GeV: sideband C), spread
    evenly over ``clusters`` blocks, so that every chunk holds both."""
    calib = calibration_electrons(n_calibration, seed=seed)
    physics = [electron(70.0) for _ in range(n_physics)]
    c, p = n_calibration // clusters, n_physics // clusters
    return [e for i in range(clusters)
            for e in calib[i * c:(i + 1) * c] + physics[i * p:(i + 1) * p]]


def damage_baskets(path: Path, branch: str, baskets: list[int] | None = None) -> None:
    """Overwrite the compression header of baskets in place (damaged payload bytes may go
    unnoticed: ZSTD frames carry no checksum); the file keeps its size and modification
    time, so nothing in the provenance tells that it changed."""
    st = path.stat()
    b = uproot.open(path)["events"][branch]
    seeks = b.member("fBasketSeek")
    with open(path, "r+b") as f:
        for i in range(b.num_baskets) if baskets is None else baskets:
            f.seek(int(seeks[i]) + 14)
            key_length = struct.unpack(">h", f.read(2))[0]  # TKey.fKeylen
            f.seek(int(seeks[i]) + key_length)
            f.write(b"XX")  # no compression algorithm is called that
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def restore(path: Path, data: bytes) -> None:
    """Put the intact bytes back, again keeping size and modification time."""
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


# -- defect 1: period-level errors ----------------------------------------------------------

FEW = "a_few_electrons"
NO_CHUNK = "b_no_readable_chunk"
NON_ASCII = "c_non_ascii"
GOOD = "d_good"


@pytest.fixture(scope="module")
def periods(tmp_path_factory):
    """Four periods processed by one command: two fail, two are processed."""
    root = tmp_path_factory.mktemp("periods")
    events = period_events(300, 200)
    write_events(root / "few" / "f.root", period_events(50, 100), step=30)
    write_events(root / "nochunk" / "n.root", events, step=100)
    damage_baskets(root / "nochunk" / "n.root", "hcal")  # the reference pass does not read it
    write_events(root / "daten_é" / "läuf_1.root", events, step=100)
    write_events(root / "good" / "g.root", events, step=100)
    catalog = root / "catalog"
    write_catalog(catalog, FEW, ["../few/*.root"])
    write_catalog(catalog, NO_CHUNK, ["../nochunk/*.root"])
    write_catalog(catalog, NON_ASCII, ["../daten_é/*.root"])
    write_catalog(catalog, GOOD, ["../good/*.root"])
    out = root / "out"
    result = process(catalog, out)
    return {"root": root, "catalog": catalog, "out": out, "result": result}


REASONS = {
    FEW: "only 50 calibration-trigger electrons passed the reference selection",
    NO_CHUNK: "no chunk could be read: all 5 chunks failed",
}


@pytest.mark.distributed
def test_failed_periods_end_the_command_with_exit_1_and_are_named_in_the_table(periods):
    result = periods["result"]
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no uncaught error
    text = flat(result.output)
    assert "Traceback" not in text
    caption = flat(result.output[result.output.rindex("Processing"):])
    for name, reason in REASONS.items():
        assert f"{name}: {reason}" in caption, name
        assert f"error: {name}: {reason}" in text, name  # the log
        assert status_in_table(result.output, name) == "failed", name
    for name in (NON_ASCII, GOOD):
        assert status_in_table(result.output, name) == "processed", name


@pytest.mark.distributed
def test_a_failed_period_has_a_summary_that_says_why(periods):
    good = summary(periods["out"], GOOD)
    for name, reason in REASONS.items():
        s = summary(periods["out"], name)
        assert s["status"] == "failed" and s["complete"] is False, name
        assert reason in s["reason"], (name, s["reason"])
        assert set(good) - {"shower_reference", "cutflow_by_process"} <= set(s), name
        assert not (periods["out"] / name / "histograms.json.gz").exists()
    chunks = summary(periods["out"], NO_CHUNK)["failed"]
    assert [f["entries"] for f in chunks] == [[i, i + 100] for i in range(0, 500, 100)]
    assert all(f["file"].endswith("n.root") for f in chunks)
    assert all("unrecognized compression algorithm: b'XX'" in f["reason"] for f in chunks)
    assert summary(periods["out"], FEW)["failed"] == []


@pytest.mark.distributed
def test_the_other_periods_are_processed_non_ascii_paths_included(periods):
    good, accented = summary(periods["out"], GOOD), summary(periods["out"], NON_ASCII)
    for s in (good, accented):
        assert s["status"] == "processed" and s["reason"] is None
        assert s["complete"] is True and s["failed"] == []
        assert s["events"]["read"] == 500
    path = periods["root"] / "daten_é" / "läuf_1.root"
    assert list(accented["files"]["entries"]) == [str(path)]
    for key in ("cutflow", "regions", "events"):
        assert accented[key] == good[key], key


@pytest.mark.distributed
def test_failed_periods_are_tried_again_and_processed_ones_are_up_to_date(periods, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(periods["out"], out)
    result = process(periods["catalog"], out)
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    for name in (FEW, NO_CHUNK):
        assert status_in_table(result.output, name) == "failed", name
        assert summary(out, name)["status"] == "failed"
    for name in (NON_ASCII, GOOD):
        assert status_in_table(result.output, name) == "up to date", name
        assert f"{name}: up to date" in text


@pytest.mark.distributed
def test_a_period_failing_when_reprocessed_keeps_its_previous_result(periods, tmp_path):
    data = tmp_path / "data" / "p.root"
    write_events(data, period_events(300, 200), step=100)
    intact = data.read_bytes()
    catalog = tmp_path / "catalog"
    write_catalog(catalog, "p", ["../data/*.root"])
    out = tmp_path / "out"
    assert process(catalog, out).exit_code == 0
    before = {n: (out / "p" / n).read_bytes() for n in ("summary.json", "histograms.json.gz")}

    shutil.copy(periods["root"] / "few" / "f.root", data)  # a new version, unusable
    result = process(catalog, out)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    s = summary(out, "p")
    assert s["status"] == "failed" and REASONS[FEW] in s["reason"]
    assert s["previous"] == "previous"
    assert mentions(result.output, f"p: the previous result is kept in {out / 'p' / 'previous'}")
    for name, content in before.items():
        assert (out / "p" / "previous" / name).read_bytes() == content, name
    assert read_period(out / "p" / "previous").summary.complete is True

    # Failing again keeps the same previous result; success replaces it.
    assert process(catalog, out).exit_code == 1
    assert (out / "p" / "previous" / "summary.json").read_bytes() == before["summary.json"]
    data.write_bytes(intact)
    result = process(catalog, out)
    assert result.exit_code == 0, result.output
    assert summary(out, "p")["status"] == "processed"
    assert not (out / "p" / "previous").exists()


# -- defect 2: the shower-reference pass ----------------------------------------------------

@pytest.mark.distributed
def test_a_damaged_chunk_fails_in_both_passes_and_its_reference_never_sticks(tmp_path):
    data = tmp_path / "data" / "r.root"
    write_events(data, period_events(300, 200), step=100)  # 60 calibration electrons per chunk
    intact = data.read_bytes()
    damage_baskets(data, "ecal", [2])
    catalog = tmp_path / "catalog"
    write_catalog(catalog, "r", ["../data/*.root"])
    out = tmp_path / "out"

    result = process(catalog, out)
    assert result.exit_code == 1, result.output
    s = summary(out, "r")
    assert s["complete"] is False and s["status"] == "processed"
    reference_failures = [f for f in s["failed"] if f.get("pass") == "reference"]
    assert [(f["file"], f["entries"]) for f in reference_failures] == [(str(data), [200, 300])]
    assert "unrecognized compression algorithm: b'XX'" in reference_failures[0]["reason"]
    assert [f["entries"] for f in s["failed"] if "pass" not in f] == [[200, 300]]  # main pass
    assert s["shower_reference"]["n_events"] == 240
    assert s["shower_reference"]["requested"] == 20_000
    assert mentions(result.output, f"r: failed {data} entries 200-300 (shower reference pass)")
    assert json.loads((out / "r" / "shower_reference.json").read_text())["key"] is None

    # Repaired in place (same size and time: the provenance cannot tell), the next run
    # derives the full reference instead of reusing the short one.
    restore(data, intact)
    result = process(catalog, out)
    assert result.exit_code == 0, result.output
    s = summary(out, "r")
    assert s["complete"] is True and s["failed"] == [] and s["shower_reference"]["n_events"] == 300
    derived = json.loads((out / "r" / "shower_reference.json").read_text())
    assert derived["key"]

    # --force derives it again, even when a stored reference claims to be reusable.
    tampered = {**derived, "n_events": 1, "mean": [0.5] * 9}
    (out / "r" / "shower_reference.json").write_text(json.dumps(tampered))
    assert process(catalog, out, "--force").exit_code == 0
    assert json.loads((out / "r" / "shower_reference.json").read_text()) == derived
    assert summary(out, "r")["shower_reference"]["n_events"] == 300


#: A read error of the reference pass only, once (as a storage hiccup would): the
#: worker's ``read_column`` of the reference processor (processors.reference_processor) fails for entries 200-300.
FLAKY_REFERENCE_READ = """
import os
import processors.reference_processor as reference
original = reference.read_column
def read_column(events, name):
    if (name == "ecal" and events.metadata["entrystart"] == 200
            and not os.path.exists({flag!r})):
        open({flag!r}, "w").close()
        raise OSError("[Errno 5] Input/output error")
    return original(events, name)
reference.read_column = read_column
"""


@pytest.mark.distributed
@pytest.mark.timeout(240)
def test_a_transient_read_error_of_the_reference_pass_is_recorded_and_tried_again(tmp_path):
    data = write_events(tmp_path / "data" / "t.root", period_events(300, 200), step=100)
    catalog = tmp_path / "catalog"
    write_catalog(catalog, "t", ["../data/*.root"])
    out, flag = tmp_path / "out", tmp_path / "failed-once"
    with external_cluster(tmp_path / "cluster", n_workers=1) as cluster:
        from distributed import Client

        with Client(cluster.address, timeout="10s") as client:
            client.run(exec, FLAKY_REFERENCE_READ.format(flag=str(flag)), {})

        def run():
            return process(catalog, out, "--scheduler", cluster.address)

        result = run()
        assert flag.exists()
        assert result.exit_code == 1, result.output
        s = summary(out, "t")
        assert s["complete"] is False
        assert s["failed"] == [{"file": str(data), "entries": [200, 300], "pass": "reference",
                                "reason": "OSError: [Errno 5] Input/output error"}]
        assert s["shower_reference"]["n_events"] == 240 and s["chunks"]["failed"] == 0
        assert s["events"]["read"] == 500  # the main pass read every chunk
        assert runs_table(result.output)["t"] == "processed"

        # Same files: the period is not up to date, the reference is derived again.
        result = run()
        assert result.exit_code == 0, result.output
        assert "t: reprocessing" in flat(result.output)
        s = summary(out, "t")
        assert s["complete"] is True and s["failed"] == []
        assert s["shower_reference"]["n_events"] == 300

        result = run()  # now it is up to date
        assert result.exit_code == 0 and "t: up to date" in flat(result.output)


@pytest.mark.distributed
def test_a_reference_short_of_the_requested_electrons_is_flagged(periods):
    s = summary(periods["out"], GOOD)
    ref = s["shower_reference"]
    assert ref["n_events"] == 300 and ref["requested"] == 20_000
    assert "300 of the 20000 requested" in ref["warning"]
    assert s["complete"] is True
    assert mentions(periods["result"].output,
                    f"{GOOD}: the shower reference uses only 300 of the 20000 requested")


# -- paths with non-ASCII characters ------------------------------------------------------

@pytest.mark.distributed
def test_paths_with_non_ascii_characters_are_processed(tmp_path):
    data = write_events(tmp_path / "daten_é" / "läuf_1.root", period_events(300, 200), step=100)
    write_catalog(tmp_path / "catalog", "accented", ["../daten_é/*.root"])
    out = tmp_path / "résultats"
    result = process(tmp_path / "catalog", out)
    assert result.exit_code == 0, result.output
    s = summary(out, "accented")
    assert s["complete"] is True and s["failed"] == []
    assert s["events"]["read"] == 500 and s["chunks"]["total"] == 5
    assert list(s["files"]["entries"]) == [str(data)]


# -- defect 4: programming errors are not bad input -----------------------------------------

BREAK_SEARCH = """
import processors.invisible as inv
original = inv.InvisibleSearchProcessor.process_columns
def process_columns(self, columns):
    if self.setup.name != {period!r}:
        return original(self, columns)
    with open({count!r}, "a") as f:
        f.write("attempt\\n")
    return 1 / 0
inv.InvisibleSearchProcessor.process_columns = process_columns
"""


@pytest.mark.distributed
@pytest.mark.timeout(240)
def test_a_programming_error_stops_the_command_with_its_traceback(tmp_path):
    events = period_events(300, 200)
    write_events(tmp_path / "data" / "a.root", events, step=100)
    write_events(tmp_path / "data" / "b.root", events, step=100)
    catalog = tmp_path / "catalog"
    write_catalog(catalog, "a_fine", ["../data/a.root"])
    write_catalog(catalog, "b_bug", ["../data/b.root"])
    out, count = tmp_path / "out", tmp_path / "attempts"
    with external_cluster(tmp_path / "cluster", n_workers=1) as cluster:
        from distributed import Client

        with Client(cluster.address, timeout="10s") as client:
            client.run(exec, BREAK_SEARCH.format(period="b_bug", count=str(count)), {})
        result = CliRunner().invoke(app, ["process", "--catalog", str(catalog), "--output",
                                          str(out), "--scheduler", cluster.address,
                                          "--chunksize", "500"])
    assert result.exit_code not in (0, 2), result.output
    shown = "".join(traceback.format_exception(*result.exc_info))  # what main() prints
    assert isinstance(result.exception.__cause__, ZeroDivisionError), shown
    assert "in process_columns" in shown and "ZeroDivisionError: division by zero" in shown
    assert count.read_text().count("attempt") == 4  # the task and its 3 retries
    assert not (out / "b_bug" / "summary.json").exists()  # never reported as bad input
    assert summary(out, "a_fine")["complete"] is True


def _events(path: Path, start: int, stop: int):
    from coffea.nanoevents import BaseSchema, NanoEventsFactory

    meta = {"dataset": "p", "filename": str(path), "treename": "events",
            "entrystart": start, "entrystop": stop, "fileuuid": ""}
    return NanoEventsFactory.from_root({str(path): "events"}, schemaclass=BaseSchema,
                                       metadata=meta, mode="virtual", entry_start=start,
                                       entry_stop=stop).events()


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
    path = tmp_path_factory.mktemp("intact") / "i.root"
    return write_events(path, period_events(300, 200), step=100)


def _search(reference):
    from processors.cuts import Thresholds
    from processors.invisible import InvisibleSearchProcessor, PeriodSetup
    from processors.variations import nominal

    return InvisibleSearchProcessor(PeriodSetup("p", 100.0), reference, [nominal(Thresholds())])


def _reference(path: Path):
    from processors.reference import reference_from_output
    from processors.reference_processor import ShowerReferenceProcessor

    proc = ShowerReferenceProcessor(100.0, 1.0, (3, 3))
    return proc, reference_from_output(proc.process(_events(path, 0, 500)), (3, 3), 100.0)


COMPRESSIONS = {"zlib": uproot.ZLIB(3), "lz4": uproot.LZ4(3), "lzma": uproot.LZMA(3),
                "zstd": uproot.ZSTD(3), "none": None}
#: Parts of a basket that can be damaged (bytes from, how many), relative to the basket's
#: seek, its key length and its size: the compressed payload, the compression header,
#: the key, and the basket's fields at the end of the key (entries, buffer sizes).
DAMAGE = {"payload": lambda seek, key, size: (seek + size // 2, 64),
          "header": lambda seek, key, size: (seek + key, 9),
          "key": lambda seek, key, size: (seek + 2, 64),
          "fields": lambda seek, key, size: (seek + key - 18, 16)}


def _damaged_copy(src: Path, dst: Path, compression, where: str) -> Path:
    """``src`` rewritten with ``compression`` (clusters of 100), basket 2 of ``ecal`` damaged."""
    columns = uproot.open(src)["events"].arrays(library="np")
    with uproot.recreate(dst, compression=compression) as f:
        f.mktree("events", {k: (v.dtype, v.shape[1:]) for k, v in columns.items()})
        for i in range(0, 500, 100):
            f["events"].extend({k: v[i:i + 100] for k, v in columns.items()})
    b = uproot.open(dst)["events"]["ecal"]
    seek, size = int(b.member("fBasketSeek")[2]), int(b.member("fBasketBytes")[2])
    data = bytearray(dst.read_bytes())
    key_length = struct.unpack(">h", data[seek + 14:seek + 16])[0]  # TKey.fKeylen
    offset, n = DAMAGE[where](seek, key_length, size)
    data[offset:offset + n] = np.random.default_rng(1).integers(0, 256, n, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def _assert_failed_chunk(path: Path, reference, events_of_chunk, start: int,
                         stop: int) -> list[str]:
    """Both processors report the chunk as failed (file, entry range, reason); the reasons."""
    from processors.reference_processor import ShowerReferenceProcessor

    out = ShowerReferenceProcessor(100.0, 1.0, (3, 3)).process(events_of_chunk())
    (ref,) = out.failed
    assert (ref.file, ref.entrystart, ref.entrystop) == (str(path), start, stop)
    assert not out.sums
    out = _search(reference).process(events_of_chunk())
    assert out.failed_chunks == 1 and out.hists is None
    (main,) = out.failed
    assert (main.file, main.entrystart, main.entrystop) == (str(path), start, stop)
    return [ref.reason, main.reason]


#: Damage that no reader can notice, left out: uncompressed payload and header bytes are
#: data (nothing tells that they changed), and ZSTD frames in ROOT files carry no checksum
#: (a damaged payload may decode into other numbers).
UNDETECTABLE = {("none", "payload"), ("none", "header"), ("zstd", "payload")}


@pytest.mark.parametrize(("compression", "where"),
                         [(c, w) for c in COMPRESSIONS for w in DAMAGE if (c, w) not in UNDETECTABLE])
def test_a_damaged_basket_is_a_failed_chunk_in_both_passes(intact, tmp_path, compression, where):
    path = _damaged_copy(intact, tmp_path / "d.root", COMPRESSIONS[compression], where)
    _, reference = _reference(intact)
    reasons = _assert_failed_chunk(path, reference, lambda: _events(path, 200, 300), 200, 300)
    assert all(r.split(":")[0] in READ_ERROR_NAMES for r in reasons), reasons
    # the other chunks are read in full
    assert _search(reference).process(_events(path, 300, 400)).events == 100


READ_ERROR_NAMES = {"DecompressionError", "error", "ValueError", "DeserializationError",
                    "OSError", "SchemaError", "FieldNotFoundError", "KeyInFileError"}


def test_a_file_truncated_while_open_is_a_failed_chunk(intact, tmp_path):
    path = tmp_path / "t.root"
    shutil.copy(intact, path)
    _, reference = _reference(intact)
    opened = [_events(path, 200, 300), _events(path, 200, 300)]  # opened, nothing read yet
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 3)
    reasons = _assert_failed_chunk(path, reference, opened.pop, 200, 300)
    assert all(r.startswith("OSError: ") for r in reasons), reasons


def test_columns_departing_from_the_schema_are_a_failed_chunk(intact, tmp_path):
    columns = uproot.open(intact)["events"].arrays(library="np")
    _, reference = _reference(intact)
    wrong = tmp_path / "wrong_type.root"
    with uproot.recreate(wrong) as f:
        f["events"] = {**columns, "ecal": columns["ecal"].astype(np.float64)}
    reasons = _assert_failed_chunk(wrong, reference, lambda: _events(wrong, 0, 500), 0, 500)
    expected = "SchemaError: branch 'ecal' is float64[2][6][6], expected float32[2][6][6]"
    assert reasons == [expected] * 2
    missing = tmp_path / "missing.root"
    with uproot.recreate(missing) as f:
        f.mktree("events", {k: (v.dtype, v.shape[1:]) for k, v in columns.items() if k != "ecal"})
        f["events"].extend({k: v for k, v in columns.items() if k != "ecal"})
    reasons = _assert_failed_chunk(missing, reference, lambda: _events(missing, 0, 500), 0, 500)
    assert all("ecal" in r for r in reasons), reasons


def test_programming_errors_in_the_processors_are_raised(intact, monkeypatch):
    import processors.reference_processor

    proc, reference = _reference(intact)
    search = _search(reference)

    class Broken(type(search)):
        def process_columns(self, columns):
            return self.no_such_attribute

    broken = Broken(search.setup, reference, search.variations)
    with pytest.raises(AttributeError, match="no_such_attribute"):
        broken.process(_events(intact, 0, 100))

    def shower_shape(*args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(processors.reference_processor, "shower_shape", shower_shape)
    with pytest.raises(ZeroDivisionError, match="a bug"):
        proc.process(_events(intact, 0, 100))
