"""``retentio kpi`` end to end, process start included, on a large shop.

Builds a store + analytics snapshot for N customers (~11.6 orders each, simulated from the demo's
true BG/NBD parameters, as in ``bench_clv_pipeline``), then times the full-year command

    retentio kpi --from 2025-01-01 --to 2026-01-01 --format json

as a whole process (import, settings, freshness check, the KPI queries for the period *and* the
previous one, JSON out), several runs, median reported. Goal: under 3 s at 1M customers.

    .venv/bin/python benchmarks/bench_kpi_cli.py --customers 1000000 --runs 5

``--generator`` builds the store from the demo generator's shop instead (order lines with costs,
refunds, survey answers, 73M events at 1M customers; generate + ingest take ~40 min once, then
``--home`` reuses it, as does ``bench_churn.py --home``):

    .venv/bin/python benchmarks/bench_kpi_cli.py --generator --customers 1000000 --home /data/shop1m
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _timing import environment
from bench_clv_pipeline import build_store
from retentio.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--home", type=Path, help="reuse or build in this RETENTIO_HOME")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--generator", action="store_true", help="a generated shop (see above)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    versions = environment()
    home = args.home or Path(tempfile.mkdtemp(prefix="retentio-bench-kpi-"))
    settings = Settings(home=home)
    if args.generator:
        from bench_churn import prepare

        prepare(home, args.customers, args.seed, {})
    elif not settings.snapshot_path.exists():
        built = build_store(settings, args.customers, seed=1)
        print(f"built {built}", flush=True)
    exe = str(Path(sys.executable).with_name("retentio"))
    env = dict(os.environ, RETENTIO_HOME=str(home))
    env.pop("RETENTIO_DATABASE_URL", None)
    command = [exe, "kpi", "--from", "2025-01-01", "--to", "2026-01-01", "--format", "json"]
    times = []
    for _ in range(args.runs + 1):  # the first run warms the OS page cache and is not counted
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        times.append(time.perf_counter() - started)
    out = json.loads(result.stdout)
    median = statistics.median(times[1:])
    text = (
        f"### `retentio kpi`, full year, end to end ({args.customers:,} customers, median of {args.runs})\n\n"
        "| runs (s) | median | goal |\n| --- | ---: | ---: |\n"
        f"| {', '.join(f'{t:.2f}' for t in times[1:])} | {median:.2f} s | < 3 s |\n\n"
        f"S = {out['S']:,}, E = {out['E']:,}, N = {out['N']:,}, "
        f"retention_rate = {out['retention_rate']:.4f}\n\n"
        f"{versions}\n"
    )
    print(text)
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)


if __name__ == "__main__":
    main()
