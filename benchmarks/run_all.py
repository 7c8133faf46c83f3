"""Run every benchmark side by side with its peer or practical limit and write docs/benchmarks.md.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/run_all.py          # full size
    .venv/bin/python benchmarks/run_all.py --quick                                          # small sizes
    .venv/bin/python benchmarks/run_all.py --generator-shop /data/shop1m   # + the generator's 1M shop

Each benchmark is a script in this folder that can also be run alone (see its --help). Timings are
medians of several runs inside one process, ours and the peer (or practical limit) run the same
number of times, alternating (``_timing.py``); each section ends with the versions it ran with.
Quote the ratios, not the absolute seconds: these machines are shared and noisy. ``--out`` defaults
to docs/benchmarks.md, which is curated by hand: write elsewhere and copy the sections over.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).parent
DOC = HERE.parent / "docs" / "benchmarks.md"
sys.path.insert(0, str(HERE))

from _timing import environment  # noqa: E402

FULL = [
    (
        "Ingest throughput",
        ["bench_ingest.py", "--orders", "1000000", "--customers", "100000", "--repeats", "3"],
    ),
    ("BG/NBD fit vs lifetimes", ["bench_btyd_fit.py", "--customers", "1000000", "--repeats", "5"]),
    (  # lifetimes on all ~10M orders, so that the cold goal against it is measured
        "Per-customer RFM + BTYD summary",
        ["bench_summary.py", "--full", "--repeat", "3", "--lifetimes-max-orders", "20000000"],
    ),
    ("Monthly cohort matrix", ["bench_cohorts.py", "--full", "--repeat", "3"]),
    ("CLV pipeline", ["bench_clv_pipeline.py", "--customers", "1000000"]),
    ("retentio kpi end to end", ["bench_kpi_cli.py", "--customers", "1000000", "--runs", "5"]),
    ("Churn model", ["bench_churn.py", "--customers", "50000", "--shap-repeats", "3"]),
]
QUICK = [
    (
        "Ingest throughput",
        ["bench_ingest.py", "--orders", "100000", "--customers", "20000", "--repeats", "1"],
    ),
    ("BG/NBD fit vs lifetimes", ["bench_btyd_fit.py", "--customers", "100000", "--repeats", "3"]),
    ("Per-customer RFM + BTYD summary", ["bench_summary.py", "--customers", "50000", "--repeat", "3"]),
    ("Monthly cohort matrix", ["bench_cohorts.py", "--customers", "50000", "--repeat", "3"]),
    ("CLV pipeline", ["bench_clv_pipeline.py", "--customers", "50000"]),
    ("retentio kpi end to end", ["bench_kpi_cli.py", "--customers", "50000", "--runs", "3"]),
    ("Churn model", ["bench_churn.py", "--customers", "5000", "--shap-repeats", "3"]),
]


def generator_plan(shop: Path) -> list[tuple[str, list[str]]]:
    """The figures on the demo generator's 1M-customer shop (built once into ``shop``, ~40 min)."""
    home, parquet = str(shop / "home"), str(shop / "parquet")
    orders = f"{parquet}/orders*.parquet"
    return [
        (
            "retentio kpi end to end, generator's 1M shop",
            ["bench_kpi_cli.py", "--generator", "--customers", "1000000", "--home", home, "--runs", "7"],
        ),
        (
            "Churn model, generator's 1M shop",
            ["bench_churn.py", "--customers", "1000000", "--home", home, "--threads", "2"],
        ),
        (
            "Per-customer RFM + BTYD summary, generator's orders, with lifetimes",
            ["bench_summary.py", "--orders-parquet", orders, "--calibration-end", "2025-12-31",
             "--repeat", "3", "--lifetimes-max-orders", "20000000"],
        ),
        ("Monthly cohort matrix, generator's orders", ["bench_cohorts.py", "--orders-parquet", orders]),
    ]  # fmt: skip


def _generate_parquet(shop: Path) -> None:
    target = shop / "parquet"
    if not (target / "metadata.json").is_file():
        from retentio.demo.generator import generate

        generate(target, customers=1_000_000, seed=7, fmt="parquet")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes, not tens of minutes)")
    parser.add_argument("--only", nargs="*", help="run only benchmarks whose title contains one of these")
    parser.add_argument("--out", type=Path, default=DOC)
    parser.add_argument(
        "--generator-shop",
        type=Path,
        help="also run the figures on the generator's 1M-customer shop, built once in this folder (~40 min)",
    )
    args = parser.parse_args()
    versions = environment()  # at the start: its load average is the machine's before we load it
    plan = list(QUICK if args.quick else FULL)
    if args.generator_shop:
        _generate_parquet(args.generator_shop)
        plan += generator_plan(args.generator_shop)
    if args.only:
        plan = [(t, a) for t, a in plan if any(o.lower() in t.lower() for o in args.only)]
    sections = []
    for title, argv in plan:
        started = time.perf_counter()
        load = os.getloadavg()[0]
        result = subprocess.run(
            [sys.executable, str(HERE / argv[0]), *argv[1:]], capture_output=True, text=True
        )
        elapsed = time.perf_counter() - started
        body = (
            result.stdout.strip()
            if result.returncode == 0
            else f"FAILED (exit {result.returncode}):\n\n```\n{result.stderr[-2000:]}\n```"
        )
        sections.append(
            f"## {title}\n\n`python benchmarks/{' '.join(argv)}` — {elapsed:.0f} s wall, load average "
            f"{load:.1f} at start\n\n{body}\n"
        )
        print(sections[-1], flush=True)
    header = (
        f"# Benchmarks (generated by `benchmarks/run_all.py{' --quick' if args.quick else ''}`, "
        f"{datetime.now():%Y-%m-%d %H:%M})\n\n{versions}. "
        "Shared and noisy: compare the ratios, which pair ours with the peer or limit in the same run.\n\n"
    )
    args.out.write_text(header + "\n".join(sections), encoding="utf-8")


if __name__ == "__main__":
    main()
