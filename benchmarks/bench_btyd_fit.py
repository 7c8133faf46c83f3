"""BG/NBD fit speed: retentio vs lifetimes on one simulated summary (REFERENCE.md "Peer speed").

Simulates a BG/NBD-like summary with recency and T on a daily grid in weeks (1M customers give
~685k distinct (x, t_x, T) rows), fits it with ``retentio.models.BetaGeo`` (median of ``--repeats`` runs;
each run compresses the rows, fits and computes standard errors) and with ``lifetimes.BetaGeoFitter``
(once on the per-customer rows, once on our distinct rows with weights), and prints a Markdown table
with the times, the speed-up and the largest relative parameter difference.

    .venv/bin/python benchmarks/bench_btyd_fit.py [--customers 1000000] [--repeats 5] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np

from retentio.models import BetaGeo
from retentio.models.btyd.base import compress_histories
from retentio.models.btyd.simulate import simulate_beta_geo

TRUE_PARAMS = {"r": 1.2, "alpha": 2.0, "a": 0.6, "b": 4.0}
NAMES = ("r", "alpha", "a", "b")


def simulate(customers: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    first_purchase_days_ago = rng.integers(1, 731, customers)
    return simulate_beta_geo(rng, first_purchase_days_ago / 7.0, *TRUE_PARAMS.values(), grid=1 / 7)


def time_ours(x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, repeats: int) -> tuple[list[float], BetaGeo]:
    times = []
    model = BetaGeo()
    for _ in range(repeats):
        start = time.perf_counter()
        model = BetaGeo().fit(x, t_x, big_t)
        times.append(time.perf_counter() - start)
    return times, model


def time_lifetimes(
    x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, weights: np.ndarray | None
) -> tuple[float, dict[str, float]] | None:
    try:
        from lifetimes import BetaGeoFitter
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 / numpy 2 deprecation noise from lifetimes 0.11.3
        start = time.perf_counter()
        fitter = BetaGeoFitter().fit(x, t_x, big_t, weights=weights)
        elapsed = time.perf_counter() - start
    return elapsed, {name: float(fitter.params_[name]) for name in NAMES}


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

    x, t_x, big_t = simulate(args.customers, args.seed)
    rows = compress_histories(x, t_x, big_t, np.ones(len(x)))
    our_times, model = time_ours(x, t_x, big_t, max(args.repeats, 1))
    ours_median = statistics.median(our_times)

    results: list[tuple[str, float, str, str]] = [
        (
            f"retentio `BetaGeo.fit` (median of {len(our_times)}; compress + fit + SEs)",
            ours_median,
            "1×",
            "—",
        )
    ]
    peers: dict[str, float] = {}
    if not args.no_peer:
        plain = time_lifetimes(x, t_x, big_t, None)
        if plain is not None:
            seconds, params = plain
            peers["lifetimes"] = seconds
            results.append(
                (
                    f"lifetimes 0.11.3 `BetaGeoFitter.fit` on {args.customers:,} customer rows",
                    seconds,
                    f"{seconds / ours_median:.1f}× slower",
                    f"{max_relative_difference(model.params_, params):.2e}",
                )
            )
            compressed = time_lifetimes(rows.x, rows.t_x, rows.T, rows.weights)
            if compressed is not None:
                seconds_c, params_c = compressed
                results.append(
                    (
                        f"lifetimes on our {rows.n_rows:,} distinct rows with weights",
                        seconds_c,
                        f"{seconds_c / ours_median:.1f}× slower",
                        f"{max_relative_difference(model.params_, params_c):.2e}",
                    )
                )

    lines = [
        f"## BG/NBD fit, {args.customers:,} customers ({date.today().isoformat()})",
        "",
        f"Simulated BG/NBD summary (true r, α, a, b = {', '.join(f'{v:g}' for v in TRUE_PARAMS.values())}; "
        f"recency and T on a daily grid in weeks), {rows.n_rows:,} distinct (x, t_x, T) rows; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared, timings are noisy).",
        "",
        "| fit | seconds | relative | max relative parameter difference vs retentio |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {name} | {seconds:.3f} | {rel} | {diff} |" for name, seconds, rel, diff in results]
    lines += [
        "",
        f"retentio runs: {', '.join(f'{t:.3f}' for t in our_times)} s; estimates "
        + ", ".join(f"{n} {model.params_[n]:.6g} (SE {model.se_[n]:.2g})" for n in NAMES)
        + f"; log-likelihood {model.loglik_:.6f}.",
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
