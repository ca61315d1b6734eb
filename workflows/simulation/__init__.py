"""NA64-style fast simulation: sharded ROOT files of a run period that follow
``shared/SCHEMA.md``, with the physics of the beam, the detectors and the background
processes documented in :mod:`.config`.

Public API (imported lazily, so that ``workflows.cli.simulate`` stays light):

* :func:`simulate_period` -- write a period's shards, ``simulation.json``, and return a
  :class:`SimulationReport`;
* :class:`SignalSpec` -- A' -> invisible events to add (mc_process 6);
* :class:`SimulationConfig`, :class:`DetectorModel` -- every rate and resolution;
* :func:`tag_probability` -- SRD tag probability of an electron or a hadron/muon;
* :func:`box_background` -- the model's expected signal-box background.

Modules: config (numbers and sources, the per-EOT rates), sampling (fast variates), beam,
srd, ecal, hcal, veto, processes (true deposits per process), strata (the processes split
by whether they can reach the sidebands or the box, and the seeds/002 Table 1 mechanisms),
exposure (a sample for an exposure: rates, prescales, counts), detector (cells), stream
(blocks, trigger), writer (ROOT shards), expectations, simulate (the API); the command is
workflows.cli.simulate.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "simulate_period": "simulate",
    "SignalSpec": "simulate",
    "SimulationReport": "simulate",
    "SimulationConfig": "config",
    "DetectorModel": "config",
    "tag_probability": "srd",
    "box_background": "expectations",
    "PROCESS_NAMES": "processes",
}

__all__ = [
    "PROCESS_NAMES",
    "DetectorModel",
    "SignalSpec",
    "SimulationConfig",
    "SimulationReport",
    "box_background",
    "simulate_period",
    "tag_probability",
]

if TYPE_CHECKING:  # pragma: no cover
    from .config import DetectorModel, SimulationConfig
    from .expectations import box_background
    from .processes import PROCESS_NAMES
    from .simulate import SignalSpec, SimulationReport, simulate_period
    from .srd import tag_probability


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
