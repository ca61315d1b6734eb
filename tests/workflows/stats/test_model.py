"""HistFactory workspace builder: structure, nominal yields, nuisances, edge cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyhf
import pytest

from workflows.stats.limits import upper_limit
from workflows.stats.model import (
    APRIME_YIELD,
    BACKGROUND_FLOOR,
    BOX_CHANNEL,
    LOGNORMAL_MODIFIER_SETTINGS,
    SIDEBAND_A_CHANNEL,
    SIDEBAND_C_CHANNEL,
    PeriodInputs,
    Systematic,
    build_notes,
    build_workspace,
    is_expected_only,
    write_workspace,
)

LN10 = math.log(10.0)

# The built-in signal nuisances are 0 unless given (na64 fit takes its numbers from
# datasets/systematics.yaml); these tests give them.
SIGNAL_ERRORS = {"eot_rel_error": 0.05, "efficiency_rel_error": 0.05}
PERIODS = [
    PeriodInputs("2016", 4.3e10, 0.17, 0.05, 1.5, box_observed=0, a_observed=12, c_observed=30,
                 **SIGNAL_ERRORS),
    PeriodInputs("2017", 5.4e10, 0.15, 0.05, 2.0, box_observed=1, a_observed=9, c_observed=25,
                 **SIGNAL_ERRORS),
    PeriodInputs("2018", 1.87e11, 0.21, 0.07, 6.0, box_observed=0, **SIGNAL_ERRORS),
]


def _model(spec: dict, **kwargs) -> tuple[pyhf.Model, list[float]]:
    ws = pyhf.Workspace(spec)
    model = ws.model(**kwargs)
    return model, ws.data(model)


def _channel_yields(model: pyhf.Model, pars: list[float] | np.ndarray, channel: str) -> np.ndarray:
    expected = np.asarray(model.expected_actualdata(pars))
    return expected[model.config.channel_slices[channel]]


def _pars(model: pyhf.Model, **values: float) -> np.ndarray:
    pars = np.asarray(model.config.suggested_init(), dtype=float)
    for name, value in values.items():
        pars[model.config.par_slice(name)] = value
    return pars


def test_no_signal_nuisance_unless_given() -> None:
    """No hard-coded signal uncertainty: without them only the background ones remain."""
    bare = [PeriodInputs(p.name, p.eot, p.background, p.background_error, p.signal,
                         p.box_observed, p.a_observed, p.c_observed) for p in PERIODS]
    model, _ = _model(build_workspace(bare))
    assert set(model.config.par_names) == {"mu", "bkg_norm_2016", "bkg_norm_2017", "bkg_extrap_2016",
                                           "bkg_extrap_2017", "bkg_extrap_2018"}


def test_structure_and_schema() -> None:
    spec = build_workspace(PERIODS, yield_rel_error=0.10)
    ws = pyhf.Workspace(spec)  # schema validation
    model = ws.model()
    assert model.config.poi_name == "mu"
    assert model.config.channel_nbins == {BOX_CHANNEL: 3, SIDEBAND_A_CHANNEL: 2,
                                          SIDEBAND_C_CHANNEL: 2}
    observed = {o["name"]: o["data"] for o in spec["observations"]}
    assert observed[BOX_CHANNEL] == [0.0, 1.0, 0.0]
    assert observed[SIDEBAND_A_CHANNEL] == [12.0, 9.0]
    assert observed[SIDEBAND_C_CHANNEL] == [30.0, 25.0]
    params = set(model.config.par_names)
    assert {"bkg_norm_2016", "bkg_norm_2017", APRIME_YIELD, "eot_2018", "sig_eff_2018",
            "bkg_extrap_2018"} <= params
    assert "bkg_norm_2018" not in params  # no sidebands in 2018
    assert model.config.param_set(APRIME_YIELD).n_parameters == 1  # correlated across periods
    assert not is_expected_only(spec)


def test_nominal_yields_reproduce_inputs() -> None:
    model, _ = _model(build_workspace(PERIODS))
    box_b = _channel_yields(model, _pars(model, mu=0.0), BOX_CHANNEL)
    box_sb = _channel_yields(model, _pars(model, mu=1.0), BOX_CHANNEL)
    np.testing.assert_allclose(box_b, [p.background for p in PERIODS])
    np.testing.assert_allclose(box_sb - box_b, [p.signal for p in PERIODS])
    np.testing.assert_allclose(_channel_yields(model, _pars(model), SIDEBAND_A_CHANNEL), [12, 9])
    np.testing.assert_allclose(_channel_yields(model, _pars(model), SIDEBAND_C_CHANNEL), [30, 25])


def test_sidebands_normalise_box_background() -> None:
    """theta scales the sidebands and the box background together (fixed ratio tau)."""
    model, _ = _model(build_workspace(PERIODS))
    pars = _pars(model, mu=0.0, bkg_norm_2016=2.0)
    box = _channel_yields(model, pars, BOX_CHANNEL)
    side_a = _channel_yields(model, pars, SIDEBAND_A_CHANNEL)
    assert box[0] == pytest.approx(2 * 0.17) and side_a[0] == pytest.approx(24.0)
    assert box[1] == pytest.approx(0.15) and side_a[1] == pytest.approx(9.0)


def test_background_only_fit_recovers_nominal_normalisation() -> None:
    periods = [PeriodInputs("p", 1e10, 0.4, 0.1, 2.0, box_observed=0, a_observed=40, c_observed=60)]
    model, data = _model(build_workspace(periods))
    fitted = pyhf.infer.mle.fixed_poi_fit(0.0, data, model)
    theta = fitted[model.config.par_slice("bkg_norm_p")][0]
    # sidebands say 1; the empty box pulls slightly down: L ~ Pois(100|100 t) Pois(0|0.4 t)
    assert theta == pytest.approx(1.0 - 0.4 / 100.4, rel=2e-3)


@pytest.mark.parametrize("settings,exact", [(LOGNORMAL_MODIFIER_SETTINGS, True), (None, False)])
def test_lognormal_nuisances(settings: dict | None, exact: bool) -> None:
    """hi = k, lo = 1/k; interpolation code1 is exactly k**alpha (log-normal)."""
    spec = build_workspace(PERIODS[:1], yield_rel_error=0.10)
    mods = {m["name"]: m for s in spec["channels"][0]["samples"] for m in s["modifiers"]}
    assert mods[APRIME_YIELD]["data"] == {"hi": 1.1, "lo": pytest.approx(1 / 1.1)}
    assert mods["eot_2016"]["data"]["hi"] == pytest.approx(1.05)
    assert mods["bkg_extrap_2016"]["data"]["hi"] == pytest.approx(1 + 0.05 / 0.17)
    kwargs = {"modifier_settings": settings} if settings else {}
    model, _ = _model(spec, **kwargs)
    for alpha in (-2.0, -0.5, 0.5, 1.0, 2.0):
        box = _channel_yields(model, _pars(model, mu=1.0, **{APRIME_YIELD: alpha}), BOX_CHANNEL)
        signal = box[0] - 0.17
        if exact or abs(alpha) >= 1:  # code4 is exponential outside |alpha| < 1 too
            assert signal == pytest.approx(1.5 * 1.1**alpha, rel=1e-12)
        else:
            assert signal == pytest.approx(1.5 * 1.1**alpha, rel=1e-3)


def test_blinded_box_uses_asimov_and_is_expected_only() -> None:
    periods = [PeriodInputs("2016", 4.3e10, 0.17, 0.05, 1.5, a_observed=12, c_observed=30),
               PeriodInputs("2017", 5.4e10, 0.15, 0.05, 2.0, box_observed=0)]
    spec = build_workspace(periods)
    assert is_expected_only(spec)
    assert spec["observations"][0]["data"] == [0.17, 0.0]
    assert any("blinded" in note for note in build_notes(periods))
    blinded = build_workspace([PeriodInputs("p", 1e10, 20.0, 2.0, 10.0, a_observed=200,
                                            c_observed=300)])
    result = upper_limit(blinded, method="asymptotic")
    assert result.observed == pytest.approx(result.expected[2], rel=1e-4)  # Asimov: obs = median


def test_zero_background_zero_observed_multi_period_is_2p30_events() -> None:
    """No background, no systematics, nothing observed: CLs = exp(-mu * sum s)."""
    periods = [PeriodInputs(f"p{i}", 1e10, 0.0, 0.0, s, box_observed=0, eot_rel_error=0,
                            efficiency_rel_error=0) for i, s in enumerate([1.0, 2.0, 0.5])]
    spec = build_workspace(periods, yield_rel_error=0.0)
    model, _ = _model(spec)
    assert model.config.par_names == ["mu"]
    np.testing.assert_allclose(_channel_yields(model, _pars(model, mu=0.0), BOX_CHANNEL),
                               [BACKGROUND_FLOOR] * 3)
    ntoys = 50_000
    result = upper_limit(spec, ntoys=ntoys, batch_size=ntoys, seed=2)
    assert result.method == "toys"
    rel = math.sqrt(0.9 / (0.1 * ntoys))  # binomial error of CLsb = 0.1 (CLb = 1)
    assert result.observed * 3.5 == pytest.approx(LN10, abs=4 * rel + 0.005)
    single = build_workspace(periods[:1], yield_rel_error=0.0)
    exact = upper_limit(single)
    assert exact.method == "exact" and exact.observed == pytest.approx(LN10, rel=1e-7)


def test_zero_signal_period_has_no_signal_sample() -> None:
    periods = [PERIODS[0], PeriodInputs("dead", 1e10, 0.2, 0.05, 0.0, box_observed=0)]
    spec = build_workspace(periods)
    names = [s["name"] for s in spec["channels"][0]["samples"]]
    assert "signal_dead" not in names and "background_dead" in names
    assert "dead: no expected signal" in " ".join(build_notes(periods))
    result = upper_limit(spec, method="asymptotic")
    assert all(math.isfinite(v) for v in [result.observed, *result.expected])
    with pytest.raises(ValueError, match="positive expected signal"):
        build_workspace([PeriodInputs("dead", 1e10, 0.2, 0.05, 0.0, box_observed=0)])


def test_empty_sidebands_fall_back_to_lognormal_constraint() -> None:
    periods = [PeriodInputs("empty", 1e10, 0.3, 0.1, 2.0, box_observed=0, a_observed=0,
                            c_observed=0)]
    spec = build_workspace(periods)
    model, _ = _model(spec)
    assert [c["name"] for c in spec["channels"]] == [BOX_CHANNEL]
    assert "bkg_extrap_empty" in model.config.par_names
    assert not any(n.startswith("bkg_norm") for n in model.config.par_names)
    assert "empty sidebands" in " ".join(build_notes(periods))
    result = upper_limit(spec, method="asymptotic")
    assert math.isfinite(result.observed) and result.observed > 0


def test_sideband_template_with_empty_A_is_floored() -> None:
    periods = [PeriodInputs("p", 1e10, 0.3, 0.1, 2.0, box_observed=0, a_observed=0, c_observed=8)]
    spec = build_workspace(periods)
    model, data = _model(spec)
    side_a = _channel_yields(model, _pars(model), SIDEBAND_A_CHANNEL)
    assert side_a[0] == pytest.approx(BACKGROUND_FLOOR)
    assert math.isfinite(float(model.logpdf(_pars(model), data)[0]))


def test_shared_background_normalisation() -> None:
    spec = build_workspace(PERIODS, background_norm="shared")
    model, _ = _model(spec)
    norms = [n for n in model.config.par_names if n.startswith("bkg_norm")]
    assert norms == ["bkg_norm"]
    with pytest.raises(ValueError):
        build_workspace(PERIODS, background_norm="per_run")


def test_extra_systematics() -> None:
    extra = {
        "energy_scale": Systematic("signal", up=[1.6, 2.2, 6.6], down=[1.4, 1.8, 5.4]),
        "hcal_leak": Systematic("background", up=[0.2, 0.2, 0.3], down=[0.15, 0.1, 0.2],
                                kind="histosys"),
    }
    spec = build_workspace(PERIODS, extra_systematics=extra)
    model, _ = _model(spec)
    box = {s["name"]: {m["name"]: m for m in s["modifiers"]}
           for s in spec["channels"][0]["samples"]}
    assert box["signal_2017"]["energy_scale"]["data"] == {"hi": pytest.approx(1.1),
                                                          "lo": pytest.approx(0.9)}
    assert box["background_2018"]["hcal_leak"]["data"] == {"hi_data": [0.0, 0.0, 0.3],
                                                           "lo_data": [0.0, 0.0, 0.2]}
    assert model.config.param_set("energy_scale").n_parameters == 1
    pars = _pars(model, mu=0.0, hcal_leak=1.0)
    np.testing.assert_allclose(_channel_yields(model, pars, BOX_CHANNEL), [0.2, 0.2, 0.3])
    with pytest.raises(ValueError, match="one up and one down"):
        build_workspace(PERIODS, extra_systematics={"x": Systematic("signal", [1.0], [1.0])})
    with pytest.raises(ValueError, match="clashes"):
        build_workspace(PERIODS, yield_rel_error=0.10, extra_systematics={APRIME_YIELD: extra["energy_scale"]})
    with pytest.raises(ValueError, match="clashes"):
        build_workspace(PERIODS, extra_systematics={"eot_2016": extra["energy_scale"]})
    # Without the built-in yield nuisance the name is free (systematics.yaml's aprime_yield).
    free = build_workspace(PERIODS, extra_systematics={APRIME_YIELD: extra["energy_scale"]})
    assert _model(free)[0].config.param_set(APRIME_YIELD).n_parameters == 1


def test_period_validation() -> None:
    with pytest.raises(ValueError):
        PeriodInputs("2016", 1e10, -0.1, 0.0, 1.0)
    with pytest.raises(ValueError):
        PeriodInputs("2016", 1e10, 0.1, 0.0, float("nan"))
    with pytest.raises(ValueError):
        PeriodInputs("2016", 1e10, 0.1, 0.0, 1.0, a_observed=3)
    with pytest.raises(ValueError):
        PeriodInputs("run 2016", 1e10, 0.1, 0.0, 1.0)
    with pytest.raises(ValueError):
        PeriodInputs("2016", 1e10, 0.1, 0.0, 1.0, box_observed=1.5)
    with pytest.raises(ValueError, match="unique"):
        build_workspace([PeriodInputs("a.b", 1, 0.1, 0, 1), PeriodInputs("a_b", 1, 0.1, 0, 1)])


def test_write_workspace_round_trip(tmp_path: Path) -> None:
    spec = build_workspace(PERIODS)
    path = write_workspace(spec, tmp_path / "out" / "ws.json")
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert loaded == spec
    names = pyhf.Workspace(spec).model().config.par_names
    assert pyhf.Workspace(loaded).model().config.par_names == names
    broken = json.loads(json.dumps(spec))
    broken["observations"][0]["data"][0] = float("nan")
    with pytest.raises(ValueError):
        write_workspace(broken, tmp_path / "nan.json")


def test_multi_period_limit_is_sensible() -> None:
    """Zero observed in every period: the combined limit is near 2.3 / sum(signal)."""
    periods = [PeriodInputs(p.name, p.eot, p.background, p.background_error, p.signal,
                            box_observed=0, a_observed=p.a_observed, c_observed=p.c_observed)
               for p in PERIODS]
    result = upper_limit(build_workspace(periods), method="asymptotic")
    total = sum(p.signal for p in PERIODS)
    # asymptotics are optimistic at zero counts (the reason for auto -> toys)
    assert 0.4 * LN10 / total < result.observed < LN10 / total
