"""Fit diagnostics and the limit breakdown: real cabinetry/pyhf fits on small workspaces."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cabinetry
import numpy as np
import pytest

from processors.errors import InputError
from workflows.stats.diagnostics import (
    CORRELATION_PLOT,
    POI_LOWER_FRACTION,
    PULLS_PLOT,
    RANKING_PLOT,
    FitDiagnostics,
    diagnostic_poi_bounds,
    fit_diagnostics,
)
from workflows.stats.limit_breakdown import (
    ALL,
    BACKGROUND_EXTRAPOLATION,
    STATS_ONLY,
    LimitBreakdown,
    blinded_spec,
    constrained_modifiers,
    group_by_source,
    limit_breakdown,
)
from workflows.stats.model import (
    BOX_CHANNEL,
    SIDEBAND_A_CHANNEL,
    SIDEBAND_C_CHANNEL,
    PeriodInputs,
    Systematic,
    build_workspace,
)

NAMES = ["2022", "2023"]
SIGNAL = [0.4, 0.6]
BACKGROUND = [0.5, 0.8]


def _periods(box: list[int | None] | None = None) -> list[PeriodInputs]:
    box = box or [None, None]
    errors = {"eot_rel_error": 0.05, "efficiency_rel_error": 0.05}
    return [PeriodInputs("2022", 1e11, BACKGROUND[0], 0.1, SIGNAL[0], box_observed=box[0],
                         a_observed=20, c_observed=30, **errors),
            PeriodInputs("2023", 2e11, BACKGROUND[1], 0.2, SIGNAL[1], box_observed=box[1],
                         a_observed=400, c_observed=500, **errors)]


def _spec(box: list[int | None] | None = None) -> dict:
    """Two periods; ``ecal_scale`` moves the background by +-60 % (the dominant systematic),
    ``null_syst`` has no effect to speak of (1e-9; the model leaves out a modifier that
    has none at all)."""
    extra = {
        "ecal_scale": (Systematic("signal", [s * 1.1 for s in SIGNAL], [s * 0.9 for s in SIGNAL]),
                       Systematic("background", [b * 1.6 for b in BACKGROUND], [b * 0.4 for b in BACKGROUND])),
        "null_syst": Systematic("signal", [s * (1 + 1e-9) for s in SIGNAL], SIGNAL),
    }
    return build_workspace(_periods(box), extra_systematics=extra, yield_rel_error=0.10)


@pytest.fixture(scope="module")
def spec() -> dict:
    return _spec()


@pytest.fixture(scope="module")
def diag(spec: dict, tmp_path_factory: pytest.TempPathFactory) -> FitDiagnostics:
    return fit_diagnostics(spec, tmp_path_factory.mktemp("plots"), periods=NAMES, top=5)


@pytest.fixture(scope="module")
def constrained_diag(tmp_path_factory: pytest.TempPathFactory) -> FitDiagnostics:
    """A control period without signal and 1000 background events in its box (1100 observed):
    the box measures ``ecal_scale`` (+-20 % on the background) to ~3 %, and pulls it up."""
    periods = [PeriodInputs("ctrl", 1e11, 1000.0, 0.0, 0.0, box_observed=1100),
               PeriodInputs("sig", 1e11, 0.5, 0.1, 1.0, a_observed=40, c_observed=60, eot_rel_error=0.05)]
    extra = {"ecal_scale": Systematic("background", [1200.0, 0.6], [800.0, 0.4])}
    spec = build_workspace(periods, extra_systematics=extra)
    return fit_diagnostics(spec, tmp_path_factory.mktemp("plots_ctrl"), periods=["ctrl", "sig"])


# ---------------------------------------------------------------------------
# Yields
# ---------------------------------------------------------------------------


def test_yields_per_channel_and_bin(spec: dict, diag: FitDiagnostics) -> None:
    assert [c.name for c in diag.yields.channels] == [BOX_CHANNEL, SIDEBAND_A_CHANNEL, SIDEBAND_C_CHANNEL]
    observations = {o["name"]: o["data"] for o in spec["observations"]}
    for channel in spec["channels"]:
        table = diag.yields.channel(channel["name"])
        assert [b.label for b in table.bins] == NAMES
        for i, b in enumerate(table.bins):
            nominal = {s["name"]: s["data"][i] for s in channel["samples"] if s["data"][i] != 0}
            assert {s.sample: s.prefit for s in b.samples} == pytest.approx(nominal, rel=1e-12)
            assert b.total.prefit == pytest.approx(sum(nominal.values()), rel=1e-12)
            assert b.data == observations[channel["name"]][i]
            for entry in (*b.samples, b.total):
                assert all(math.isfinite(x) and x >= 0 for x in
                           (entry.postfit, entry.postfit_error, entry.prefit_error))
        assert table.total.prefit == pytest.approx(sum(sum(s["data"]) for s in channel["samples"]), rel=1e-12)
        assert table.data == pytest.approx(sum(observations[channel["name"]]))
        # the fit reproduces the data: the sidebands through bkg_norm, the Asimov box with mu ~ 0
        for b in table.bins:
            assert b.total.postfit == pytest.approx(b.data, rel=2e-3, abs=2e-3)


def test_yield_uncertainties(diag: FitDiagnostics) -> None:
    box = diag.yields.channel(BOX_CHANNEL)
    signal = {s.sample: s for b in box.bins for s in b.samples}["signal_2022"]
    # pre-fit: eot 5 %, sig_eff 5 %, aprime 10 %, ecal_scale 10 % on the signal (in quadrature)
    assert signal.prefit_error == pytest.approx(0.4 * math.hypot(0.05, 0.05, 0.1, 0.1), rel=0.03)
    # post-fit mu ~ 0 +- ~1: the signal yield's error is that of mu times the share
    assert signal.postfit == pytest.approx(0.0, abs=0.01)
    assert signal.postfit_error > 0.2
    # the sideband templates have no pre-fit uncertainty (free normalisation); post-fit it is
    # the Poisson error of the counts: 1/sqrt(A + C) relative
    a_2023 = diag.yields.channel(SIDEBAND_A_CHANNEL).bins[1].total
    assert a_2023.prefit_error == 0.0
    assert a_2023.postfit_error / a_2023.postfit == pytest.approx(1 / math.sqrt(900), rel=0.05)
    rows = diag.yields.rows()
    assert (BOX_CHANNEL, "2022", "signal_2022") in [r[:3] for r in rows]
    assert [r[:3] for r in rows if r[1] == "all"] == [(c, "all", "total") for c in
                                                      (BOX_CHANNEL, SIDEBAND_A_CHANNEL, SIDEBAND_C_CHANNEL)]


def test_bins_without_period_names_carry_the_keys(spec: dict, tmp_path: Path) -> None:
    from workflows.stats.diagnostics import _yield_table

    model, data = cabinetry.model_utils.model_and_data(spec)
    fit = cabinetry.fit.fit(model, data)
    table = _yield_table(spec, model, data, fit, None)
    assert [b.label for b in table.channel(SIDEBAND_C_CHANNEL).bins] == NAMES


# ---------------------------------------------------------------------------
# Pulls and constraints
# ---------------------------------------------------------------------------


def test_unconstrained_nuisances_stay_at_their_prior(diag: FitDiagnostics) -> None:
    names = {p.name for p in diag.parameters}
    assert names == set(cabinetry.model_utils.model_and_data(_spec())[0].config.par_names)
    for name in ("eot_2022", "sig_eff_2023", "aprime_yield", "null_syst"):
        p = diag.parameter(name)
        assert p.constrained and p.modifier == "normsys"
        assert p.pull == pytest.approx(0.0, abs=0.02)
        assert p.constraint == pytest.approx(1.0, abs=0.02)
    for name in ("mu", "bkg_norm_2022", "bkg_norm_2023"):
        p = diag.parameter(name)
        assert not p.constrained and p.pull is None and p.constraint is None
    assert {p.name for p in diag.nuisances} == names - {"mu", "bkg_norm_2022", "bkg_norm_2023"}


def test_sidebands_measure_the_background_normalisation(diag: FitDiagnostics) -> None:
    for name, total in (("bkg_norm_2022", 50), ("bkg_norm_2023", 900)):
        p = diag.parameter(name)
        assert p.bestfit == pytest.approx(1.0, abs=1e-3)
        assert p.error == pytest.approx(1 / math.sqrt(total), rel=0.05)


def test_box_data_constrain_and_pull_a_nuisance(constrained_diag: FitDiagnostics) -> None:
    p = constrained_diag.parameter("ecal_scale")
    # the box measures the background to 1/sqrt(1000) = 3.2 % against a prior of ln(1.2) = 18 %
    sigma = math.log(1.2)
    stat = 1 / math.sqrt(1100)
    assert p.constraint == pytest.approx(stat / sigma / math.hypot(1, stat / sigma), rel=0.1)
    assert p.constraint < 0.3
    # 10 % excess: alpha ~ ln(1.1) / ln(1.2), shrunk a little by the prior
    assert p.pull == pytest.approx(math.log(1.1) / sigma, rel=0.1)
    assert constrained_diag.parameter("eot_sig").constraint == pytest.approx(1.0, abs=0.02)


def test_relaxed_poi_bound(spec: dict, diag: FitDiagnostics) -> None:
    model, _ = cabinetry.model_utils.model_and_data(spec)
    ratio = min(b / s for b, s in zip(BACKGROUND, SIGNAL))
    assert diag.poi_bounds == pytest.approx((-POI_LOWER_FRACTION * ratio, 100.0))
    assert diagnostic_poi_bounds(model, 0.0)[model.config.poi_index] == (0.0, 100.0)
    with pytest.raises(ValueError, match="not below"):
        diagnostic_poi_bounds(model, 200.0)
    mu = diag.parameter("mu")
    # the Asimov box: mu at 0 inside the bounds, with a Hessian error (not the boundary's ~70)
    assert mu.bestfit == pytest.approx(0.0, abs=0.01)
    assert 0.5 < mu.error < 3.0


# ---------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------


def test_ranking_lists_every_nuisance_by_impact(diag: FitDiagnostics) -> None:
    impacts = diag.ranking.impacts
    assert diag.ranking.poi == "mu"
    assert sorted(i.name for i in impacts) == sorted(p.name for p in diag.parameters if p.name != "mu")
    post = [i.postfit for i in impacts]
    assert post == sorted(post, reverse=True)
    assert impacts[0].name == "ecal_scale"  # +-60 % on the background
    assert impacts[-1].name == "null_syst" and impacts[-1].postfit < 1e-4
    top = impacts[0]
    # more background: less signal
    assert top.postfit_up < 0 < top.postfit_down and top.prefit_up < 0 < top.prefit_down
    # free normalisations have no pre-fit impact but a post-fit one
    norm = next(i for i in impacts if i.name == "bkg_norm_2022")
    assert norm.prefit == 0.0 and norm.postfit > 0.01
    assert diag.ranking.top(3) == impacts[:3]


# ---------------------------------------------------------------------------
# Correlations, plots, JSON
# ---------------------------------------------------------------------------


def test_correlation_matrix(diag: FitDiagnostics) -> None:
    c = diag.correlation
    m = np.asarray(c.matrix)
    assert c.labels == tuple(p.name for p in diag.parameters)
    assert m.shape == (len(c.labels),) * 2
    assert np.allclose(m, m.T, atol=1e-6)
    assert np.allclose(np.diag(m), 1.0)
    assert np.all(np.abs(m) <= 1 + 1e-9)
    # more background from the sidebands leaves room for less signal
    assert c("mu", "bkg_norm_2022") < -0.05
    assert abs(c("mu", "null_syst")) < 1e-3


def test_plots_written(diag: FitDiagnostics) -> None:
    assert set(diag.plots) == {"pulls", "ranking", "correlation"}
    for kind, name in (("pulls", PULLS_PLOT), ("ranking", RANKING_PLOT), ("correlation", CORRELATION_PLOT)):
        path = Path(diag.plots[kind])
        assert path.name == name
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_matplotlib_style_is_not_changed(diag: FitDiagnostics, tmp_path: Path) -> None:
    import matplotlib as mpl

    before = dict(mpl.rcParams)
    fit_diagnostics(_spec(), tmp_path, periods=NAMES, top=2)
    assert dict(mpl.rcParams) == before


def test_no_constrained_nuisance(tmp_path: Path) -> None:
    """Only free parameters: no pull plot; the ranking (bkg_norm only, no pre-fit impact) still plots."""
    periods = [PeriodInputs(p.name, p.eot, p.background, 0.0, p.signal, a_observed=p.a_observed,
                            c_observed=p.c_observed, eot_rel_error=0.0, efficiency_rel_error=0.0)
               for p in _periods()]
    spec = build_workspace(periods, yield_rel_error=0.0)
    assert constrained_modifiers(spec) == []
    d = fit_diagnostics(spec, tmp_path, periods=NAMES)
    assert set(d.plots) == {"ranking", "correlation"}
    assert not (tmp_path / PULLS_PLOT).exists()
    assert (tmp_path / RANKING_PLOT).stat().st_size > 5000
    assert d.nuisances == ()
    assert {i.name for i in d.ranking.impacts} == {"bkg_norm_2022", "bkg_norm_2023"}


def test_strict_json_round_trip(diag: FitDiagnostics) -> None:
    doc = diag.to_json()
    text = json.dumps(doc, allow_nan=False)
    back = FitDiagnostics.from_json(json.loads(text))
    assert back == diag
    assert doc["schema_version"] == 1
    assert set(doc["seconds"]) == {"fit", "yields", "ranking", "plots"}
    with pytest.raises(InputError, match="schema_version"):
        FitDiagnostics.from_json({k: v for k, v in doc.items() if k != "schema_version"})
    broken = json.loads(text)
    del broken["ranking"]["impacts"][0]["postfit_up"]
    with pytest.raises(InputError, match=r"ranking\.impacts\[0\]\.postfit_up"):
        FitDiagnostics.from_json(broken)


def test_nan_is_encoded(diag: FitDiagnostics) -> None:
    from dataclasses import replace

    bad = replace(diag, twice_nll=math.nan)
    text = json.dumps(bad.to_json(), allow_nan=False)
    assert math.isnan(FitDiagnostics.from_json(json.loads(text)).twice_nll)


def test_bad_top(spec: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="top"):
        fit_diagnostics(spec, tmp_path, periods=NAMES, top=0)


# ---------------------------------------------------------------------------
# Limit breakdown
# ---------------------------------------------------------------------------


def test_group_by_source() -> None:
    errors = {"eot_rel_error": 0.05, "efficiency_rel_error": 0.05}
    periods = [PeriodInputs("2022", 1e11, 0.5, 0.1, 0.4, a_observed=5, c_observed=5, **errors),
               PeriodInputs("2023.b", 1e11, 0.5, 0.1, 0.4, **errors)]
    extra = {"srd_efficiency_2022": Systematic("signal", [0.44, 0.4], [0.36, 0.4]),
             "srd_efficiency_2023_b": Systematic("signal", [0.4, 0.44], [0.4, 0.36]),
             "box_edge": Systematic("background", [0.6, 0.6], [0.4, 0.4])}
    spec = build_workspace(periods, extra_systematics=extra, yield_rel_error=0.10)
    groups = group_by_source(spec, ["2022", "2023.b"])
    assert groups == {
        "aprime_yield": ("aprime_yield",),
        BACKGROUND_EXTRAPOLATION: ("bkg_extrap_2022", "bkg_extrap_2023_b"),
        "box_edge": ("box_edge",),
        "eot": ("eot_2022", "eot_2023_b"),
        "sig_eff": ("sig_eff_2022", "sig_eff_2023_b"),
        "srd_efficiency": ("srd_efficiency_2022", "srd_efficiency_2023_b"),
    }
    assert "bkg_norm_2022" not in {n for g in groups.values() for n in g}  # free: never removed


@pytest.fixture(scope="module")
def breakdown(spec: dict) -> LimitBreakdown:
    groups = group_by_source(spec, NAMES)
    return limit_breakdown(spec, {"ecal_scale": groups["ecal_scale"], "null": groups["null_syst"],
                                  "signal normalisation": [*groups["eot"], *groups["sig_eff"]]}, cl=0.9)


def test_breakdown_rows(spec: dict, breakdown: LimitBreakdown) -> None:
    from workflows.stats.limits import upper_limit

    assert [r.label for r in breakdown.rows[:2]] == [ALL, STATS_ONLY]
    assert {r.label for r in breakdown.groups} == {"ecal_scale", "null", "signal normalisation"}
    assert breakdown.all.removed == () and breakdown.all.relative_change == 0.0
    assert breakdown.stats_only.removed == tuple(constrained_modifiers(spec))
    assert breakdown.all.expected == pytest.approx(upper_limit(spec, cl=0.9, method="asymptotic").expected[2],
                                                   rel=1e-4)
    changes = [r.relative_change for r in breakdown.groups]
    assert changes == sorted(changes)
    for r in breakdown.rows:
        assert r.relative_change == pytest.approx((r.expected - breakdown.all.expected) / breakdown.all.expected)


def test_breakdown_physics(breakdown: LimitBreakdown) -> None:
    full, stats = breakdown.all.expected, breakdown.stats_only.expected
    assert stats < full
    ecal = breakdown.row("ecal_scale").expected
    # the dominant systematic: removing it takes the limit most of the way to stats-only
    assert stats <= ecal * (1 + 1e-6) and ecal < full
    assert full - ecal > 0.5 * (full - stats)
    assert breakdown.groups[0].label == "ecal_scale"
    assert breakdown.row("null").expected == pytest.approx(full, rel=1e-5)
    sig = breakdown.row("signal normalisation").expected
    assert ecal < sig < full


def test_breakdown_json(breakdown: LimitBreakdown) -> None:
    text = json.dumps(breakdown.to_json(), allow_nan=False)
    assert LimitBreakdown.from_json(json.loads(text)) == breakdown
    assert breakdown.to_json()["rows"][0] == {"label": ALL, "removed": [], "expected": breakdown.all.expected,
                                              "relative_change": 0.0}


def test_breakdown_is_blind_to_the_box() -> None:
    """An unblinded workspace with an excess in the box gives the blinded workspace's expected limit."""
    blinded, unblinded = _spec(), _spec(box=[4, 6])
    assert blinded_spec(unblinded)["observations"] == blinded["observations"]
    b1 = limit_breakdown(blinded, {})
    b2 = limit_breakdown(unblinded, {})
    assert b2.blind and b2.all.expected == pytest.approx(b1.all.expected, rel=1e-6)
    assert b2.stats_only.expected == pytest.approx(b1.stats_only.expected, rel=1e-6)


def test_breakdown_refuses_unknown_and_reserved(spec: dict) -> None:
    with pytest.raises(ValueError, match="ecal_scal\\b"):
        limit_breakdown(spec, {"typo": ["ecal_scal"]})
    with pytest.raises(ValueError, match="bkg_norm_2022"):
        limit_breakdown(spec, {"norm": ["bkg_norm_2022"]})  # free: not a constrained modifier
    with pytest.raises(ValueError, match="reserved"):
        limit_breakdown(spec, {STATS_ONLY: ["ecal_scale"]})


def test_breakdown_at_masses_round_trips_through_strict_json(breakdown: LimitBreakdown) -> None:
    from workflows.stats.fit_breakdown import MassBreakdown, SystematicsBreakdown

    at = SystematicsBreakdown("merged", (MassBreakdown(0.02, 28.4, breakdown), MassBreakdown(0.2, 0.0, breakdown)))
    text = json.dumps(at.to_json(), allow_nan=False)
    assert SystematicsBreakdown.from_json(json.loads(text)) == at
    doc = json.loads(text)["masses"]
    assert doc[0]["eps90_expected"]["all"] == pytest.approx(1e-4 * math.sqrt(breakdown.all.expected / 28.4))
    assert doc[1]["eps90_expected"]["all"] is None  # no signal: no limit (+inf encoded as null)
