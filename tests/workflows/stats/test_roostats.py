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
from workflows.stats.model import PeriodInputs, build_workspace

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


@pytest.mark.parametrize("case", list(CASES))
def test_asymptotic_limits_match_roostats(case: str) -> None:
    make, normsys, histosys = CASES[case]
    spec = make()
    settings = {"normsys": {"interpcode": normsys}, "histosys": {"interpcode": histosys}}
    ours = upper_limit(spec, cl=0.9, method="asymptotic", modifier_settings=settings)
    ours_values = [ours.observed, *ours.expected]
    ws = to_roostats(spec, poi_upper=20.0 * max(ours_values), normsys=normsys, histosys=histosys)
    check_conversion(ws, spec, settings)
    theirs = roostats_limits(ws, 0.9, ours_values)
    print(case, "pyhf", ours_values, "RooStats", theirs)
    rel = [abs(a / b - 1) for a, b in zip(ours_values, theirs)]
    assert all(math.isfinite(t) for t in theirs)
    assert max(rel) < REL_TOL, f"relative differences {rel}"
