"""Cross-check of the asymptotic CLs limits against RooStats (ROOT from PyPI).

Each pyhf workspace is converted to a RooStats HistFactory model (Measurement /
Channel / Sample objects built from the JSON), then RooStats computes the limit with
``AsymptoticCalculator`` (one-sided profile likelihood, qtilde), ``HypoTestInverter``
and CLs. Interpolation codes are matched explicitly (ROOT 6.40 numbering):

* pyhf normsys ``code4`` (pyhf's default: polynomial inside |alpha| < 1, exponential
  outside) = ROOT ``FlexibleInterpVar`` code 5; pyhf ``code1`` (pure exponential,
  log-normal) = ROOT code 1;
* pyhf histosys ``code4p`` (pyhf's default: polynomial inside, linear outside) =
  ROOT ``PiecewiseInterpolation`` code 4; pyhf ``code0`` = ROOT code 0;
* shapesys: Poisson constraint of gamma*tau with tau = (b/db)^2 in both
  (``Constraint::Poisson``, non-integer "Gamma-like" auxiliary value in ROOT).

The conversion itself is checked first: NLL differences between parameter points
agree with pyhf's. Install: ``pip install --pre "root==0.1a12"``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyhf
import pytest

from workflows.stats.limits import upper_limit
from workflows.stats.model import (
    LOGNORMAL_MODIFIER_SETTINGS,
    PeriodInputs,
    Systematic,
    build_workspace,
)

ROOT = pytest.importorskip(
    "ROOT",
    reason="ROOT cannot be imported (pip install 'root==0.1a12'): RooStats cross-check skipped",
    exc_type=ImportError,
)

pytestmark = pytest.mark.roostats

NORMSYS_CODES = {"code1": 1, "code4": 5}
HISTOSYS_CODES = {"code0": 0, "code4p": 4}
REL_TOL = 1e-3


def _setup_root() -> None:
    ROOT.gROOT.SetBatch(True)
    ROOT.TH1.AddDirectory(False)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR)
    ROOT.Math.MinimizerOptions.SetDefaultMinimizer("Minuit2")
    ROOT.Math.MinimizerOptions.SetDefaultStrategy(1)
    ROOT.Math.MinimizerOptions.SetDefaultTolerance(1e-6)
    ROOT.Math.MinimizerOptions.SetDefaultPrintLevel(-1)
    ROOT.RooStats.AsymptoticCalculator.SetPrintLevel(-1)


_setup_root()
_KEEP: list[Any] = []  # HistFactory takes histograms by pointer: keep them alive, never freed


def _hist(name: str, values: list[float]) -> Any:
    hist = ROOT.TH1D(name, name, len(values), 0.0, float(len(values)))
    for i, value in enumerate(values):
        hist.SetBinContent(i + 1, float(value))
    ROOT.SetOwnership(hist, False)
    _KEEP.append(hist)
    return hist


def _parameter_config(spec: dict) -> dict[str, dict]:
    return {p["name"]: p for p in spec["measurements"][0]["config"].get("parameters", [])}


def _add_modifier(sample: Any, mod: dict, nominal: list[float], params: dict, tag: str) -> None:
    HF = ROOT.RooStats.HistFactory
    kind, name = mod["type"], mod["name"]
    if kind == "normfactor":
        cfg = params.get(name, {})
        lo, hi = cfg.get("bounds", [[0.0, 10.0]])[0]
        sample.AddNormFactor(name, cfg.get("inits", [1.0])[0], lo, hi)
    elif kind == "normsys":
        sample.AddOverallSys(name, mod["data"]["lo"], mod["data"]["hi"])
    elif kind == "histosys":
        sys = HF.HistoSys()
        sys.SetName(name)
        sys.SetHistoLow(_hist(f"{tag}_{name}_lo", mod["data"]["lo_data"]))
        sys.SetHistoHigh(_hist(f"{tag}_{name}_hi", mod["data"]["hi_data"]))
        sample.AddHistoSys(sys)
    elif kind == "shapesys":
        rel = [e / n if n > 0 else 0.0 for e, n in zip(mod["data"], nominal)]
        sys = HF.ShapeSys()
        sys.SetName(name)
        sys.SetErrorHist(_hist(f"{tag}_{name}_relerr", rel))
        sys.SetConstraintType(HF.Constraint.Poisson)
        sample.AddShapeSys(sys)
    else:
        raise NotImplementedError(f"modifier type {kind} is not converted")


def to_roostats(spec: dict, poi_upper: float, normsys: str = "code4",
                histosys: str = "code4p") -> Any:
    """RooWorkspace (combined HistFactory model, ModelConfig, obsData) from a pyhf spec."""
    HF = ROOT.RooStats.HistFactory
    params = _parameter_config(spec)
    poi = spec["measurements"][0]["config"]["poi"]
    params.setdefault(poi, {"name": poi})
    params[poi] = {**params[poi], "bounds": [[0.0, poi_upper]]}
    meas = HF.Measurement("meas", "meas")
    meas.SetPOI(poi)
    meas.SetLumi(1.0)
    meas.SetLumiRelErr(0.1)
    meas.AddConstantParam("Lumi")
    for name, cfg in params.items():
        if cfg.get("fixed"):
            meas.AddConstantParam(name)
    observed = {o["name"]: o["data"] for o in spec["observations"]}
    for channel in spec["channels"]:
        cname = channel["name"]
        chan = HF.Channel(cname)
        chan.SetData(_hist(f"data_{cname}", observed[cname]))
        for s in channel["samples"]:
            tag = f"{cname}_{s['name']}"
            sample = HF.Sample(s["name"])
            sample.SetHisto(_hist(f"nominal_{tag}", s["data"]))
            sample.SetNormalizeByTheory(False)
            for mod in s["modifiers"]:
                _add_modifier(sample, mod, s["data"], params, tag)
            chan.AddSample(sample)
        meas.AddChannel(chan)
    ws = HF.HistoToWorkspaceFactoryFast.MakeCombinedModel(meas)
    ROOT.SetOwnership(ws, False)
    _set_interpolation(ws, NORMSYS_CODES[normsys], HISTOSYS_CODES[histosys])
    return ws


def _set_interpolation(ws: Any, normsys_code: int, histosys_code: int) -> None:
    for func in ws.allFunctions():
        if func.ClassName() == "RooStats::HistFactory::FlexibleInterpVar":
            func.setAllInterpCodes(normsys_code)
        elif func.ClassName() == "PiecewiseInterpolation":
            func.setAllInterpCodes(histosys_code)


def _root_parameter(ws: Any, model: pyhf.Model, par: str, index: int) -> Any:
    """The ROOT variable for pyhf parameter ``par`` (element ``index``)."""
    for candidate in (par, f"alpha_{par}", f"gamma_{par}_bin_{index}"):
        var = ws.var(candidate)
        if var:
            return var
    raise KeyError(f"no ROOT parameter for {par}[{index}]")


def _set_point(ws: Any, model: pyhf.Model, pars: np.ndarray) -> None:
    for name in model.config.par_order:
        sl = model.config.par_slice(name)
        for i, value in enumerate(pars[sl]):
            _root_parameter(ws, model, name, i).setVal(float(value))


def _perturbed(model: pyhf.Model, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian nuisances within +-1.6 sigma (both interpolation regions), gammas and
    free normalisations by up to 20%."""
    point = base.copy()
    for name in model.config.par_order:
        sl = model.config.par_slice(name)
        pset = model.config.param_set(name)
        shift = rng.uniform(-1.0, 1.0, size=pset.n_parameters)
        gaussian = pset.constrained and pset.pdf_type == "normal"
        point[sl] = base[sl] + 1.6 * shift if gaussian else base[sl] * (1.0 + 0.2 * shift)
    return point


def check_conversion(ws: Any, spec: dict, modifier_settings: dict) -> None:
    """pyhf and ROOT NLL differences agree at a few parameter points."""
    workspace = pyhf.Workspace(spec)
    model = workspace.model(modifier_settings=modifier_settings)
    data = workspace.data(model)
    mc = ws.obj("ModelConfig")
    nll = mc.GetPdf().createNLL(ws.data("obsData"))
    ROOT.SetOwnership(nll, False)
    rng = np.random.default_rng(1)
    base = np.asarray(model.config.suggested_init(), dtype=float)
    points = [base] + [_perturbed(model, base, rng) for _ in range(4)]
    pyhf_nll = [-float(model.logpdf(p, data)[0]) for p in points]
    root_nll = []
    for p in points:
        _set_point(ws, model, p)
        root_nll.append(nll.getVal())
    np.testing.assert_allclose(np.diff(root_nll), np.diff(pyhf_nll), rtol=1e-7, atol=1e-7)


def roostats_limits(ws: Any, cl: float, guesses: list[float]) -> list[float]:
    """[observed, expected -2..+2 sigma] from HypoTestInverter scans around ``guesses``.

    Each quantity gets its own fine fixed scan (-4%..+3% around the guess, 14 points;
    neither a point nor the window centre at the guess) so
    that the inverter's linear interpolation between scan points is negligible.
    """
    mc = ws.obj("ModelConfig")
    data = ws.data("obsData")
    poi = mc.GetParametersOfInterest().first()
    poi.setVal(1.0)
    mc.SetSnapshot(ROOT.RooArgSet(poi))
    bkg = mc.Clone("bkg_only_model")
    ROOT.SetOwnership(bkg, False)
    poi.setVal(0.0)
    bkg.SetSnapshot(ROOT.RooArgSet(poi))
    out = []
    for k, guess in enumerate(guesses):
        calc = ROOT.RooStats.AsymptoticCalculator(data, bkg, mc)
        calc.SetOneSided(True)
        calc.SetQTilde(True)
        inverter = ROOT.RooStats.HypoTestInverter(calc)
        inverter.SetConfidenceLevel(cl)
        inverter.UseCLs(True)
        inverter.SetVerbose(False)
        inverter.SetFixedScan(14, 0.96 * guess, 1.03 * guess)
        result = inverter.GetInterval()
        ROOT.SetOwnership(result, False)
        out.append(result.UpperLimit() if k == 0 else result.GetExpectedUpperLimit(k - 3))
    return out


def _counting_normsys() -> dict:
    return {
        "channels": [{"name": "box", "samples": [
            {"name": "signal", "data": [2.0],
             "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "background", "data": [0.5],
             "modifiers": [{"name": "bkg_extrap", "type": "normsys",
                            "data": {"hi": 1.3, "lo": 1 / 1.3}}]}]}],
        "observations": [{"name": "box", "data": [1.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _multi_period() -> dict:
    periods = [
        PeriodInputs("2016", 4.3e10, 0.17, 0.05, 1.5, box_observed=0, a_observed=12, c_observed=30),
        PeriodInputs("2017", 5.4e10, 0.15, 0.05, 2.0, box_observed=1, a_observed=9, c_observed=25),
        PeriodInputs("2018", 1.87e11, 0.21, 0.07, 6.0, box_observed=0),
    ]
    return build_workspace(periods)


def _shapesys() -> dict:
    # pyhf validation/data/2bin_statex-like two-bin shapesys model
    return {
        "channels": [{"name": "sr", "samples": [
            {"name": "signal", "data": [5.0, 10.0],
             "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "background", "data": [50.0, 70.0],
             "modifiers": [{"name": "uncorr_bkg", "type": "shapesys", "data": [7.0, 10.0]}]}]}],
        "observations": [{"name": "sr", "data": [55.0, 65.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _histosys() -> dict:
    # pyhf validation/data/2bin_histosys_example2.json
    return {
        "channels": [{"name": "singlechannel", "samples": [
            {"name": "signal", "data": [30.0, 95.0],
             "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "background", "data": [100.0, 150.0],
             "modifiers": [{"name": "bkg_norm", "type": "histosys",
                            "data": {"lo_data": [98.0, 100.0], "hi_data": [102.0, 190.0]}}]}]}],
        "observations": [{"name": "singlechannel", "data": [120.0, 180.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


CASES = {
    "counting_normsys": (_counting_normsys, "code4", "code4p"),
    "counting_normsys_code1": (_counting_normsys, "code1", "code0"),
    "multi_period_box_sidebands": (_multi_period, "code4", "code4p"),
    "shapesys_2bin": (_shapesys, "code4", "code4p"),
    "histosys_2bin": (_histosys, "code4", "code4p"),
}


def _compare_limits(spec: dict, normsys: str, histosys: str, label: str,
                    expected_nuisances: tuple[str, ...] = ()) -> list[float]:
    """pyhf vs RooStats [observed, expected -2..+2 sigma]: relative differences."""
    settings = {"normsys": {"interpcode": normsys}, "histosys": {"interpcode": histosys}}
    ours = upper_limit(spec, cl=0.9, method="asymptotic", modifier_settings=settings)
    ours_values = [ours.observed, *ours.expected]
    ws = to_roostats(spec, poi_upper=20.0 * max(ours_values), normsys=normsys, histosys=histosys)
    nuisances = ws.obj("ModelConfig").GetNuisanceParameters()
    for name in expected_nuisances:  # the converted model really carries them
        assert ws.var(f"alpha_{name}"), f"alpha_{name} missing from the ROOT workspace"
        assert nuisances.find(f"alpha_{name}"), f"alpha_{name} is no nuisance of the ROOT model"
    params = ws.obj("ModelConfig").GetPdf().getParameters(ws.data("obsData"))
    ROOT.SetOwnership(params, False)
    ws.saveSnapshot("initial", params, True)
    check_conversion(ws, spec, settings)
    check_single_shifts(ws, spec, settings, expected_nuisances)
    ws.loadSnapshot("initial")  # the checks moved the parameters: fits start at the inits
    theirs = roostats_limits(ws, 0.9, ours_values)
    print(label, "pyhf", ours_values, "RooStats", theirs)
    assert all(math.isfinite(t) for t in theirs)
    rel = [abs(a / b - 1) for a, b in zip(ours_values, theirs)]
    print(label, "relative differences", rel)
    return rel


@pytest.mark.parametrize("case", list(CASES))
def test_asymptotic_limits_match_roostats(case: str) -> None:
    make, normsys, histosys = CASES[case]
    rel = _compare_limits(make(), normsys, histosys, case)
    assert max(rel) < REL_TOL, f"relative differences {rel}"


SYSTEMATIC_NUISANCES = ("ecal_scale", "bkg_model", "veto_2022", "sig_shape")


def _multi_period_systematics() -> dict:
    """Three periods (two with sidebands) and the fit's systematic-variation nuisances."""
    periods = [
        PeriodInputs("2021", 5.0e10, 0.12, 0.04, 2.0, box_observed=0, a_observed=10, c_observed=28),
        PeriodInputs("2022", 9.0e10, 0.25, 0.08, 3.5, box_observed=1, a_observed=15, c_observed=40),
        PeriodInputs("2023", 1.2e11, 0.30, 0.10, 4.5, box_observed=0),
    ]
    sig = np.array([p.signal for p in periods])
    bkg = np.array([p.background for p in periods])
    extra = {
        # one nuisance moving signal and background together (energy-scale shift)
        "ecal_scale": (Systematic("signal", up=list(sig * [1.06, 1.05, 1.07]),
                                  down=list(sig * [0.95, 0.96, 0.94])),
                       Systematic("background", up=list(bkg * [1.20, 1.15, 1.25]),
                                  down=list(bkg * [0.88, 0.90, 0.85]))),
        # asymmetric normsys: background +30 %, -10 %
        "bkg_model": Systematic("background", up=list(bkg * 1.3), down=list(bkg * 0.9)),
        # uncorrelated, one period only: up = down = nominal elsewhere
        "veto_2022": Systematic("background", up=list(bkg * [1.0, 1.4, 1.0]),
                                down=list(bkg * [1.0, 0.75, 1.0])),
        # shape (additive) variation of the signal
        "sig_shape": Systematic("signal", up=list(sig * [1.08, 1.12, 1.05]),
                                down=list(sig * [0.90, 0.93, 0.97]), kind="histosys"),
    }
    return build_workspace(periods, extra_systematics=extra)


def _modifier_samples(spec: dict) -> dict[str, set[tuple[str, str]]]:
    """nuisance name -> {(sample name, modifier type)} over all channels."""
    out: dict[str, set[tuple[str, str]]] = {}
    for channel in spec["channels"]:
        for sample in channel["samples"]:
            for mod in sample["modifiers"]:
                out.setdefault(mod["name"], set()).add((sample["name"], mod["type"]))
    return out


def check_single_shifts(ws: Any, spec: dict, modifier_settings: dict,
                        names: tuple[str, ...]) -> None:
    """Each named nuisance alone at +-0.5 and +-1.5 sigma (both interpolation regions)
    changes the NLL by the same amount in pyhf and ROOT (so none was dropped or half
    converted, e.g. only on one of the samples it acts on)."""
    workspace = pyhf.Workspace(spec)
    model = workspace.model(modifier_settings=modifier_settings)
    data = workspace.data(model)
    nll = ws.obj("ModelConfig").GetPdf().createNLL(ws.data("obsData"))
    ROOT.SetOwnership(nll, False)
    base = np.asarray(model.config.suggested_init(), dtype=float)

    def both(point: np.ndarray) -> tuple[float, float]:
        _set_point(ws, model, point)
        return -float(model.logpdf(point, data)[0]), nll.getVal()

    pyhf0, root0 = both(base)
    for name in names:
        index = model.config.par_slice(name).start
        for shift in (-1.5, -0.5, 0.5, 1.5):
            point = base.copy()
            point[index] = shift
            pyhf_nll, root_nll = both(point)
            assert abs(pyhf_nll - pyhf0) > 1e-6, f"{name} at {shift:+} sigma: no effect"
            np.testing.assert_allclose(root_nll - root0, pyhf_nll - pyhf0, rtol=1e-7, atol=1e-9,
                                       err_msg=f"{name} at {shift:+} sigma")


# Interpolation aligned explicitly on both sides: "pyhf_default" = pyhf's model
# default (normsys code4 = ROOT FlexibleInterpVar 5, histosys code4p = ROOT
# PiecewiseInterpolation 4); "lognormal" = LOGNORMAL_MODIFIER_SETTINGS (normsys code1 =
# ROOT 1, histosys code0 = ROOT 0). to_roostats sets ROOT's codes on every interpolation.
SYSTEMATIC_SETTINGS = {
    "pyhf_default": {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}},
    "lognormal": LOGNORMAL_MODIFIER_SETTINGS,
}


@pytest.mark.parametrize("settings", list(SYSTEMATIC_SETTINGS))
def test_systematic_nuisances_match_roostats(settings: str) -> None:
    spec = _multi_period_systematics()
    acts_on = _modifier_samples(spec)
    # build_workspace really put them where they belong (the model ROOT gets)
    assert acts_on["ecal_scale"] == {("signal_2021", "normsys"), ("signal_2022", "normsys"),
                                     ("signal_2023", "normsys"), ("background_2021", "normsys"),
                                     ("background_2022", "normsys"),
                                     ("background_2023", "normsys")}
    assert {s for s, _ in acts_on["bkg_model"]} == {"background_2021", "background_2022",
                                                     "background_2023"}
    assert {s for s, _ in acts_on["sig_shape"]} == {"signal_2021", "signal_2022", "signal_2023"}
    assert {t for _, t in acts_on["sig_shape"]} == {"histosys"}
    assert any(s["name"] in ("sideband_A", "sideband_C") for s in spec["channels"])
    codes = SYSTEMATIC_SETTINGS[settings]
    rel = _compare_limits(spec, codes["normsys"]["interpcode"], codes["histosys"]["interpcode"],
                          f"systematics_{settings}", SYSTEMATIC_NUISANCES)
    assert max(rel) < REL_TOL, f"relative differences {rel}"
