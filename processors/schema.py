"""The event-data contract (``shared/SCHEMA.md``) as code.

Every branch the processors read, with its numpy dtype and per-event shape, and a
check that names each way a tree departs from the contract. Extra branches,
branch order, basket sizes and compression are free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TREE_NAME = "events"


@dataclass(frozen=True)
class Branch:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    unit: str = ""
    mc_only: bool = False

    def describe(self) -> str:
        dims = "".join(f"[{n}]" for n in self.shape)
        return f"{self.dtype.name}{dims}"


def _b(name: str, dtype: str, shape: tuple[int, ...] = (), unit: str = "", mc: bool = False) -> Branch:
    return Branch(name, np.dtype(dtype), shape, unit, mc)


#: Offsets of the 3 x 3 ECAL towers around the central one, in the order of the shower
#: fractions (:func:`processors.kernels.shower_shape` visits them in this order).
NEIGHBOURS: tuple[tuple[int, int], ...] = tuple((dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1))

#: SCHEMA.md, table "Branches", in its order.
BRANCHES: tuple[Branch, ...] = (
    _b("run", "int32"),
    _b("spill", "int32"),
    _b("event", "int64"),
    _b("trigger", "uint8"),
    _b("beam_momentum", "float32", unit="GeV"),
    _b("beam_angle", "float32", unit="mrad"),
    _b("straw_tracks", "int16"),
    _b("srd", "float32", (3,), "MeV"),
    _b("ecal", "float32", (2, 6, 6), "GeV"),
    _b("ecal_time", "float32", unit="ns"),
    _b("veto", "float32", (3,), "MIP"),
    _b("hcal", "float32", (4, 3, 3), "GeV"),
    _b("mc_process", "int8", mc=True),
    _b("mc_emiss", "float32", unit="GeV", mc=True),
)

BY_NAME = {b.name: b for b in BRANCHES}
REQUIRED = tuple(b.name for b in BRANCHES if not b.mc_only)
MC_BRANCHES = tuple(b.name for b in BRANCHES if b.mc_only)

#: Trigger bits (SCHEMA.md).
PHYSICS_BIT = 1 << 0
CALIBRATION_BIT = 1 << 1


def physics_mask(trigger: np.ndarray) -> np.ndarray:
    """Physics-trigger events; any event with the calibration bit is left out."""
    mask: np.ndarray = (trigger & PHYSICS_BIT).astype(bool) & ~(trigger & CALIBRATION_BIT).astype(bool)
    return mask

#: mc_process values (SCHEMA.md).
PROCESSES = {
    0: "electron shower",
    1: "hadron electroproduction",
    2: "dimuon",
    3: "beam hadron",
    4: "upstream interaction",
    5: "pile-up",
    6: "A' signal",
}


def branch_problems(tree: Any) -> list[str]:
    """Every departure of an uproot TTree from the contract, as readable sentences.

    Missing MC branches are not problems (real data have none); present ones must
    have the right type.
    """
    problems: list[str] = []
    keys = set(tree.keys())
    for b in BRANCHES:
        if b.name not in keys:
            if not b.mc_only:
                problems.append(f"branch '{b.name}' is missing (expected {b.describe()})")
            continue
        interp = tree[b.name].interpretation
        to_dtype = getattr(interp, "to_dtype", None)
        if to_dtype is None:
            problems.append(
                f"branch '{b.name}' is {type(interp).__name__} (variable length or object),"
                f" expected fixed {b.describe()}"
            )
            continue
        got_dtype = to_dtype.subdtype[0] if to_dtype.subdtype else to_dtype
        got_shape = to_dtype.shape
        if np.dtype(got_dtype).newbyteorder("=") != b.dtype or tuple(got_shape) != b.shape:
            dims = "".join(f"[{n}]" for n in got_shape)
            problems.append(
                f"branch '{b.name}' is {np.dtype(got_dtype).newbyteorder('=').name}{dims},"
                f" expected {b.describe()}"
            )
    return problems
