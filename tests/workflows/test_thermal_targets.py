"""The thermal relic targets drawn on the (m_chi, y) plots: the shipped data and the figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workflows.stats.exclusion import Exclusion
from workflows.thermal_targets import MODELS, thermal_targets


def test_three_models_with_increasing_masses_over_the_na64_range() -> None:
    targets = {t.model: t for t in thermal_targets()}
    assert set(targets) == set(MODELS) == {"scalar", "majorana", "pseudo-dirac"}
    for t in targets.values():
        assert t.m_chi.size > 100 and t.m_chi.shape == t.y.shape
        assert np.all(np.diff(t.m_chi) > 0)                     # sorted, no repeated mass
        assert t.m_chi[0] <= 1.01e-3 and t.m_chi[-1] >= 1.7     # 1 MeV .. ~2 GeV
        assert np.all((t.y > 1e-15) & (t.y < 1e-6))


def test_ordering_and_mass_scaling_of_the_targets() -> None:
    t = {t.model: t for t in thermal_targets()}
    grid = np.geomspace(1.2e-3, 1.5, 60)
    scalar, majorana, dirac = (t[k].at(grid) for k in ("scalar", "majorana", "pseudo-dirac"))
    # p-wave (scalar, Majorana) need a larger coupling than the s-wave pseudo-Dirac everywhere,
    # the scalar above the Majorana (NA64 PRL 123 (2019) 121801 Fig. 4, seeds/002 Fig. 4).
    assert np.all(dirac < majorana) and np.all(majorana < scalar)
    # Fixed <sigma v> ~ y / m_chi^2: below the hadronic thresholds y grows ~ m_chi^2.
    for line in (scalar, majorana, dirac):
        low = grid < 0.1
        slope = np.polyfit(np.log(grid[low]), np.log(line[low]), 1)[0]
        assert 1.7 < slope < 2.3
    # Published scale: the scalar target at m_chi = 10 MeV is ~1e-11 (NA64 y plots).
    assert 5e-12 < t["scalar"].at(0.01) < 2e-11
    assert np.isnan(t["scalar"].at(10.0))


def test_y_plot_draws_the_targets(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from workflows import plots

    fig, ax = plt.subplots()
    plots.draw_thermal_targets(ax, (1e-3, 0.3))
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == [
        "thermal target, scalar", "thermal target, Majorana", "thermal target, pseudo-Dirac"]
    for line in lines:
        x = np.asarray(line.get_xdata())
        assert x.min() >= 1e-3 and x.max() <= 0.3 and x.size > 50
    plt.close(fig)

    masses = np.geomspace(1e-3, 1.0, 8)
    mu = np.ones((5, masses.size)) * np.array([[0.5], [0.7], [1.0], [1.4], [2.0]])
    exclusion = Exclusion(masses, np.ones_like(masses), None, mu, "merged", "exact", 0.9)
    with_targets = plots.plot_y(exclusion, tmp_path / "y.png", "test")
    without = plots.plot_y(exclusion, tmp_path / "y_bare.png", "test", thermal_targets=False)
    assert with_targets.stat().st_size > without.stat().st_size > 10_000
