"""Every number of the fast simulation, with its source.

Sources: the seeds in ``shared/seeds`` (000: 2021-2022 analysis talk; 001: Crivelli,
FIPs 2022; 002: 2016-2018 talk and PRD 97, 072002 / PRL 123, 121801 excerpts;
003: Peshekhonov, Lomonosov 2025), the PDG Review of Particle Physics (passage of
particles through matter, electromagnetic and hadronic showers, atomic and nuclear
properties of materials), or "estimate" with the reasoning next to it.

Energies in GeV, lengths in mm, times in ns, SRD energies in MeV, VETO in MIP. Where
a quantity scales with the beam energy E0 it is given at the reference energy of
100 GeV (``E_REF``) and scaled in the code, so that a 150 GeV period works unchanged.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Reference beam energy at which energy-dependent numbers are quoted (GeV).
E_REF = 100.0

# --- PDG "Atomic and nuclear properties of materials" (pdg.lbl.gov/AtomicNuclearProperties)
#: Lead: radiation length (g/cm2), density (g/cm3), critical energy for e- (MeV),
#: nuclear interaction length (g/cm2).
PB = {"x0": 6.37, "rho": 11.35, "ec": 7.43, "lambda_i": 199.6}
#: Polystyrene scintillator.
SCINT = {"x0": 43.79, "rho": 1.060, "ec": 93.11, "lambda_i": 81.7}
#: Scale energy E_s = m_e c^2 sqrt(4 pi / alpha) (PDG, EM showers), MeV.
E_SCALE = 21.2052


def pbsc_mixture(pb_mm: float = 1.5, sc_mm: float = 1.5) -> dict[str, float]:
    """Radiation length, Moliere radius, critical energy and interaction length of a
    Pb/Sc sandwich, by the PDG mixture rules (mass fractions w_j):
    1/X0 = sum w_j/X_j, 1/R_M = (1/E_s) sum w_j E_cj/X_j, 1/lambda = sum w_j/lambda_j.

    Returns lengths in mm (and the mass-weighted density, critical energy in MeV).
    """
    m_pb, m_sc = pb_mm / 10 * PB["rho"], sc_mm / 10 * SCINT["rho"]   # g/cm2 per layer
    w_pb, w_sc = m_pb / (m_pb + m_sc), m_sc / (m_pb + m_sc)
    rho = (m_pb + m_sc) / ((pb_mm + sc_mm) / 10)
    x0 = 1 / (w_pb / PB["x0"] + w_sc / SCINT["x0"])                                   # g/cm2
    rm = E_SCALE / (w_pb * PB["ec"] / PB["x0"] + w_sc * SCINT["ec"] / SCINT["x0"])      # g/cm2
    lam = 1 / (w_pb / PB["lambda_i"] + w_sc / SCINT["lambda_i"])                       # g/cm2
    return {"density": rho, "x0_mm": 10 * x0 / rho, "moliere_mm": 10 * rm / rho,
            "critical_mev": E_SCALE * x0 / rm, "lambda_mm": 10 * lam / rho}


#: NA64 ECAL: 150 x (1.5 mm Pb + 1.5 mm Sc) (seeds/003): X0 = 11.1 mm (40.6 X0 in total,
#: seeds/002-003 "40 X0"), R_M = 27.4 mm, E_c = 8.5 MeV, lambda_int = 286 mm (1.57 lambda).
ECAL_MATERIAL = pbsc_mixture()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BeamModel(_Model):
    """The H4 electron beam and the upstream spectrometer."""

    # True momentum spread of the beam: "H4 line: ... energy resolution < 1 %" (seeds/000);
    # 0.6 % RMS, inside that bound (estimate).
    energy_spread: float = Field(0.006, ge=0)
    # Magnetic spectrometer (MM, GEM, straw; 6.8 T m): "Delta p/p ~ 1 %" (seeds/003).
    spectrometer_resolution: float = Field(0.010, ge=0)
    # No single reconstructed track for a clean electron: 0.5 % (estimate, brief).
    tracking_inefficiency: float = Field(0.005, ge=0, le=1)
    # Incoming-track angle, Rayleigh parameter (mrad): the H4 divergence is a few 0.1 mrad;
    # 0.25 mrad puts exp(-8) = 3e-4 beyond the 1 mrad cut (estimate).
    angle_sigma: float = Field(0.25, gt=0)
    # Beam spot at the ECAL face: uniform disc of this radius (mm), RMS r/2 = 4 mm per axis
    # (estimate: "a few mm"; a flat top, as cut by the beam-defining counters, rather than
    # Gaussian tails: a Gaussian spot makes the diagonal shower chi2 of the analysis
    # heavy-tailed (~93 % instead of ~98 % below the 21.7 cut), see tests and the report).
    spot_radius: float = Field(8.0, ge=0)
    # Hadron contamination per beam electron: "~0.5 %" (seeds/000); pi/e <= 2 %, K/e <= 0.3 %
    # (seeds/001); 0.3 % at 100 GeV e- (seeds/003).
    hadron_fraction: float = Field(0.005, ge=0)
    # Beam muons (decays of beam pions and kaons upstream, halo): 0.1 % (estimate).
    muon_fraction: float = Field(0.001, ge=0)
    # Positron beams: "about an order of magnitude more hadron contamination in the beam
    # since ... positively charged hadrons are more abundant than their negative
    # counterpart" (seeds/001): hadrons x 10; the beam muons, decay products of the beam
    # hadrons, scale alike (estimate).
    positron_hadron_factor: float = Field(10.0, ge=0)
    # Pile-up probability per physics trigger per 1e6 e-/spill: "from about a few % up to
    # ~20 %" depending on the rate (seeds/002); 0.022 gives ~7 % at 3e6 (2016) and ~19 % at
    # 8.5e6 (2018), and ~7-10 % acceptance loss in the visible-mode runs at ~5e6 (seeds/002).
    pileup_per_mhz_spill: float = Field(0.022, ge=0)
    # Intensity assumed when a catalog gives none (e-/spill): "few 1e6" (seeds/002).
    default_intensity: float = Field(5.0e6, gt=0)
    # Out-of-time particles arrive uniformly within +-window of the trigger (ns) and count
    # towards the trigger's in-time ECAL sum within +-gate (estimates: ~60 ns readout window,
    # a few-ns trigger coincidence).
    pileup_window: float = Field(30.0, gt=0)
    trigger_gate: float = Field(3.0, gt=0)
    # Extra straw track from the out-of-time particle; no single spectrometer track (estimates).
    pileup_extra_track: float = Field(0.5, ge=0, le=1)
    pileup_no_track: float = Field(0.2, ge=0, le=1)


class StrawModel(_Model):
    """Straw tracker in front of the ECAL (ST1, ST2; seeds/002)."""

    # Clean single electron: 0 segments 0.3 %, 2 segments 0.8 % (a delta ray or a
    # noise hit), exactly one otherwise (estimate; brief: 98-99 % exactly one).
    p_zero: float = Field(0.003, ge=0, le=1)
    p_two: float = Field(0.008, ge=0, le=1)


class SrdModel(_Model):
    """Synchrotron-radiation detector: three LYSO modules behind the bending magnets."""

    # <N_gamma> ~ 30 per electron at 100 GeV, <E_gamma> ~ MeV (seeds/003), i.e. 10 photons
    # per module. Photon number per unit bending angle ~ gamma: scales like E/E_REF.
    photons_per_module: float = Field(10.0, gt=0)
    # Mean photon energy at E_REF (MeV); the critical energy ~ gamma^2 B: scales like (E/E_REF)^2.
    mean_photon_energy: float = Field(1.0, gt=0)
    # Energy of the counted photons: Gamma(k, <E>/k) with k = 1, an exponential of mean
    # <E_gamma> (estimate: the "~30 photons of ~MeV" are the photons around the critical
    # energy; the softer ones of the e^(-2/3) SR number spectrum carry little energy).
    # k = 1 gives 97.9 % for all three modules in [1, 100] MeV at 100 GeV; k = 1/3 (the
    # full number spectrum) would give 93.6 %, below the quoted efficiency.
    spectrum_shape: float = Field(1.0, gt=0)
    # LYSO readout noise (MeV, Gaussian) (estimate).
    noise: float = Field(0.1, ge=0)
    # Per-module readout inefficiency (dead/late signal) (estimate): with the [1, 100] MeV
    # window this gives ~98 % for all three modules ("efficiency > 95 %", seeds/002-003).
    readout_inefficiency: float = Field(0.005, ge=0, le=1)
    # Hadrons and muons: SR ~ (m_e/m)^4 (seeds/002), i.e. none. A module still fires on
    # knock-on electrons from upstream material (the mechanism named in seeds/002) with
    # this probability and an exponential energy of this mean (MeV): 0.0177 per module in
    # the window, so 5.5e-6 for all three: between "suppression > 1e-5" (seeds/002) and
    # "pi/e ~ 1e-6" (seeds/003) (estimate).
    fake_probability: float = Field(0.020, ge=0, le=1)
    fake_mean_energy: float = Field(8.0, gt=0)
    # Upstream interactions can spray secondaries into one SRD module (dirty events only):
    # probability and mean deposit (MeV), usually above the 100 MeV window (estimate).
    spray_probability: float = Field(0.2, ge=0, le=1)
    spray_mean_energy: float = Field(150.0, gt=0)


class EcalModel(_Model):
    """Pb/Sc shashlik ECAL, 6 x 6 cells, preshower + main section."""

    # Cells 38 x 38 x 490 mm (seeds/002); the beam is aimed at the centre of cell (3, 3).
    cell_size: float = Field(38.0, gt=0)
    n_cells: int = 6
    central_cell: tuple[int, int] = (3, 3)
    # Moliere radius from the PDG mixture rule for 1.5 mm Pb + 1.5 mm Sc: 27.4 mm.
    moliere_radius: float = Field(round(ECAL_MATERIAL["moliere_mm"], 2), gt=0)
    radiation_length: float = Field(round(ECAL_MATERIAL["x0_mm"], 3), gt=0)
    critical_energy_mev: float = Field(round(ECAL_MATERIAL["critical_mev"], 3), gt=0)
    # 150 layers of 3 mm: 450 mm active = 40.6 X0, 1.57 lambda_int (seeds/003: 40 X0).
    depth_mm: float = Field(450.0, gt=0)
    interaction_length: float = Field(round(ECAL_MATERIAL["lambda_mm"], 1), gt=0)
    # Preshower: the first 4 X0 (NA64 ECAL preshower; estimate of its depth).
    preshower_x0: float = Field(4.0, gt=0)
    # Resolution sigma/E = 10 %/sqrt(E) (+) 3 % (seeds/003; seeds/000 "0.1/sqrt(E)";
    # seeds/002 "~9 %/sqrt(E)"). The stochastic term acts cell by cell (sampling
    # fluctuations ~ sqrt(E_cell)); the constant term multiplies the whole event.
    # Cell energies are calibrated so that beam electrons read E0 on average (the 0.7 % of
    # the shower beyond the matrix is corrected, as a calibration with the beam does).
    stochastic: float = Field(0.10, ge=0)
    constant: float = Field(0.03, ge=0)
    # Lateral profile: two components (core + tail) of the Grindhammer-Peters form
    # f(r) dr = 2 r R^2 / (r^2 + R^2)^2 dr (Grindhammer, Rudowicz, Peters, NIM A290 (1990)
    # 469). Weight and radii (in R_M) chosen so that 90 % of the energy lies within R_M and
    # 99 % within 3.5 R_M (PDG, EM showers): 0.7 C + 0.3 T gives 0.900 and 0.989.
    core_weight: float = Field(0.70, ge=0, le=1)
    core_radius: float = Field(0.15, gt=0)
    tail_radius: float = Field(0.63, gt=0)
    # Event-by-event shape fluctuations: log-normal radii, Gaussian core weight (estimates:
    # a few %, kept below the impact-point spread so that the 3 x 3 fractions of low-energy
    # recoil electrons still resemble those of 100 GeV calibration electrons).
    radius_fluctuation: float = Field(0.03, ge=0)
    weight_fluctuation: float = Field(0.01, ge=0)
    # Longitudinal Gamma profile dE/dt ~ (bt)^(a-1) e^(-bt) (PDG, Eq. "longitudinal
    # profile"): t_max = (a-1)/b = ln(E/E_c) + C_e with C_e = -0.5 for electrons,
    # +0.5 for photons, b ~ 0.5. The shape parameter fluctuates log-normally (estimate).
    longitudinal_b: float = Field(0.5, gt=0)
    shape_fluctuation: float = Field(0.12, ge=0)
    # Hadronic deposits in the ECAL: broader lateral profile (hadron showers: lateral scale
    # ~ lambda_int = 286 mm; core + tail radii 40 / 120 mm, weights 0.6 / 0.4, estimate),
    # larger stochastic term (non-compensating shashlik, ~50 %/sqrt(E), estimate), few % in
    # the preshower (4 X0 = 0.15 lambda_int).
    hadron_core_radius: float = Field(40.0, gt=0)
    hadron_tail_radius: float = Field(120.0, gt=0)
    hadron_core_weight: float = Field(0.6, ge=0, le=1)
    hadron_stochastic: float = Field(0.50, ge=0)
    hadron_preshower: float = Field(0.03, ge=0, le=1)
    # A minimum-ionising particle crossing the ECAL: dE/dx_min Pb 12.7 MeV/cm x 22.5 cm +
    # Sc 2.0 MeV/cm x 22.5 cm = 0.33 GeV (PDG); 0.3 GeV (brief) as the most probable value
    # with Landau (Moyal) width 0.02 GeV (estimate); 10 % of it in the preshower (4/40 X0).
    mip: float = Field(0.30, gt=0)
    mip_width: float = Field(0.02, ge=0)
    # Electronic noise per cell (GeV) and zero suppression threshold (estimates: "a few MeV").
    noise: float = Field(0.002, ge=0)
    zero_suppression: float = Field(0.006, ge=0)
    # Digitisation step of the written cell energies (GeV): 2^-10 GeV ~ 1 MeV, below any
    # ADC count of the real readout (estimate); a power of two keeps the files compact.
    lsb: float = Field(2.0**-10, gt=0)
    # Time of the central-cell pulse: N(0, 1.5 ns) (estimate; the cut |t| < 4.5 ns is 3 sigma).
    time_resolution: float = Field(1.5, gt=0)


class HcalModel(_Model):
    """Four Fe/Sc HCAL modules of 3 x 3 cells."""

    # Cells 194 x 192 mm (seeds/002: 19.4 x 19.2 x 150 cm3); the beam is aimed at cell (1, 1).
    cell_x: float = Field(194.0, gt=0)
    cell_y: float = Field(192.0, gt=0)
    # 48 x (25 mm Fe + 4 mm Sc), ~7.5 lambda_int per module (seeds/003; seeds/002 "~7").
    module_lambda: float = Field(7.5, gt=0)
    # sigma/E ~ 60 %/sqrt(E) (seeds/002, seeds/003), cell by cell.
    stochastic: float = Field(0.60, ge=0)
    # Hadron shower: longitudinal Gamma profile in lambda_int with t_max = 0.2 ln(E/GeV) + 0.7
    # (PDG, hadronic showers) and slope b = 0.6 / lambda (attenuation length ~ lambda E^0.13,
    # PDG, ~1.7 lambda at 50 GeV); lateral core + tail of 50 / 150 mm, weights 0.7 / 0.3
    # (estimate: 95 % containment within ~1 lambda_Fe ~ 200 mm); the 3 x 3 cells hold 94 %
    # of a shower on the axis, and the HCAL is calibrated so that hadrons read their energy.
    # The same longitudinal profile describes hadron showers starting in the ECAL.
    longitudinal_b: float = Field(0.6, gt=0)
    core_radius: float = Field(50.0, gt=0)
    tail_radius: float = Field(150.0, gt=0)
    core_weight: float = Field(0.7, ge=0, le=1)
    # Muon per module: dE/dx Fe 1.45 MeV cm2/g x 7.87 g/cm3 x 120 cm = 1.37 GeV (PDG); mean
    # ~1.3 GeV per module (brief), so a dimuon pair leaves ~10 GeV in four modules ("energy
    # of ~10 GeV deposited by the dimuon pair in the HCAL", seeds/002). Moyal fluctuations:
    # most probable 1.17, width 0.10 GeV (mean = mpv + 1.27 width = 1.30).
    muon_mpv: float = Field(1.17, gt=0)
    muon_width: float = Field(0.10, ge=0)
    # A muon stays in the central cell with this probability, else a neighbour (multiple
    # scattering, opening angle of soft pairs; estimate).
    muon_central: float = Field(0.9, ge=0, le=1)
    # Cell noise 20 MeV (brief), zero suppressed at 3 sigma.
    noise: float = Field(0.020, ge=0)
    zero_suppression: float = Field(0.060, ge=0)
    # Digitisation step 2^-8 GeV ~ 4 MeV (estimate, a fifth of the noise).
    lsb: float = Field(2.0**-8, gt=0)


class VetoModel(_Model):
    """Three VETO scintillator layers behind the ECAL, each crossed by every charged
    particle leaving the ECAL (layout estimate: the seeds do not give it)."""

    # Most probable signal of one MIP by definition 1; Landau (Moyal) width 0.12 MIP
    # (thin scintillator + photostatistics, estimate); noise 0.03 MIP (brief); digitisation
    # step 2^-10 MIP (estimate).
    mip_width: float = Field(0.12, ge=0)
    noise: float = Field(0.03, ge=0)
    lsb: float = Field(2.0**-10, gt=0)


class RateModel(_Model):
    """Per-EOT rates of the physics triggers (events passing the hardware trigger, before
    pile-up), for samples generated for an exposure (``simulate_period(eot=...)``).

    Given for a 100 GeV electron beam; the beam hadrons and muons come from
    ``BeamModel`` (hadron_fraction, muon_fraction, positron_hadron_factor). Rates quoted
    from seeds/002 Table 1 ("Expected background for 2.95e11 EOT") are box events per
    EOT of mechanisms the model otherwise lacks, generated at that rate (so the sample's
    box holds them with Poisson counts, as data would).
    """

    # Reference exposure of seeds/002 Table 1 (2016-2018 runs).
    table_eot: float = Field(2.95e11, gt=0)
    # 0, low-momentum tail: electrons that radiated >= 19 % of E0 before the spectrometer
    # (they fail the momentum window): 1 % of the beam (estimate: the H4 line's low-energy
    # tail, a few % of X0 of material upstream x (4/3) ln(1/0.19) photons per X0).
    electron_tail: float = Field(1.0e-2, ge=0)
    # 0, full-energy showers losing >= 19 % of E0 in cracks, dead material or the HCAL:
    # 2e-8 (estimate; with the model's exponential loss spectrum it puts < 1e-14 per EOT
    # in the box: "punchthrough gammas, cracks, holes < 0.01" for 2.95e11 EOT, seeds/002).
    electron_loss: float = Field(2.0e-8, ge=0)
    # 1, hadron electroproduction in the ECAL with the trigger: an effective rate of 2e-7
    # (estimate). Photonuclear physics alone gives ~1e-4 triggers per EOT (photon track
    # length above 0.2 E0 ~2.3 X0 x sigma(gamma Pb) ~15 mb); the model's selection keeps
    # ~3 % of these events, NA64's far fewer: the rate is chosen so that the events after
    # the whole selection stay near the seeds' count ("only ~1.6e4 events passed these
    # criteria" for 2.95e11 EOT, seeds/002), see the README.
    electroproduction: float = Field(2.0e-7, ge=0)
    # 2, dimuons e Z -> e Z mu mu with the trigger: "a clean sample of ~1e4 observed ...
    # mu+ mu- events" (seeds/002, PRD 97 with 4.3e10 EOT: 2.3e-7 per EOT observed) over
    # the model's dimuon selection efficiency (~0.9 up to the VETO): 2.6e-7.
    dimuon: float = Field(2.6e-7, ge=0)
    # 4, electron interactions in the beam line with the trigger: 2.5e-7 (estimate): the
    # ~15 % of them that look clean fill sideband C with about half of the seeds' 1.6e4
    # events after the selection for 2.95e11 EOT (seeds/002).
    upstream: float = Field(2.5e-7, ge=0)
    # seeds/002 Table 1 rows (box events for 2.95e11 EOT), per EOT after division:
    # "loss of dimuons 0.024 +- 0.007": dimuons whose muons escape unseen (mc_process 2).
    lost_dimuon_box: float = Field(0.024, ge=0)
    # "mu, pi, K interactions in the target 0.044 +- 0.014": a beam hadron or muon with an
    # accidental SRD tag whose interaction leaves a leading EM shower and sends the rest
    # out unseen (mc_process 3). Scales with the beam's hadron contamination.
    hadron_interaction_box: float = Field(0.044, ge=0)
    # "mu -> e nu nu, pi, K -> e nu, K_e3 decays 0.02 +- 0.01": a beam mu/pi/K with an
    # accidental SRD tag decaying after the spectrometer into an electron that showers in
    # the ECAL, neutrinos carry the rest (mc_process 3). Scales with the contamination.
    decay_in_flight_box: float = Field(0.02, ge=0)


class ProcessModel(_Model):
    """The physics-trigger composition and the parameters of each process.

    The composition is a demo enrichment, not the real per-EOT rates (those are
    ``RateModel``, used when a sample is generated for an exposure): in a real run most
    physics triggers are beam hadrons and low-energy electrons, and hadron electroproduction
    or dimuons are rarer by orders of magnitude. Here each process gets a share large enough
    to populate its region of the (E_ECAL, E_HCAL) plane and the sidebands at demo size.
    """

    # Shares of the in-time physics triggers (before pile-up), normalised in the code.
    electron: float = Field(0.20, ge=0)        # 0: low-energy tail and shower losses
    electroproduction: float = Field(0.20, ge=0)  # 1: hadrons produced in the ECAL
    dimuon: float = Field(0.06, ge=0)          # 2: e Z -> e Z gamma, gamma -> mu mu
    beam_hadron: float = Field(0.14, ge=0)     # 3: beam pi, K, pbar and muons
    upstream: float = Field(0.40, ge=0)        # 4: interactions upstream of the ECAL

    # 0: Electrons of the low-momentum tail (radiated a hard photon, a fraction y >=
    # shower_loss_min of E0 from the bremsstrahlung spectrum, upstream of the spectrometer;
    # the photon lost): this share of process 0. The rest are full-energy showers that lose
    # >= 0.19 E0 (the trigger needs 0.2 E0 lost; starting at 0.19 keeps the turn-on without
    # generating mostly rejected events) through cracks/dead material or into the HCAL
    # (half each); the loss above 0.19 E0 is exponential with mean 0.02 E0 (estimates).
    electron_tail_share: float = Field(0.75, ge=0, le=1)
    shower_loss_min: float = Field(0.19, ge=0)
    shower_loss_mean: float = Field(0.02, gt=0)
    shower_loss_to_hcal: float = Field(0.5, ge=0, le=1)

    # 1: the hadronic energy reaching the HCAL, h E0, falls like 1/h (virtual-photon flux)
    # above h_min = 0.18 (the trigger needs E_ECAL = (1 - h) E0 < ~0.8 E0); the hadrons
    # deposit a share g = (1 - h) b, b ~ Beta(1.2, 2.5), of their energy f E0 = h E0/(1 - g)
    # in the ECAL (produced at a few X0, they still cross ~1.4 lambda_int of ECAL): this is
    # what broadens the shower. Charged secondaries leaving the ECAL ~ Poisson(1 + 2 f); an
    # exponential share (mean 2 %) of the hadronic energy escapes (neutrinos, wide angles)
    # (estimates). Rarely all hadronic energy escapes as neutrals (genuine missing energy):
    # 1e-7 per event (the brief suggested ~1e-6; with the enriched share of this process
    # that alone would give ~0.15 box events at demo exposure, while NA64 quotes < 0.01
    # for "lost hadrons from e- Z -> e- + hadrons" for 4e10 EOT (seeds/002)).
    hadron_f_min: float = Field(0.18, gt=0, lt=1)
    hadron_ecal_share: tuple[float, float] = (1.2, 2.5)
    hadron_charged_base: float = Field(1.0, ge=0)
    hadron_charged_slope: float = Field(2.0, ge=0)
    hadron_escape_mean: float = Field(0.02, ge=0)
    hadron_all_escape: float = Field(1.0e-7, ge=0, le=1)

    # 2: photon energy fraction x from the bremsstrahlung spectrum (4/3 - 4/3 x + x^2)/x,
    # x > x_min (the trigger needs x > ~0.2); muon share x+ from dsigma/dx+ ~ 1 - 4/3 x+ x- (seeds/002 Eq. 18,
    # the slowly varying log W neglected).
    dimuon_x_min: float = Field(0.19, gt=0, lt=1)

    # 3: species of the beam-hadron process follow the beam composition (BeamModel);
    # hadrons (pi, K, pbar alike) interact in the ECAL with probability 1 - exp(-1.57);
    # charged particles leaving after an interaction ~ Poisson(2.5) (estimate).
    hadron_charged_after_interaction: float = Field(2.5, ge=0)

    # 4: upstream interactions. Energy lost upstream Delta = E0 (d_min + Exp(tau)), d_min =
    # 0.19 (the trigger needs ~0.2, see process 0); the
    # event looks clean (one track, small angle, E0 momentum: the interaction happened
    # after the spectrometer and its secondaries escaped unseen) with probability
    # s0 exp(-k (Delta/E0 - 0.2)). Clean events then fall like exp(-(1/tau + k) Delta):
    # 1/tau + k = 48 per unit E0, the 0.48 / GeV slope of the 2022 sideband fit (seeds/000),
    # and ~15 % of the triggers look clean (brief: >= 2 straw tracks in 80-90 %). tau, s0
    # (estimates) set the share of dirty events, which spread to lower E_ECAL.
    upstream_loss_min: float = Field(0.19, ge=0)
    upstream_loss_tau: float = Field(0.08, gt=0)
    upstream_clean_slope: float = Field(35.5, ge=0)
    upstream_clean_max: float = Field(0.6, ge=0, le=1)
    # Dirty events: extra straw tracks 1 + Poisson(1); angle Rayleigh 1.5 mrad; no single
    # spectrometer track 40 %; interaction before the spectrometer (low momentum, lower SR)
    # 30 %; a secondary photon shower elsewhere in the ECAL 30 %; a forward neutral into the
    # HCAL 25 %; a charged secondary through the VETO 10 % (estimates).
    upstream_extra_tracks: float = Field(1.0, ge=0)
    upstream_angle_clean: float = Field(0.30, gt=0)
    upstream_angle_dirty: float = Field(1.5, gt=0)
    upstream_no_track: float = Field(0.4, ge=0, le=1)
    upstream_before_spectrometer: float = Field(0.3, ge=0, le=1)
    upstream_photon: float = Field(0.3, ge=0, le=1)
    upstream_neutral_hcal: float = Field(0.25, ge=0, le=1)
    upstream_charged_veto: float = Field(0.1, ge=0, le=1)

    @property
    def shares(self) -> tuple[float, float, float, float, float]:
        """Normalised shares of processes 0-4."""
        s = (self.electron, self.electroproduction, self.dimuon, self.beam_hadron, self.upstream)
        t = sum(s)
        return tuple(v / t for v in s)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _some(self) -> ProcessModel:
        if sum((self.electron, self.electroproduction, self.dimuon, self.beam_hadron,
                self.upstream)) <= 0:
            raise ValueError("at least one process needs a positive share")
        return self


class DetectorModel(_Model):
    """Beam, detectors and processes: everything the physics of the simulation reads."""

    beam: BeamModel = BeamModel()
    straw: StrawModel = StrawModel()
    srd: SrdModel = SrdModel()
    ecal: EcalModel = EcalModel()
    hcal: HcalModel = HcalModel()
    veto: VetoModel = VetoModel()
    processes: ProcessModel = ProcessModel()
    # Hardware physics trigger: in-time ECAL energy below 0.8 E0 ("E_ECAL <~ 80-85 GeV" at
    # 100 GeV, seeds/002).
    trigger_fraction: float = Field(0.80, gt=0, le=1)


class SimulationConfig(_Model):
    """The event stream: triggers, numbering, blocks and files."""

    detector: DetectorModel = DetectorModel()
    # Calibration trigger: a prescaled sample of unbiased full-energy beam electrons, every
    # 1/calibration_fraction-th written event (a prescaler is periodic). They carry the
    # beam's momentum spread, spot and tag inefficiencies, but no pile-up (SCHEMA.md: "full-
    # energy beam electrons"; pile-up is a physics-trigger process here).
    calibration_fraction: float = Field(0.10, gt=0, lt=1)
    # Beam electrons per calibration event: the equivalent EOT of a sample is
    # n_calibration x eot_per_calibration (a choice that fixes the per-EOT rates of the
    # sample; with 10 % calibration and 1e3, 200k events are 2e7 EOT).
    eot_per_calibration: float = Field(1000.0, gt=0)
    # Generation unit: every block of this many events has its own random stream
    # SeedSequence([seed, period_key, block]); shards and jobs only cut the stream. Each
    # block (or the part of it inside a shard) is one TTree extend(), i.e. one basket per
    # branch (ARCHITECTURE.md: several extend() steps of sensible size per shard).
    block_events: int = Field(50_000, gt=0)
    # Numbering: a run every run_events events, a spill every spill_events (estimates: a
    # few thousand triggers per 4.8 s spill, ~100 spills per run).
    run_events: int = Field(500_000, gt=0)
    spill_events: int = Field(5_000, gt=0)
    # ZSTD level: 1 compresses ~2x faster than level 3 for ~10 % larger files (measured).
    compression_level: int = Field(1, ge=1, le=22)
    # Per-EOT rates of samples generated for an exposure (simulate_period(eot=...)).
    rates: RateModel = RateModel()
    # Such samples: calibration triggers written (the shower-shape reference), and the
    # target number of written events of the prescaled strata (the abundant triggers that
    # fail the early cuts by far: beam hadrons without SRD tag, the low-momentum tail,
    # dirty upstream interactions, charged electroproduction, dimuons), shared equally:
    # each such stratum gets the smallest integer prescale keeping it at or below its
    # share (estimates: the demo's budget).
    exposure_calibration_events: int = Field(20_000, ge=1)
    prescaled_events: int = Field(20_000, ge=1)
    # Trigger resampling gives up after this many rounds (the processes are built so that
    # most candidates pass; reaching it means a broken configuration).
    max_trigger_rounds: int = Field(200, gt=0)

    @model_validator(mode="after")
    def _numbering(self) -> SimulationConfig:
        if self.run_events % self.spill_events:
            raise ValueError("run_events must be a multiple of spill_events")
        return self


def pileup_probability(model: DetectorModel, intensity: float | None) -> float:
    """Probability that a physics trigger carries an out-of-time beam particle."""
    rate = (intensity if intensity is not None else model.beam.default_intensity) / 1e6
    return min(0.5, model.beam.pileup_per_mhz_spill * rate)


def hadron_scale(model: DetectorModel, particle: str) -> float:
    """Beam hadrons and muons per beam lepton relative to the electron beam."""
    return model.beam.positron_hadron_factor if particle == "e+" else 1.0


def interaction_depth(model: DetectorModel) -> float:
    """ECAL depth in nuclear interaction lengths (1.57)."""
    return model.ecal.depth_mm / model.ecal.interaction_length


def ecal_depth_x0(model: DetectorModel) -> float:
    """ECAL depth in radiation lengths (40.6)."""
    return model.ecal.depth_mm / model.ecal.radiation_length


def containment(radius_rm: float, ecal: EcalModel) -> float:
    """Fraction of an average EM shower within ``radius_rm`` Moliere radii."""
    r2 = radius_rm**2
    w = ecal.core_weight
    return w * r2 / (r2 + ecal.core_radius**2) + (1 - w) * r2 / (r2 + ecal.tail_radius**2)


__all__ = [
    "ECAL_MATERIAL", "E_REF", "BeamModel", "DetectorModel", "EcalModel", "HcalModel",
    "ProcessModel", "RateModel", "SimulationConfig", "SrdModel", "StrawModel", "VetoModel", "containment",
    "ecal_depth_x0", "hadron_scale", "interaction_depth", "pbsc_mixture", "pileup_probability",
]
