"""Figures (mplhep): the (E_ECAL, E_HCAL) plane with the signal box and the sidebands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import hist
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from processors.cuts import Thresholds  # noqa: E402


def _style() -> None:
    plt.style.use(hep.style.ROOT)
    plt.rcParams.update({"figure.figsize": (8, 6.5), "font.size": 14})


def plot_plane(
    plane: hist.Hist,
    thresholds: Thresholds,
    path: Path,
    title: str,
    blinded: bool = True,
    regions_of_papers: bool = False,
    hcal_max: float | None = None,
) -> Path:
    """2D plane (log colour) with box, sidebands A and C; returns the file written."""
    _style()
    fig, ax = plt.subplots()
    values = plane.values()
    if values.sum() > 0:
        hep.hist2dplot(plane, ax=ax, norm=LogNorm(vmin=0.9, vmax=max(values.max(), 1.0)),
                       cbarextend=False, flow=None)
    e_box, h_box = thresholds.box_ecal_max, thresholds.box_hcal_max
    top_e = plane.axes[0].edges[-1]
    top_h = hcal_max or plane.axes[1].edges[-1]
    ax.add_patch(Rectangle((0, 0), e_box, h_box, fill=blinded, hatch="////" if blinded else None,
                           facecolor="lightgrey", edgecolor="red", linewidth=2,
                           label="signal box" + (" (blinded)" if blinded else "")))
    ax.add_patch(Rectangle((0, thresholds.a_hcal_min), e_box, top_h - thresholds.a_hcal_min,
                           fill=False, edgecolor="tab:blue", linestyle="--", linewidth=1.5))
    ax.add_patch(Rectangle((thresholds.c_ecal_min, 0), top_e - thresholds.c_ecal_min, h_box,
                           fill=False, edgecolor="tab:green", linestyle="--", linewidth=1.5))
    ax.text(0.5 * e_box, min(0.6 * top_h, 20.0), "A", color="tab:blue", fontsize=18, ha="center")
    ax.text(0.5 * (thresholds.c_ecal_min + top_e), h_box * 1.6, "C", color="tab:green", fontsize=18,
            ha="center")
    if regions_of_papers:
        e0 = top_e / 1.2
        ax.plot([0, e0], [e0, 0], color="black", linewidth=0.8, linestyle=":")
        for text, (x, y) in {"I": (0.75 * e0, 0.13 * e0), "II": (0.35 * e0, 0.72 * e0),
                             "III": (1.02 * e0, 0.45 * e0)}.items():
            ax.text(x, y, text, fontsize=18, fontweight="bold")
    ax.set_xlim(0, top_e)
    ax.set_ylim(0, top_h)
    ax.set_xlabel(r"$E_{ECAL}$ [GeV]")
    ax.set_ylabel(r"$E_{HCAL}$ [GeV]")
    ax.set_title(title, fontsize=14)
    ax.legend(loc="upper right", fontsize=11)
    return _save(fig, path)


def raw_plane(files: Sequence[Path], beam_energy: float, ecal_scale: float = 1.0,
              hcal_scale: float = 1.0) -> hist.Hist:
    """The plane of all physics-trigger events of some files, before any cut."""
    import uproot

    from processors.quantities import physics_index

    h = hist.Hist(hist.axis.Regular(120, 0, 1.2 * beam_energy, name="e_ecal"),
                  hist.axis.Regular(120, 0, 1.2 * beam_energy, name="e_hcal"))
    for batch in uproot.iterate([f"{f}:events" for f in files], ["trigger", "ecal", "hcal"],
                                library="np", step_size="200 MB"):
        phys = physics_index(batch["trigger"])
        e_ecal = batch["ecal"][phys].sum(axis=(1, 2, 3), dtype=np.float64) * ecal_scale
        e_hcal = batch["hcal"][phys].sum(axis=(1, 2, 3), dtype=np.float64) * hcal_scale
        h.fill(e_ecal, e_hcal)
    return h


def plot_sideband_fits(spectrum: hist.Hist, estimate, path: Path, title: str) -> Path:
    """Sideband spectrum, every fit, and the window the fits are extrapolated into."""
    from workflows.stats.background import SHAPES, _power_cdf

    _style()
    fig, ax = plt.subplots()
    edges = spectrum.axes[0].edges
    values = spectrum.values()
    centres = 0.5 * (edges[1:] + edges[:-1])
    shown = values > 0
    ax.errorbar(centres[shown], values[shown], yerr=np.sqrt(values[shown]), fmt="o", color="black",
                markersize=4, label=f"sideband {estimate.sideband} ({estimate.n_sideband} events)")
    lo, hi = estimate.window
    ax.axvspan(lo, hi, color="red", alpha=0.12,
               label=f"box: {estimate.central:.3g} ± {estimate.error:.2g} (avg {estimate.average:.3g})")
    cdfs = {s.name: s.cdf for s in SHAPES}
    colours = {"exponential": "tab:blue", "exponential+constant": "tab:orange", "power law": "tab:green"}
    x = np.linspace(max(edges[0], 1e-3), edges[-1], 600)
    width = edges[1] - edges[0]
    labelled = set()
    for f in estimate.fits:
        p = list(f.parameters.values())
        if f.shape == "power law":
            density = np.gradient(_power_cdf(x, *p, f.fit_range[1]), x)
        else:
            density = np.gradient(cdfs[f.shape](x, *p), x)
        style = "-" if f.fit_range[0] == estimate.fits[0].fit_range[0] else "--"
        ax.plot(x, density * width, style, color=colours.get(f.shape, "grey"), linewidth=1.2,
                alpha=0.9 if f.valid else 0.3,
                label=f.shape if f.shape not in labelled else None)
        labelled.add(f.shape)
    ax.set_yscale("log")
    top = max(values.max(), 1.0)
    ax.set_ylim(1e-4, 10 * top)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(spectrum.axes[0].label or spectrum.axes[0].name)
    ax.set_ylabel(f"events / {width:g} GeV")
    ax.set_title(title, fontsize=14)
    ax.legend(fontsize=10, loc="upper left")
    return _save(fig, path)


M_APRIME_LABEL = r"$m_{A'}$ [GeV]"
M_CHI_LABEL = r"$m_\chi$ [GeV]  ($m_{A'} = 3 m_\chi$)"
Y_LABEL = r"$y = \epsilon^2 \alpha_D (m_\chi/m_{A'})^4$"


def _limit_axes(ax, xlabel: str, ylabel: str, title: str, title_size: float,
                legend_size: float) -> None:
    """Log-log axes of a limit plot: labels, title, legend at the upper left."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=title_size)
    ax.legend(fontsize=legend_size, loc="upper left")


def plot_exclusion(exclusion, path: Path, title: str) -> Path:
    """epsilon_90 vs m_A' with the expected band (green/yellow) and the observed limit."""
    _style()
    fig, ax = plt.subplots()
    m = exclusion.masses
    exp = exclusion.eps_expected
    ok = np.isfinite(exp).all(axis=0)
    ax.fill_between(m[ok], exp[0, ok], exp[4, ok], color="#FFDF00", label=r"expected $\pm 2\sigma$")
    ax.fill_between(m[ok], exp[1, ok], exp[3, ok], color="#00C000", label=r"expected $\pm 1\sigma$")
    ax.plot(m[ok], exp[2, ok], "k--", label="expected median")
    if exclusion.eps_observed is not None:
        ax.plot(m[ok], exclusion.eps_observed[ok], "k-", linewidth=2, label="observed")
    _limit_axes(ax, M_APRIME_LABEL, rf"$\epsilon$ ({int(round(100 * exclusion.cl))}% CL upper limit)",
                title, 13, 11)
    return _save(fig, path)


#: Line styles of the thermal relic targets (:mod:`workflows.thermal_targets`), by model.
_TARGET_STYLES = {"scalar": "-", "majorana": "--", "pseudo-dirac": ":"}


def draw_thermal_targets(ax, m_range: tuple[float, float] | None = None) -> None:
    """The scalar, Majorana and pseudo-Dirac relic targets on (m_chi, y) axes ``ax``
    (within ``m_range`` GeV of m_chi if given); the data and their source are in
    :mod:`workflows.thermal_targets`."""
    from workflows.thermal_targets import thermal_targets

    for t in thermal_targets():
        keep = np.ones(t.m_chi.size, bool) if m_range is None else \
            (t.m_chi >= m_range[0]) & (t.m_chi <= m_range[1])
        ax.plot(t.m_chi[keep], t.y[keep], _TARGET_STYLES.get(t.model, "-"), color="0.25",
                linewidth=1.3, label=f"thermal target, {t.label}")


def plot_y(exclusion, path: Path, title: str, thermal_targets: bool = True) -> Path:
    """y = eps^2 alpha_D (m_chi/m_A')^4 vs m_chi, m_A' = 3 m_chi, for alpha_D = 0.1 and 0.5,
    with the thermal relic targets (scalar, Majorana, pseudo-Dirac) unless ``thermal_targets``
    is False."""
    from workflows.stats.exclusion import ALPHA_D, MASS_RATIO

    _style()
    fig, ax = plt.subplots()
    m_chi = exclusion.masses / MASS_RATIO
    exp = exclusion.eps_expected
    ok = np.isfinite(exp).all(axis=0)
    for alpha, colour in zip(ALPHA_D, ("tab:blue", "tab:red"), strict=True):
        y = exclusion.y(exp, alpha)
        ax.fill_between(m_chi[ok], y[1, ok], y[3, ok], color=colour, alpha=0.2)
        ax.plot(m_chi[ok], y[2, ok], "--", color=colour, label=rf"expected, $\alpha_D = {alpha}$")
        if exclusion.eps_observed is not None:
            ax.plot(m_chi[ok], exclusion.y(exclusion.eps_observed, alpha)[ok], "-", color=colour,
                    linewidth=2, label=rf"observed, $\alpha_D = {alpha}$")
    if thermal_targets and ok.any():
        draw_thermal_targets(ax, (float(m_chi[ok].min()), float(m_chi[ok].max())))
    _limit_axes(ax, M_CHI_LABEL, Y_LABEL, title, 13, 10 if thermal_targets else 11)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_reproduction(result, directory: Path) -> list[Path]:
    """A reproduced publication (:class:`workflows.signal.reproduce.Reproduction`): epsilon_90
    vs m_A' beside the published values, and y_90 vs m_chi (alpha_D = 0.1, 0.5) with the
    thermal relic targets; written as ``NAME_epsilon.png`` and ``NAME_y.png`` in ``directory``."""
    from workflows.stats.exclusion import ALPHA_D, MASS_RATIO

    name = result.publication.name
    rows = [r for r in result.masses if r.eps90 is not None]
    m = np.array([r.mass for r in rows])
    eps = np.array([r.eps90 for r in rows])
    _style()
    fig, ax = plt.subplots()
    ax.plot(m, eps, "ko-", label="this reproduction")
    published = [r for r in rows if r.published is not None]
    if published:
        ax.plot([r.mass for r in published], [r.published.eps90 for r in published], "rs",
                markersize=8, label="published")
    _limit_axes(ax, M_APRIME_LABEL, r"$\epsilon$ (90% CL upper limit)", result.publication.title, 11, 11)
    out = [_save(fig, Path(directory) / f"{name}_epsilon.png")]
    fig, ax = plt.subplots()
    m_chi = m / MASS_RATIO
    for alpha, colour in zip(ALPHA_D, ("tab:blue", "tab:red"), strict=True):
        ax.plot(m_chi, [r.y90[alpha] for r in rows], "o-", color=colour,
                label=rf"this reproduction, $\alpha_D = {alpha}$")
    draw_thermal_targets(ax, (float(m_chi.min()), float(m_chi.max())))
    _limit_axes(ax, M_CHI_LABEL, Y_LABEL, result.publication.title, 11, 10)
    out.append(_save(fig, Path(directory) / f"{name}_y.png"))
    return out
