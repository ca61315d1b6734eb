"""Signal samples on disk: the signal catalogs of simulated samples, and what is handed to
the processing (one full period catalog per sample, the variations mapped onto samples).

Both simulated samples and anybody else's go through these catalogs, so the efficiency
is measured on one path (:func:`workflows.signal.efficiency.measure_samples`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import yaml

from workflows.processing.catalog import Period, SignalSample

log = logging.getLogger(__name__)


def _clear_yaml(directory: Path) -> None:
    """Remove the catalogs this module wrote earlier into ``directory``."""
    for old in [*directory.glob("*.yaml"), *directory.glob("*.yml")]:
        old.unlink()


def _write_yaml(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def period_catalog(period: Period, **changes) -> dict:
    """A data period's catalog as a mapping, with absolute ``files`` (it may be written
    anywhere) and ``changes`` applied."""
    data = period.model_dump(mode="json")
    data["files"] = [str(p) for p in period.patterns()]
    data.update(changes)
    return data


def write_signal_catalogs(directory: Path, periods: Sequence[Period],
                          samples: Sequence[dict]) -> Path:
    """A catalog directory of signal samples: the data periods they simulate (copied, with
    absolute file patterns) and one signal catalog per sample.

    ``samples`` holds mappings of a signal catalog (``name``, ``files``, ``signal``, ...).
    Catalogs written earlier into ``directory`` are removed first.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _clear_yaml(directory)
    for period in periods:
        _write_yaml(directory / f"{period.name}.yaml", period_catalog(period))
    for sample in samples:
        _write_yaml(directory / f"{sample['name']}.yaml", sample)
    return directory


def write_processing_catalogs(directory: Path, samples: Sequence[SignalSample]) -> Path:
    """One full period catalog per sample (its data period's conditions, its own files), to
    be processed by :func:`workflows.processing.periods.run_processing`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _clear_yaml(directory)
    for s in samples:
        _write_yaml(directory / f"{s.name}.yaml", period_catalog(s.period))
    return directory


def signal_variations(source: Path, samples: Sequence[SignalSample], target: Path,
                      data_periods: Sequence[Period] | None = None) -> Path:
    """The variations file ``source`` with every ``periods:`` list naming data periods
    rewritten to name the samples of those periods (samples are processed under their own
    names), written to ``target``. ``source`` is validated first against ``data_periods``
    (default: the periods of the samples), as ``na64 process --variations`` does."""
    from workflows.processing.variations import load_variations

    if data_periods is None:
        data_periods = list({s.data_period: s.period.model_copy(update={"name": s.data_period})
                             for s in samples}.values())
    vset = load_variations(source, data_periods)
    spec = vset.spec.model_dump(mode="json", exclude_none=True)
    for entry in spec["variations"].values():
        if "periods" in entry:
            entry["periods"] = [s.name for s in samples if s.data_period in entry["periods"]]
    log.debug("variations of %s mapped onto %d signal samples", source, len(samples))
    return _write_yaml(Path(target), spec)
