"""A' (dark photon) production by 100 GeV-scale electrons in the NA64 active Pb/Sc target.

Public API (masses and energies in GeV, cross-sections in pb, epsilon = kinetic mixing):

* :func:`dsigma_dx` -- dsigma/dx of e Z -> e Z A' on Pb, x = E_A'/E0 (IWW, ETL-corrected);
* :func:`sigma_total_pb` -- total cross-section, scales as epsilon^2;
* :func:`yield_per_eot` -- A' with E_A' > threshold per electron on target;
* :func:`sample_energy_fraction` -- x samples for the fast simulation;
* :func:`yield_summary` -- the dict printed by ``na64 yield --json``.

Modules: constants, form_factors (chi), k_factors (ETL), cross_section, track_length
(shower), yields, sampling, reproduction (PRD 97, 072002 Table V).
"""

from .cross_section import dsigma_dx, sigma_total_pb
from .sampling import sample_energy_fraction
from .yields import yield_per_eot, yield_summary

__all__ = [
    "dsigma_dx",
    "sigma_total_pb",
    "yield_per_eot",
    "sample_energy_fraction",
    "yield_summary",
]
