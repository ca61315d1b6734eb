"""`na64 process` against ROOT's RDataFrame running the same selection chain on the same
files with as many threads as the local cluster has workers: (our events/s) / (RDF's).

    .venv/bin/python benchmarks/rdataframe.py [--events N] [--repeat R]

The RDataFrame version is written the usual way: C++ helpers declared once, Define and
Filter with C++ strings, one Count per cutflow step, Histo1D/Histo2D for the plane, the
sidebands and the per-process cutflow, the shower chi2 against the reference our first
pass wrote. Its cutflow and region counts are checked against ours (they must be equal).
Target: ratio >= 1.0. Two ratios are printed: against RDF's whole script (interpreter,
``import ROOT``, JIT, event loop) and against its event loop alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import _common as c

CXX = r"""
#include <cmath>
#include "ROOT/RVec.hxx"
using ROOT::VecOps::RVec;
namespace na64 {
// the energy-dependent reference (processors/reference.py): at shower energy E (GeV),
// mean_j + mean_slope_j / E and variance_j + variance_slope_j / E, E at least FLOOR
const double MEAN[9] = {%(mean)s};
const double MEAN_SLOPE[9] = {%(mean_slope)s};
const double VAR[9] = {%(variance)s};
const double VAR_SLOPE[9] = {%(variance_slope)s};
const double FLOOR = %(floor)r;
const int CX = %(cx)d, CY = %(cy)d;
// towers: preshower + main section, x-major, as processors/kernels.py
double e_ecal(const RVec<float>& e) {
  double s = 0;
  for (int i = 0; i < 36; ++i) s += double(e[i]) + double(e[36 + i]);
  return s;
}
int hottest(const RVec<float>& e) {
  double best = -INFINITY; int besti = -1;
  for (int i = 0; i < 36; ++i) { double t = double(e[i]) + double(e[36 + i]); if (t > best) { best = t; besti = i; } }
  return besti;
}
double chi2(const RVec<float>& e, double s, double energy) {
  double c = 0; int j = 0;
  double u = 1.0 / (energy > FLOOR ? energy : FLOOR);
  for (int dx = -1; dx <= 1; ++dx) for (int dy = -1; dy <= 1; ++dy, ++j) {
    int x = CX + dx, y = CY + dy;
    double f = (x >= 0 && x < 6 && y >= 0 && y < 6 && s > 0) ? (double(e[x * 6 + y]) + double(e[36 + x * 6 + y])) / s : 0.0;
    double v = VAR[j] + VAR_SLOPE[j] * u;
    if (v > 0) { double d = f - (MEAN[j] + MEAN_SLOPE[j] * u); c += d * d / v; }
  }
  return c;
}
double sum(const RVec<float>& v) { double s = 0; for (auto x : v) s += x; return s; }
bool all_finite(const RVec<float>& v) { for (auto x : v) if (!std::isfinite(x)) return false; return true; }
bool all_within(const RVec<float>& v, double lo, double hi) { for (auto x : v) if (!(x > lo && x < hi)) return false; return true; }
bool all_below(const RVec<float>& v, double hi) { for (auto x : v) if (!(x < hi)) return false; return true; }
}
"""


def rdf_child(files: list[str], reference: dict, cfg: dict, threads: int, out: str) -> None:
    """The RDataFrame analysis (runs in its own process)."""
    t_start = time.perf_counter()
    import numpy as np
    import ROOT

    ROOT.EnableImplicitMT(threads)
    params = {k: ", ".join(repr(x) for x in reference[k])
              for k in ("mean", "mean_slope", "variance", "variance_slope")}
    cx, cy = reference["central_cell"]
    ROOT.gInterpreter.Declare(CXX % {**params, "floor": reference["energy_floor"], "cx": cx, "cy": cy})
    t = cfg["thresholds"]
    e0, es, hs = cfg["beam_energy"], cfg["ecal_scale"], cfg["hcal_scale"]
    names = ROOT.std.vector("string")()
    for f in files:
        names.push_back(f)
    df = ROOT.RDataFrame("events", names)
    phys = (
        df.Filter("(trigger & 1) && !(trigger & 2)", "physics_trigger")
        .Define("e_raw", "na64::e_ecal(ecal)")
        .Define("hcal_all", "na64::sum(hcal)")
        .Define("e_ecal", f"e_raw * {es!r}")
        .Define("e_hcal", f"hcal_all * {hs!r}")
    )
    cuts = [
        (
            "finite_energies",
            "std::isfinite(e_raw) && std::isfinite(hcal_all) && std::isfinite(ecal_time)"
            " && na64::all_finite(srd) && na64::all_finite(veto)",
        ),
        ("in_time", f"std::abs(ecal_time) < {t['ecal_time_window']!r}"),
        ("momentum", f"std::abs(beam_momentum - {e0!r}) < {t['momentum_window'] * e0!r}"),
        ("angle", f"beam_angle < {t['max_angle']!r}"),
        ("srd_tag", f"na64::all_within(srd, {t['srd_min']!r}, {t['srd_max']!r})"),
        ("single_straw_track", f"straw_tracks == {t['straw_tracks']}"),
        ("central_cell", f"na64::hottest(ecal) == {6 * cx + cy}"),
        ("shower_chi2", f"na64::chi2(ecal, e_raw, e_ecal) < {t['chi2_max']!r}"),
        ("veto", f"na64::all_below(veto, {t['veto_max']!r})"),
    ]
    box = f"(e_ecal < {t['box_ecal_max']!r} && e_hcal < {t['box_hcal_max']!r})"
    c_min = t["sideband_c_ecal_min"] or t["box_ecal_max"]
    a_min = t["sideband_a_hcal_min"] or t["box_hcal_max"]
    edges = np.asarray(cfg["hcal_edges"], dtype=np.float64)
    # Blinded as ours: events whose (E_ECAL, E_HCAL) lie in the signal box are left out of
    # every count and histogram, at every step of the chain. One flag column per cut (RDF
    # evaluates each Define at most once per event), the chain as Filters on them.
    phys = phys.Filter(f"!{box}", "blinded")
    for k, (_name, expr) in enumerate(cuts):
        phys = phys.Define(f"pass{k}", expr)
    step_nodes = [phys]
    node = phys
    for k, (name, _) in enumerate(cuts):
        node = node.Filter(f"pass{k}", name)
        step_nodes.append(node)
    counts = [n.Count() for n in step_nodes]
    by_process = [n.Histo1D(("p", "", 8, -1.5, 6.5), "mc_process") for n in step_nodes]
    final = step_nodes[-1]
    early = step_nodes[-3]  # before the chi2 and VETO cuts
    region_a = final.Filter(f"e_ecal < {t['box_ecal_max']!r} && e_hcal > {a_min!r}")
    region_c = final.Filter(f"e_ecal > {c_min!r} && e_hcal < {t['box_hcal_max']!r}")
    n_a, n_c = region_a.Count(), region_c.Count()
    plane_model = ROOT.RDF.TH2DModel("plane", "", 120, 0.0, 1.2 * e0, len(edges) - 1, edges)
    plane = final.Histo2D(plane_model, "e_ecal", "e_hcal")
    plane_early = early.Histo2D(plane_model, "e_ecal", "e_hcal")
    side_c = region_c.Histo1D(("c", "", 120, 0.0, 1.2 * e0), "e_ecal")
    side_a = region_a.Histo1D(("a", "", 150, 0.0, 1.5 * e0), "e_hcal")
    t_loop = time.perf_counter()
    cutflow = [int(x.GetValue()) for x in counts]  # runs the event loop (all actions at once)
    loop = time.perf_counter() - t_loop
    result = {
        "cutflow": cutflow,
        "regions": {"A": int(n_a.GetValue()), "C": int(n_c.GetValue())},
        "plane_entries": plane.GetEntries(),
        "plane_before_entries": plane_early.GetEntries(),
        "sideband_c_entries": side_c.GetEntries(),
        "sideband_a_entries": side_a.GetEntries(),
        "by_process_entries": [h.GetEntries() for h in by_process],
        "loop_seconds": loop,
        "script_seconds_before_exit": time.perf_counter() - t_start,
        "runs": df.GetNRuns(),
    }
    Path(out).write_text(json.dumps(result))


def main() -> None:
    p = c.parser(__doc__, 3_000_000)
    a = p.parse_args()
    from processors.histograms import hcal_edges
    from workflows.processing.catalog import load_catalog
    from workflows.runtime.cluster import default_workers

    directory, _ = c.simulate(a.data, a.events)
    files = c.files_of(directory)
    cat = c.catalog(a.data, directory)
    threads = default_workers()
    (period,) = load_catalog(cat)
    cfg = {
        "thresholds": period.cuts.model_dump(mode="json"),
        "beam_energy": period.beam.energy,
        "ecal_scale": period.calibration.ecal_scale,
        "hcal_scale": period.calibration.hcal_scale,
        "hcal_edges": hcal_edges(period.beam.energy).tolist(),
    }
    if tuple(period.hcal_modules) != (0, 1, 2, 3):
        raise SystemExit("the RDataFrame version sums all four HCAL modules")
    print(f"machine: {c.machine()}")
    print(f"{len(files)} files, {a.events:,} events, {threads} workers / threads")
    ours, rdf_script, rdf_loop = [], [], []
    out = a.data / "out-rdf-comparison"
    result_path = a.data / "rdf-result.json"
    for i in range(a.repeat):
        c.wait_for_quiet()
        wall, summaries = c.process_command(cat, out)
        ours.append(wall)
        summary = summaries[c.PERIOD]
        reference = json.loads((out / c.PERIOD / "shower_reference.json").read_text())
        c.wait_for_quiet()
        t0 = time.perf_counter()
        r = c.run(
            [
                c.PYTHON,
                __file__,
                "--child",
                json.dumps([files, reference, cfg, threads, str(result_path)]),
            ]
        )
        rdf_script.append(time.perf_counter() - t0)
        if r.returncode:
            raise SystemExit(f"RDataFrame failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        rdf = json.loads(result_path.read_text())
        rdf_loop.append(rdf["loop_seconds"])
        print(
            f"  run {i + 1}: na64 process {ours[-1]:.2f} s; RDataFrame script {rdf_script[-1]:.2f} s "
            f"(event loop {rdf_loop[-1]:.2f} s); load {c.load()}"
        )
    ours_cutflow = [row["events"] for row in summary["cutflow"]]
    same = ours_cutflow == rdf["cutflow"]
    same_regions = all(summary["regions"][k] == rdf["regions"][k] for k in ("A", "C"))
    print(f"cutflow   ours: {ours_cutflow}")
    print(f"cutflow   RDF:  {rdf['cutflow']}  -> {'identical' if same else 'DIFFERENT'}")
    print(
        f"regions A, C ours {summary['regions']['A']}, {summary['regions']['C']}; RDF "
        f"{rdf['regions']['A']}, {rdf['regions']['C']} -> {'identical' if same_regions else 'DIFFERENT'}"
    )
    events = summary["events"]["read"]
    o, s, lp = min(ours), min(rdf_script), min(rdf_loop)
    print(
        f"ours: {events / o / 1e6:.2f} M events/s (whole command {o:.2f} s); RDataFrame: "
        f"{events / s / 1e6:.2f} M events/s (whole script {s:.2f} s), "
        f"{events / lp / 1e6:.2f} M events/s (event loop {lp:.2f} s)"
    )
    print(f"RATIO ours / RDataFrame (whole script): {s / o:.2f} (target >= 1.0)")
    print(f"RATIO ours / RDataFrame (event loop only): {lp / o:.2f}")
    if not (same and same_regions):
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        rdf_child(*json.loads(sys.argv[2]))
    else:
        main()
