"""Fit speed: a limit scan of 30 A' masses over 7 run periods, its wall time and the
share of it spent inside pyhf (model building, fits, test statistics) against the rest.

    .venv/bin/python benchmarks/fit.py [--masses N] [--methods asymptotic,auto] [--ntoys T]

Each mass is one multi-period workspace of :func:`workflows.stats.model.build_workspace`
(7 periods as bins, sidebands A and C, the signal shared among the periods as the mass
dictates) and one CLs upper limit of :func:`workflows.stats.limits.upper_limit`, run serially
in this process. The split comes from sampling this process's stack every 5 ms: a
sample counts for pyhf when a pyhf frame is on the stack. ``--masses`` below 30 times
that many masses and scales the total to 30 (printed as such).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import numpy as np


class StackSampler:
    """Fraction of wall time with a frame of ``package`` on the main thread's stack."""

    def __init__(self, package: str = "/pyhf/", interval: float = 0.005):
        self.package, self.interval = package, interval
        self.inside = self.total = 0
        self._stop = threading.Event()
        self._main = threading.main_thread().ident

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self._main)
            hit = False
            while frame is not None:
                if self.package in frame.f_code.co_filename:
                    hit = True
                    break
                frame = frame.f_back
            self.total += 1
            self.inside += hit

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def share(self) -> float:
        return self.inside / self.total if self.total else float("nan")


def period_inputs(masses: np.ndarray):
    """Seven periods with the exposures of the shipped catalogs, sideband counts and a
    small box background; the signal of each mass shared among them by EOT and a
    mass-dependent efficiency."""
    from workflows.stats.model import PeriodInputs

    eot = np.array([4.3e10, 5.4e10, 1.87e11, 6.0e10, 6.3e11, 4.4e11, 5.2e11])
    names = ["2016", "2017", "2018", "2021", "2022", "2023", "2024"]
    out = []
    for m in masses:
        eff = 0.5 * np.exp(-m / 2.0) * (1 + 0.1 * np.arange(7) / 7)
        share = eot * eff / np.sum(eot * eff)
        out.append(
            [
                PeriodInputs(
                    name=n,
                    eot=float(e),
                    background=0.02 * e / 1e11,
                    background_error=0.01 * e / 1e11,
                    signal=float(s),
                    a_observed=int(50 * e / 1e11) + 5,
                    c_observed=int(500 * e / 1e11) + 20,
                )
                for n, e, s in zip(names, eot, share, strict=True)
            ]
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--masses", type=int, default=30, help="masses to time (default 30)")
    p.add_argument("--methods", default="asymptotic,auto")
    p.add_argument("--ntoys", type=int, default=500, help="toys per point where 'auto' picks toys")
    a = p.parse_args()
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    import _common as c

    from workflows.stats.limits import upper_limit
    from workflows.stats.model import build_workspace

    print(f"machine: {c.machine()}")
    masses = np.geomspace(1e-3, 1.0, 30)[np.linspace(0, 29, a.masses).round().astype(int)]
    for method in a.methods.split(","):
        t0 = time.perf_counter()
        with StackSampler() as sampler:
            t_build = 0.0
            picked = set()
            for inputs in period_inputs(masses):
                tb = time.perf_counter()
                spec = build_workspace(inputs)
                t_build += time.perf_counter() - tb
                r = upper_limit(spec, cl=0.9, method=method, ntoys=a.ntoys)
                picked.add(r.method)
        wall = time.perf_counter() - t0
        scale = 30 / a.masses
        print(
            f"  {method} ({', '.join(sorted(picked))}): {a.masses} masses in {wall:.1f} s "
            f"({wall / a.masses:.2f} s per mass; workspaces {t_build:.2f} s); load {c.load()}"
        )
        print(
            f"RESULT fit {method}: 30 masses x 7 periods {'(scaled) ' if scale != 1 else ''}"
            f"{wall * scale:.0f} s; pyhf {100 * sampler.share:.0f} %, the rest "
            f"{100 * (1 - sampler.share):.0f} %"
        )


if __name__ == "__main__":
    main()
