"""Thermal relic targets of light dark matter in the (m_chi, y) plane.

y = epsilon^2 alpha_D (m_chi / m_A')^4 with m_A' = 3 m_chi. On a target line the chi
annihilation through the A' gives the observed relic density; NA64 draws three of them
(complex scalar, Majorana fermion, pseudo-Dirac fermion with a small splitting) on its
(m_chi, y) plots (seeds/000; seeds/002 Fig. 4; PRL 123 (2019) 121801).

The curves are data, ``workflows/data/thermal_targets.csv`` (its header names the source:
the NA64 collaboration's digitised lines, github.com/ESPP2026-PPG/Quasi-elastic-DM), not a
parametrisation.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

#: The models in the order they are drawn, with their labels.
MODELS: dict[str, str] = {
    "scalar": "scalar",
    "majorana": "Majorana",
    "pseudo-dirac": "pseudo-Dirac",
}
DATA_FILE = "thermal_targets.csv"


@dataclass(frozen=True)
class ThermalTarget:
    """One relic-density line: ``m_chi`` (GeV, increasing) and ``y`` at each."""

    model: str
    label: str
    m_chi: np.ndarray
    y: np.ndarray

    def at(self, m_chi: np.ndarray | float) -> np.ndarray:
        """y of the line at ``m_chi`` (GeV), interpolated in log-log; NaN outside the data."""
        x = np.log(np.asarray(m_chi, dtype=float))
        out = np.exp(np.interp(x, np.log(self.m_chi), np.log(self.y)))
        return np.where((x < np.log(self.m_chi[0])) | (x > np.log(self.m_chi[-1])), np.nan, out)


@cache
def thermal_targets() -> tuple[ThermalTarget, ...]:
    """The scalar, Majorana and pseudo-Dirac targets of :data:`DATA_FILE`."""
    text = resources.files("workflows").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    points: dict[str, list[tuple[float, float]]] = {m: [] for m in MODELS}
    for row in rows:
        points[row["model"]].append((float(row["m_chi"]), float(row["y"])))
    out = []
    for model, label in MODELS.items():
        m, y = np.array(sorted(points[model])).T
        out.append(ThermalTarget(model, label, m, y))
    return tuple(out)
