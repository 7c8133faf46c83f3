"""BG/NBD fit speed: retentio vs lifetimes on one simulated summary (REFERENCE.md "Peer speed").

Simulates a BG/NBD-like summary with recency and T on a daily grid in weeks (1M customers give
~685k distinct (x, t_x, T) rows), fits it with ``retentio.models.BetaGeo`` (each run compresses the
rows, fits and computes standard errors) and with ``lifetimes.BetaGeoFitter`` (on the per-customer
rows, and on our distinct rows with weights). The three run in turn, ``--repeats`` times each, and the
medians are reported (``_timing.py``); prints a Markdown table with the times, the speed-up, the
largest relative parameter difference and the versions used.

    .venv/bin/python benchmarks/bench_btyd_fit.py [--customers 1000000] [--repeats 5] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import warnings
from collections.abc import Callable
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import alternate, environment
from retentio.models import BetaGeo
from retentio.models.btyd.base import compress_histories
from retentio.models.btyd.simulate import simulate_beta_geo

TRUE_PARAMS = {"r": 1.2, "alpha": 2.0, "a": 0.6, "b": 4.0}
NAMES = ("r", "alpha", "a", "b")


def simulate(customers: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    first_purchase_days_ago = rng.integers(1, 731, customers)
    return simulate_beta_geo(rng, first_purchase_days_ago / 7.0, *TRUE_PARAMS.values(), grid=1 / 7)


def lifetimes_fit(
    x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, weights: np.ndarray | None
) -> dict[str, float]:
    """lifetimes' BG/NBD estimates (its import is checked by the caller)."""
    from lifetimes import BetaGeoFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 / numpy 2 deprecation noise from lifetimes 0.11.3
        fitter = BetaGeoFitter().fit(x, t_x, big_t, weights=weights)
    return {name: float(fitter.params_[name]) for name in NAMES}


def _has_lifetimes() -> bool:
    try:
        import lifetimes  # noqa: F401
    except ImportError:
        return False
    return True


def max_relative_difference(ours: dict[str, float], theirs: dict[str, float]) -> float:
    return max(abs(theirs[n] - ours[n]) / abs(ours[n]) for n in NAMES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5, help="runs of our fit (the median is reported)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-peer", action="store_true", help="skip lifetimes")
    parser.add_argument("--markdown", type=Path, help="append the results as a section to this file")
    args = parser.parse_args(argv)

    versions = environment()
    x, t_x, big_t = simulate(args.customers, args.seed)
    rows = compress_histories(x, t_x, big_t, np.ones(len(x)))
    contenders: dict[str, Callable[[], Any]] = {"ours": lambda: BetaGeo().fit(x, t_x, big_t)}
    with_peer = not args.no_peer and _has_lifetimes()
    if with_peer:
        contenders["lifetimes"] = lambda: lifetimes_fit(x, t_x, big_t, None)
        contenders["lifetimes weighted"] = lambda: lifetimes_fit(rows.x, rows.t_x, rows.T, rows.weights)
    timings = alternate(contenders, max(args.repeats, 1))
    model: BetaGeo = timings["ours"].result
    ours_median = timings["ours"].median
    repeats = len(timings["ours"].seconds)

    results: list[tuple[str, float, str, str]] = [
        (f"retentio `BetaGeo.fit` (compress + fit + SEs), median of {repeats}", ours_median, "1×", "—")
    ]
    peers: dict[str, float] = {}
    if with_peer:
        version = metadata.version("lifetimes")
        for name, label in (
            ("lifetimes", f"lifetimes {version} `BetaGeoFitter.fit` on {args.customers:,} customer rows"),
            ("lifetimes weighted", f"lifetimes {version} on our {rows.n_rows:,} distinct rows with weights"),
        ):
            seconds = timings[name].median
            peers[name] = seconds
            results.append(
                (
                    f"{label}, median of {repeats}",
                    seconds,
                    f"{seconds / ours_median:.1f}× slower",
                    f"{max_relative_difference(model.params_, timings[name].result):.2e}",
                )
            )

    lines = [
        f"## BG/NBD fit, {args.customers:,} customers ({date.today().isoformat()})",
        "",
        f"Simulated BG/NBD summary (true r, α, a, b = {', '.join(f'{v:g}' for v in TRUE_PARAMS.values())}; "
        f"recency and T on a daily grid in weeks), {rows.n_rows:,} distinct (x, t_x, T) rows; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared, timings are noisy); "
        "the fits run in turn, ours then each lifetimes fit, repeated.",
        "",
        "| fit | seconds | relative | max relative parameter difference vs retentio |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {name} | {seconds:.3f} | {rel} | {diff} |" for name, seconds, rel, diff in results]
    lines += [
        "",
        "runs (s): "
        + "; ".join(f"{name} {timing.runs()}" for name, timing in timings.items())
        + "; retentio estimates "
        + ", ".join(f"{n} {model.params_[n]:.6g} (SE {model.se_[n]:.2g})" for n in NAMES)
        + f"; log-likelihood {model.loglik_:.6f}.",
        "",
        versions,
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown is not None:
        with args.markdown.open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)
    if "lifetimes" in peers and peers["lifetimes"] / ours_median < 20:
        print(
            f"note: speed-up {peers['lifetimes'] / ours_median:.1f}× is below the 20× goal", file=sys.stderr
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
