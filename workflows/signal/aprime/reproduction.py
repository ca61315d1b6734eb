"""Reproduction of Table V of NA64, PRD 97, 072002 (2018) (arXiv:1710.00971).

The paper's "simplified method" (text after Eq. (26)): merge the runs into one, and for
zero observed events use N_90 = 2.3 signal events (CLs).  With N_A'(eps) = sum_i EOT_i
eff_i n_A'(eps, m) and n_A' proportional to eps^2,

    eps_90(m) = 1e-4 * sqrt(2.3 / sum_i EOT_i eff_i n_A'(1e-4, m)),

n_A' = A' with E_A' > 0.5 E0 (signal box E_ECAL < 50 GeV) per EOT at E0 = 100 GeV
(:func:`yields.bremsstrahlung_per_eot`: the paper has no annihilation), computed with (ETL) or
without (IWW) K-factors.

Inputs and their status:
* Table V (eps_90 / 1e-4 without and with K-factors): seeds/002, PRD 97, 072002 Table V.
* EOT: 4.3e10 for the 2016 invisible-mode data (seeds/001 "2016 October run ... 4.3 x 10^10
  EOT ... published in Phys. Rev. D"; seeds/002 "nEOT = 4.3 x 10^10 ... in the year 2016").
* Signal efficiency: ASSUMED.  The per-run efficiencies eps_tot^i of the paper (its Eq. (23)
  and Sec. VIII) could not be retrieved with the tools available here; a single merged run
  with an overall efficiency ``ASSUMED_SIGNAL_EFFICIENCY`` is used.  eps_90 scales as
  eff^(-1/2), so a +-30 % error on it moves every ratio by about -+15 %.
  :func:`implied_efficiency` gives, per mass, the efficiency that would reproduce the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .constants import EPSILON_REF
from .yields import bremsstrahlung_per_eot

#: A' masses of Table V [GeV] (PRD 97, 072002, Table V; seeds/002).
TABLE_V_MASSES: NDArray[np.float64] = np.array(
    [1.1, 2.0, 5.0, 16.7, 20.0, 100.0, 200.0, 500.0, 950.0]
) * 1e-3
#: 90 % CL upper limit on eps in units of 1e-4, no K-factors (WW/IWW) (Table V, column 2).
TABLE_V_EPS_NO_K: NDArray[np.float64] = np.array(
    [0.22, 0.23, 0.43, 1.25, 1.29, 5.5, 13.0, 38.7, 94.20]
)
#: 90 % CL upper limit on eps in units of 1e-4, with K-factors (ETL) (Table V, column 3).
TABLE_V_EPS_K: NDArray[np.float64] = np.array([0.19, 0.24, 0.49, 1.33, 1.6, 8.2, 22.6, 97.8, 362.0])

#: Table V conditions: E0 = 100 GeV, E_miss > 0.5 E0 (Table V caption).
TABLE_V_E0: float = 100.0
TABLE_V_THRESHOLD: float = 50.0
#: CLs 90 % upper limit on the signal for zero observed events (PRD 97, 072002, after Eq. (26)).
N90_ZERO_EVENTS: float = 2.3
#: electrons on target of the 2016 invisible-mode sample (seeds/001, seeds/002).
EOT_2016: float = 4.3e10
#: overall signal efficiency -- an ASSUMPTION (see module docstring), not the paper's value.
ASSUMED_SIGNAL_EFFICIENCY: float = 0.7


@dataclass(frozen=True)
class Run:
    """One data-taking run: electrons on target and overall signal efficiency."""

    name: str
    eot: float
    efficiency: float


#: the 2016 sample merged into one run (the paper's simplified method).
RUNS_2016: tuple[Run, ...] = (
    Run("2016 merged (efficiency assumed)", EOT_2016, ASSUMED_SIGNAL_EFFICIENCY),
)


def epsilon_limit(
    mass: ArrayLike,
    runs: tuple[Run, ...] = RUNS_2016,
    k_factor: bool = True,
    n90: float = N90_ZERO_EVENTS,
    e0: float = TABLE_V_E0,
    threshold: float = TABLE_V_THRESHOLD,
) -> NDArray[np.float64]:
    """90 % CL upper limit on epsilon (absolute, not in 1e-4) with the simplified method."""
    n_a = np.atleast_1d(bremsstrahlung_per_eot(mass, e0, threshold, EPSILON_REF, k_factor))
    exposure = sum(run.eot * run.efficiency for run in runs)
    return EPSILON_REF * np.sqrt(n90 / (exposure * n_a))


def table_v_ratios(k_factor: bool, runs: tuple[Run, ...] = RUNS_2016) -> NDArray[np.float64]:
    """Per Table V mass: our eps_90 divided by the published one (column chosen by k_factor)."""
    published = (TABLE_V_EPS_K if k_factor else TABLE_V_EPS_NO_K) * 1e-4
    return epsilon_limit(TABLE_V_MASSES, runs, k_factor) / published


def implied_efficiency(k_factor: bool, eot: float = EOT_2016) -> NDArray[np.float64]:
    """Signal efficiency that makes our yields reproduce Table V exactly, per mass."""
    published = (TABLE_V_EPS_K if k_factor else TABLE_V_EPS_NO_K) * 1e-4
    n_a = bremsstrahlung_per_eot(TABLE_V_MASSES, TABLE_V_E0, TABLE_V_THRESHOLD, EPSILON_REF, k_factor)
    return N90_ZERO_EVENTS / (eot * n_a * (published / EPSILON_REF) ** 2)


def reproduce_table_v(runs: tuple[Run, ...] = RUNS_2016) -> dict[str, NDArray[np.float64]]:
    """Masses [GeV], our limits and ratios to Table V, without and with K-factors."""
    return {
        "mass": TABLE_V_MASSES.copy(),
        "eps90_no_k": epsilon_limit(TABLE_V_MASSES, runs, k_factor=False),
        "eps90_k": epsilon_limit(TABLE_V_MASSES, runs, k_factor=True),
        "ratio_no_k": table_v_ratios(False, runs),
        "ratio_k": table_v_ratios(True, runs),
    }
