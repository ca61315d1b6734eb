"""Physical constants, target material and NA64 ECAL geometry (natural units: GeV).

Every number carries its source.  Abbreviations used throughout the package:

* BEST  -- J.D. Bjorken, R. Essig, P. Schuster, N. Toro, PRD 80, 075018 (2009),
  arXiv:0906.0580 (appendix A: improved Weizsaecker-Williams, IWW).
* ETL   -- S.N. Gninenko, D.V. Kirpichnikov, M.M. Kirsanov, N.V. Krasnikov,
  PLB 782 (2018) 406, arXiv:1712.05706 (exact tree level), as tabulated in
* DMG4  -- M. Bondi et al., Comput. Phys. Commun. 269 (2021) 108129 (K-factor table,
  reference total cross-sections).
* Tsai  -- Y.-S. Tsai, Rev. Mod. Phys. 46, 815 (1974).
* PDG   -- Particle Data Group, Review of Particle Physics (2022), "Atomic and nuclear
  properties of materials" tables and "Physical constants".
"""

from __future__ import annotations

# --- fundamental constants --------------------------------------------------------------
#: fine-structure constant, CODATA 2018 / PDG "Physical constants": 1/137.035999084.
#: (DMG4 uses 1/137; the 0.1 % difference enters alpha^3 as 0.08 %.)
ALPHA_EM: float = 1.0 / 137.035999084
#: electron mass [GeV], PDG 2022: 0.51099895000 MeV.
M_ELECTRON: float = 0.51099895000e-3
#: proton mass [GeV], PDG 2022: 938.27208816 MeV.  Enters the inelastic form factor (BEST A19).
M_PROTON: float = 0.93827208816
#: proton magnetic moment in nuclear magnetons, PDG 2022: 2.79284734463.  (BEST A19.)
MU_PROTON: float = 2.79284734463
#: conversion GeV^-2 -> pb: (hbar c)^2 = 0.3893793721 GeV^2 mbarn (PDG "Physical constants").
GEV2_TO_PB: float = 0.3893793721e9
#: pb -> cm^2.
PB_TO_CM2: float = 1.0e-36
#: Avogadro constant [1/mol], SI exact (CODATA 2018).
N_AVOGADRO: float = 6.02214076e23

# --- benchmark mixing --------------------------------------------------------------------
#: the reference kinetic mixing used by NA64/DMG4 for tabulated cross-sections and yields
#: (DMG4 DarkMatter class: epsilBench = 1e-4; PRD 97, 072002 Table V quotes eps in 1e-4).
EPSILON_REF: float = 1.0e-4

# --- lead (the A' production target) -------------------------------------------------
#: atomic number of Pb.
Z_PB: float = 82.0
#: standard atomic weight of Pb [g/mol], PDG atomic & nuclear properties: 207.2.
#: (BEST's nuclear form factor uses A in d = 0.164 GeV^2 A^(-2/3); DMG4 uses 207.)
A_PB: float = 207.2
#: density of Pb [g/cm^3], PDG atomic & nuclear properties: 11.35.
RHO_PB: float = 11.35
#: radiation length of Pb [g/cm^2], PDG atomic & nuclear properties: 6.37 g/cm^2.
X0_PB_G_CM2: float = 6.37
#: radiation length of Pb [cm] = 6.37 / 11.35 = 0.5612 cm (PDG).
X0_PB_CM: float = X0_PB_G_CM2 / RHO_PB
#: number density of Pb atoms [1/cm^3] = N_A rho / A = 3.30e22 cm^-3.
N_ATOMS_PB_CM3: float = N_AVOGADRO * RHO_PB / A_PB

# --- plastic scintillator (polystyrene) ----------------------------------------------
#: radiation length of polystyrene [g/cm^2], PDG atomic & nuclear properties: 43.79 g/cm^2.
X0_SC_G_CM2: float = 43.79
#: density of polystyrene [g/cm^3], PDG: 1.060.
RHO_SC: float = 1.060
#: radiation length of polystyrene [cm] = 41.31 cm.
X0_SC_CM: float = X0_SC_G_CM2 / RHO_SC
#: <Z/A> of polystyrene [mol/g], PDG atomic & nuclear properties: 0.53768.
#: (Pb: Z_PB / A_PB = 0.39575, PDG.)  Electron densities of the resonant annihilation.
Z_OVER_A_SC: float = 0.53768

# --- beam --------------------------------------------------------------------------
#: relative RMS energy spread of the H4 beam: "H4 line: ... energy resolution < 1 %"
#: (seeds/000); 0.6 %, the value of the simulation's BeamModel.energy_spread (estimate).
#: Regulates the primary positron's track length at E0 in the resonant annihilation.
BEAM_ENERGY_SPREAD: float = 0.006

# --- NA64 ECAL (the active target) ---------------------------------------------------
#: Pb/Sc shashlik sampling: 150 x (1.5 mm Pb + 1.5 mm Sc), ~40 X0 (seeds/003 NA64 talk:
#: "Active target: 40X0 Pb/Sc calorimeter ... 150 x (1.5 mm Pb + 1.5 mm Sc)";
#: seeds/002: "High hermeticity (~40 X0) PbSc sandwich").
ECAL_N_LAYERS: int = 150
ECAL_PB_THICKNESS_CM: float = 0.15
ECAL_SC_THICKNESS_CM: float = 0.15

# --- form-factor parameters (BEST Eqs. (A18)-(A19)) ----------------------------------
#: atomic screening: a = 111 Z^(-1/3) / m_e (BEST A18).
SCREENING_A_COEFF: float = 111.0
#: nuclear size: d = 0.164 GeV^2 A^(-2/3) (BEST A18).
NUCLEAR_D_COEFF: float = 0.164
#: inelastic screening: a' = 773 Z^(-2/3) / m_e (BEST A19).
SCREENING_AP_COEFF: float = 773.0
#: proton dipole scale 0.71 GeV^2 (BEST A19).
PROTON_DIPOLE_T: float = 0.71

#: Tsai's approximation-B energy-loss constant b = 4/3 (Tsai RMP 46, 815 (1974), electron
#: track-length distribution I_e(E0,E,t) = [ln(E0/E)]^(bt-1) / (E0 Gamma(bt)), approximation B;
#: the same form is used in BEST App. A for thick targets).
TSAI_B: float = 4.0 / 3.0
#: photon pair-production probability per X0 in complete screening, 7/9: the integral over the
#: electron fraction w of 1 - 4/3 w (1 - w) (Tsai 1974 complete-screening pair formula, as
#: quoted in PDG RPP "Passage of particles through matter"; small (Z^2+Z)/9 term dropped).
PAIR_SIGMA_X0: float = 7.0 / 9.0

#: Euler-Mascheroni constant.
EULER_GAMMA: float = 0.5772156649015329

__all__ = [name for name in dir() if name.isupper()]
