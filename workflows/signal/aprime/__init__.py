"""A' (dark photon) production by 100 GeV-scale electrons in the NA64 active Pb/Sc target.

Public API (masses and energies in GeV, cross-sections in pb, epsilon = kinetic mixing):

* :func:`dsigma_dx` -- dsigma/dx of e Z -> e Z A' on Pb, x = E_A'/E0 (IWW, ETL-corrected);
* :func:`sigma_total_pb` -- total cross-section, scales as epsilon^2;
* :func:`bremsstrahlung_per_eot` -- dark-bremsstrahlung A' with E_A' > threshold per EOT;
* :func:`annihilation_per_eot` -- resonant e+ e- -> A' with E_R > threshold per EOT;
* :func:`yield_per_eot` -- their sum, for an e- or e+ beam (``particle``);
* :func:`aprime_yield` -- both at one mass, as an :class:`AprimeYield`;
* :func:`sample_energy_fraction` -- bremsstrahlung x samples for the fast simulation;
* :func:`sample_signal_fraction` -- x samples of both processes in their proportion;
* :func:`yield_summary` -- the dict printed by ``na64 yield --json``.

Modules: constants, form_factors (chi), k_factors (ETL), cross_section, track_length
(shower), annihilation (resonant e+ e- -> A'), yields, sampling, reproduction (PRD 97,
072002 Table V, bremsstrahlung only).
"""

from .annihilation import Particle, annihilation_per_eot, positron_track_length, resonance_energy
from .cross_section import dsigma_dx, sigma_total_pb
from .sampling import annihilation_share, sample_energy_fraction, sample_signal_fraction
from .yields import AprimeYield, aprime_yield, bremsstrahlung_per_eot, yield_per_eot, yield_summary

__all__ = [
    "AprimeYield",
    "Particle",
    "annihilation_per_eot",
    "annihilation_share",
    "aprime_yield",
    "bremsstrahlung_per_eot",
    "dsigma_dx",
    "positron_track_length",
    "resonance_energy",
    "sample_energy_fraction",
    "sample_signal_fraction",
    "sigma_total_pb",
    "yield_per_eot",
    "yield_summary",
]
