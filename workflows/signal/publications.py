"""NA64's published invisible-mode results that ``na64 reproduce`` recomputes.

Each :class:`Publication` holds what the publication (as the seeds give it) states: the
beam, the exposure, the signal box (as the A' energy threshold E_A' > E0 - box edge), the
observed count and the expected background, the production channels its limit includes,
the masses it shows and its 90 % CL limits on epsilon where the seeds quote them. The
reproduction (:mod:`workflows.signal.reproduce`) puts the project's own A' yield and its own
measured signal efficiencies (of the run periods ``periods``) in their place.

Every number names its seed; "estimate" or "assumed" marks what the seeds do not give.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from processors.errors import ConfigurationError
from workflows.signal.aprime.reproduction import (
    N90_ZERO_EVENTS,
    TABLE_V_E0,
    TABLE_V_EPS_K,
    TABLE_V_EPS_NO_K,
    TABLE_V_MASSES,
    TABLE_V_THRESHOLD,
)

Particle = Literal["e-", "e+"]
Production = Literal["bremsstrahlung", "bremsstrahlung+annihilation"]

#: Masses every reproduction shows (GeV): 1, 10, 16.7, 100, 300 and 1000 MeV.
STANDARD_MASSES: tuple[float, ...] = (0.001, 0.01, 0.0167, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class PublishedLimit:
    """A published 90 % CL upper limit on epsilon at an A' mass (GeV), and what it is."""

    mass: float
    eps90: float
    note: str = ""


@dataclass(frozen=True)
class PeriodShare:
    """A run period of the project whose measured signal efficiency stands for part of the
    publication's data, weighted by its exposure (from the seeds)."""

    period: str
    eot: float


@dataclass(frozen=True)
class Publication:
    """A published NA64 result: its inputs as the seeds state them (see the module docstring).

    ``n90``: the upper limit on the signal count the paper used, when it quotes one (PRD 97:
    2.3 for zero events); None computes it from ``observed`` and ``background`` with the
    project's CLs code. ``background_error``: None where the seeds give no uncertainty.
    """

    name: str
    title: str
    reference: str
    particle: Particle
    energy: float
    threshold: float
    eot: float
    observed: int
    background: float
    background_error: float | None
    production: Production
    periods: tuple[PeriodShare, ...]
    masses: tuple[float, ...]
    published: tuple[PublishedLimit, ...]
    n90: float | None
    sources: tuple[str, ...]
    k_factor: bool = True

    def published_at(self, mass: float) -> PublishedLimit | None:
        """The published limit at ``mass`` (GeV, within 1e-9 relative), if the seeds give one."""
        for p in self.published:
            if abs(p.mass - mass) <= 1e-9 * mass:
                return p
        return None


def _masses(*extra: float) -> tuple[float, ...]:
    return tuple(sorted({float(round(float(m), 10)) for m in (*STANDARD_MASSES, *extra)}))


#: The exposures of the electron-mode periods as the catalogs carry them (seeds/002: 2016
#: 4.3e10, 2017 5.4e10, 2018 1.87e11; seeds/000: 2021 6.0e10, 2022 6.3e11).
_E_2016_2018 = (PeriodShare("2016", 4.3e10), PeriodShare("2017", 5.4e10), PeriodShare("2018", 1.87e11))
_E_2021_2022 = (PeriodShare("2021", 6.0e10), PeriodShare("2022", 6.3e11))

PRD97_TABLE5 = Publication(
    name="prd97-table5",
    title="NA64 2016 invisible-mode data, PRD 97 Table V (ETL, with K-factors)",
    reference="D. Banerjee et al. (NA64), Phys. Rev. D 97, 072002 (2018), Table V",
    particle="e-", energy=TABLE_V_E0, threshold=TABLE_V_THRESHOLD, eot=4.3e10,
    observed=0, background=0.0, background_error=None,
    production="bremsstrahlung",
    periods=(PeriodShare("2016", 4.3e10),),
    masses=_masses(*TABLE_V_MASSES),
    published=tuple(PublishedLimit(float(m), float(k) * 1e-4,
                                   f"Table V, with K-factors (without: {float(w):g}e-4)")
                    for m, k, w in zip(TABLE_V_MASSES, TABLE_V_EPS_K, TABLE_V_EPS_NO_K, strict=True)),
    n90=N90_ZERO_EVENTS,
    sources=(
        "eps90 at 1.1-950 MeV: Table V, 'with k-factors' column (seeds/002)",
        "E0 = 100 GeV, E_miss > 0.5 E0: Table V caption (seeds/002)",
        "4.3e10 EOT, 2016: seeds/001 ('2016 October run ... 4.3 x 10^10 EOT'), seeds/002",
        "N90 = 2.3 for zero observed events, simplified method: seeds/002 (after Eq. 26)",
        "background: not used by the paper's simplified method (N90 = 2.3)",
    ),
)

NA64E_2016_2018 = Publication(
    name="na64e-2016-2018",
    title="NA64e 2016-2018 combination (PRL 123, 121801), bremsstrahlung + resonant annihilation",
    reference="D. Banerjee et al. (NA64), Phys. Rev. Lett. 123, 121801 (2019) (seeds/001 ref. [6], seeds/002)",
    particle="e-", energy=100.0, threshold=50.0, eot=2.84e11,
    observed=0, background=0.53, background_error=0.17,
    production="bremsstrahlung+annihilation",
    periods=_E_2016_2018,
    masses=_masses(0.002, 0.02, 0.2, 0.25),
    published=(),
    n90=None,
    sources=(
        "2.84e11 EOT (4.3e10 + 5.4e10 + 1.87e11): seeds/002 ('The total statistics thus "
        "corresponds to nEOT = 2.84 x 10^11 EOT')",
        "background 0.53 +- 0.17, no candidate in the box: seeds/002 (Table 1, Sec. 3.2)",
        "signal box E_ECAL < 50 GeV at 100 GeV: seeds/002",
        "bremsstrahlung and the resonant e+ e- -> A' channel in the limit: seeds/001",
        "published eps90 per mass: not in the seeds (figures only): null",
    ),
)

NA64E_2016_2022 = Publication(
    name="na64e-2016-2022",
    title="NA64e 2016-2022 combination, bremsstrahlung + resonant annihilation",
    reference="NA64 collaboration, arXiv:2307.02404, submitted to PRL (seeds/000)",
    particle="e-", energy=100.0, threshold=50.0, eot=9.37e11,
    observed=0, background=0.5, background_error=None,
    production="bremsstrahlung+annihilation",
    periods=_E_2016_2018 + _E_2021_2022,
    masses=_masses(0.002, 0.02, 0.2, 0.25),
    published=(),
    n90=None,
    sources=(
        "9.37e11 EOT in total 2016-2022: seeds/000 ('6 x 10^10 (2021) + 6.3 x 10^11 (2022) -> "
        "9.37 x 10^11 e- on target (EOT) in total (2016-2022)')",
        "0 observed: seeds/000 ('No signal observed in ~10^12 EOT collected')",
        "background ~0.5 events, no uncertainty given: seeds/000 ('Expected background yield: "
        "~0.5 events')",
        "signal box E_ECAL < 47-50 GeV depending on the run: seeds/000; 50 GeV used",
        "bremsstrahlung and resonant annihilation ('Thanks to e+e- resonant enhancement'): seeds/000",
        "published eps90 per mass: not in the seeds (figures only): null",
    ),
)

#: sqrt(2 m_e E0) at 70 GeV: the primary positron's resonance (GeV).
_RESONANCE_70 = (2 * 0.51099895e-3 * 70.0) ** 0.5

NA64E_POSITRON_70 = Publication(
    name="na64e-positron-70gev",
    title="NA64e+ 2023 run, 70 GeV positrons, resonant annihilation + bremsstrahlung",
    reference="NA64 collaboration, 70 GeV e+ beam measurement (seeds/003, Lomonosov 2025 talk)",
    particle="e+", energy=70.0, threshold=35.0, eot=1.6e10,
    observed=0, background=0.0, background_error=None,
    production="bremsstrahlung+annihilation",
    periods=(PeriodShare("2023-positron", 1.6e10),),
    masses=_masses(0.165, 0.2, 0.22, round(_RESONANCE_70, 4)),
    published=(PublishedLimit(
        0.2, 2.5e-4,
        "seeds/003: excluded 'in the mass range 165 < m_A' < 220 MeV, for eps values down to "
        "2.5 x 10^-4 and alpha_D = 0.1': the lowest limit of that window, shown at 200 MeV"),),
    n90=None,
    sources=(
        "70 GeV e+, 1.6e10 e+OT: seeds/003 ('lowering the beam energy to 70 GeV ... The total "
        "accumulated statistics was 1.6x10^10 e+OT')",
        "observed count and background: not in the seeds; 0 observed and 0 background assumed "
        "(at 0 observed the CLs limit, 2.30 events, does not depend on the background)",
        "signal box: not in the seeds; E_ECAL < 0.5 E0 = 35 GeV (estimate, as the catalog "
        "2023-positron)",
        "published eps90: 2.5e-4 at best in 165-220 MeV (seeds/003); elsewhere null",
    ),
)

PUBLICATIONS: dict[str, Publication] = {
    p.name: p for p in (PRD97_TABLE5, NA64E_2016_2018, NA64E_2016_2022, NA64E_POSITRON_70)
}


def publication(name: str) -> Publication:
    """The publication called ``name``; :class:`ConfigurationError` (exit 2) listing the
    valid names otherwise."""
    try:
        return PUBLICATIONS[name]
    except KeyError:
        raise ConfigurationError(f"unknown publication {name!r}: one of "
                                 f"{', '.join(PUBLICATIONS)}") from None
