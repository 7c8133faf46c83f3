"""Churn model at scale: time to train (backtest + final model) and to score N customers.

Generates a demo shop of ``--customers`` customers (or reuses ``--home`` if it already holds one),
ingests it, then measures each stage of ``retentio churn train`` and ``retentio churn score``:

- features per cutoff (Ibis → DuckDB) and the BG/NBD fit at each cutoff,
- LightGBM fits of the backtest and of the final model,
- scoring: features at the as-of date, calibrated probabilities, reasons for the customers at risk
  (SHAP values by decision pattern, :mod:`retentio.models.churn.treeshap`), and writing
  ``customer_scores`` (reported separately: the store write is I/O, not model time);
- side by side on the same at-risk customers, doing the same work: our SHAP values *including
  reading the trees* (the model dump parsed into splits, which the model otherwise caches) vs
  LightGBM's own TreeSHAP (``pred_contrib``, the peer, whose booster has its trees loaded too), with
  the same number of threads, alternating, ``--shap-repeats`` runs each, medians and the largest
  difference between the two.

The stages are single runs (they have no peer); the side-by-side uses ``_timing.py``. It prints the
timings, the backtest metrics next to the BG/NBD and RFM-recency baselines, and the versions used.

    .venv/bin/python benchmarks/bench_churn.py                       # 20,000 customers
    .venv/bin/python benchmarks/bench_churn.py --customers 100000 --home /tmp/shop100k --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import alternate, environment
from retentio.app import App


def _timed(label: str, timings: dict[str, float], fn: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = fn()
    timings[label] = time.perf_counter() - started
    print(f"  {label:<34} {timings[label]:8.2f} s", flush=True)
    return result


def prepare(home: Path, customers: int, seed: int, timings: dict[str, float]) -> Any:
    """Settings of a store holding a generated shop (generated and ingested unless already there)."""
    from retentio.config import Settings
    from retentio.demo.generator import generate
    from retentio.ingest import ingest_directory

    settings = Settings(home=home)
    marker = home / "bench-churn.json"
    if marker.is_file() and json.loads(marker.read_text())["customers"] == customers:
        print(f"reusing the store in {home}")
        return settings
    shop = home.parent / f"{home.name}-csv"
    _timed("generate", timings, lambda: generate(shop, customers=customers, seed=seed))
    _timed("ingest (all tables)", timings, lambda: ingest_directory(App(settings), shop))
    marker.write_text(json.dumps({"customers": customers, "seed": seed}))
    return settings


def compare_with_lightgbm(model: Any, frame: Any, timings: dict[str, float], repeats: int) -> dict[str, Any]:
    """SHAP values of ``frame``: ours (trees read + values) vs LightGBM's ``pred_contrib``, alternating."""
    import os

    from retentio.models.churn.treeshap import shap_values, tree_splits

    matrix = model._matrix(frame)  # the features as a matrix: the input of both sides, not timed
    booster = model.booster_
    threads = os.cpu_count() or 1  # shap_values uses the same number for its calls into LightGBM

    def ours() -> Any:
        # Reading the trees (dump_model parsed into splits) is part of the work: the peer's booster
        # has its trees loaded, and ours cannot start without the splits.
        return shap_values(booster, tree_splits(booster), matrix)

    def peer() -> Any:
        return booster.predict(matrix, pred_contrib=True, num_threads=threads)

    runs = alternate({"ours": ours, "peer": peer}, repeats)
    timings["SHAP values, retentio (trees read + values)"] = runs["ours"].median
    timings["SHAP values, LightGBM pred_contrib"] = runs["peer"].median
    started = time.perf_counter()
    tree_splits(booster)
    read_trees = time.perf_counter() - started
    difference = np.abs(runs["ours"].result - runs["peer"].result)
    result = {
        "rows": len(frame),
        "trees": booster.num_trees(),
        "threads": threads,
        "repeats": repeats,
        "ours_s": runs["ours"].seconds,
        "peer_s": runs["peer"].seconds,
        "reading_trees_s": read_trees,
        "speedup": runs["peer"].median / runs["ours"].median,
        "max_abs_difference": float(difference.max()) if len(frame) else 0.0,
    }
    print(
        f"  SHAP values of {len(frame):,} rows, {result['trees']} trees, {threads} threads, median of "
        f"{repeats} alternating: ours {runs['ours'].median:.2f} s (runs {runs['ours'].runs()}; of which "
        f"reading the trees ~{read_trees:.2f} s), pred_contrib {runs['peer'].median:.2f} s (runs "
        f"{runs['peer'].runs()}): pred_contrib / ours = {result['speedup']:.2f}, largest difference "
        f"{result['max_abs_difference']:.1e}"
    )
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    from retentio.models import registry
    from retentio.models.churn.store import (
        REASONS_MIN_RISK,
        default_as_of,
        reasons_at_risk,
        save_churn_model,
        score_tables,
    )
    from retentio.models.churn.train import train_churn

    timings: dict[str, float] = {}
    versions = environment()
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="bench-churn-")) / "home"
    home.mkdir(parents=True, exist_ok=True)
    print(f"churn benchmark: {args.customers:,} customers, store {home}")
    settings = prepare(home, args.customers, args.seed, timings)
    tables = App(settings).analytics()

    if args.score_only:
        from retentio.models.churn.store import load_churn_model

        model, record = load_churn_model(App(settings))
        metadata = record.metadata
        print(f"scoring with the saved model version {record.version} (--score-only: no training)")
    else:
        result = _timed(
            "train (backtest + final)",
            timings,
            lambda: train_churn(
                tables,
                horizon_days=args.horizon_days,
                origins=args.origins,
                train_cutoffs=args.train_cutoffs,
                train_step_days=args.train_step_days,
                timezone=settings.timezone,
                params={"num_threads": args.threads} if args.threads else None,
            ),
        )
        inside = result.metadata["timings_s"]
        timings["  of which features + BG/NBD + labels"] = inside["features"]
        timings["  of which LightGBM fits"] = inside["lightgbm"]
        record = save_churn_model(App(settings), result)
        model, metadata = result.model, result.metadata

    as_of: date = default_as_of(tables)
    horizon = int(metadata["horizon_days"])
    scored = _timed(
        "score: features + predict",
        timings,
        lambda: score_tables(model, tables, as_of, horizon, settings.timezone),
    )
    at_risk = int((scored.churn_risk >= REASONS_MIN_RISK).sum())
    label = f"score: reasons for {at_risk:,} at risk"
    payload = _timed(label, timings, lambda: reasons_at_risk(scored, REASONS_MIN_RISK))
    comparison = compare_with_lightgbm(
        model, scored.frame[scored.churn_risk >= REASONS_MIN_RISK], timings, args.shap_repeats
    )
    import pyarrow as pa

    scores = pa.table(
        {
            "customer_id": pa.array(scored.frame["customer_id"].astype(str).tolist(), pa.string()),
            "churn_risk": pa.array(scored.churn_risk, pa.float64()),
        }
    )
    _timed(
        "score: write customer_scores",
        timings,
        lambda: registry.write_scores(
            settings,
            "churn",
            record.version,
            registry.local_midnight(as_of, settings.timezone),
            scores,
            payload,
        ),
    )
    summary: dict[str, Any] = {
        "customers_generated": args.customers,
        "buyers_scored": len(scored.frame),
        "reasons_for": at_risk,
        "shap_vs_lightgbm": comparison,
        "timings_s": timings,
        "mean_churn_risk": float(np.mean(scored.churn_risk)),
        "versions": versions,
    }
    if args.score_only:
        print(versions)
        return summary
    pooled = result.report["pooled"]
    summary |= {
        "lightgbm_threads": args.threads or result.model.info_["params"]["num_threads"],
        "training_rows_final": result.metadata["training_rows"],
        "distinct_cutoffs": inside["cutoffs"],
        "pooled": {
            name: {k: pooled["scores"][name][k] for k in ("roc_auc", "pr_auc", "brier", "top_decile_lift")}
            for name in ("model", "bgnbd", "recency")
        },
        "pooled_churn_rate": pooled["churn_rate"],
        "pooled_customers": pooled["customers"],
    }
    print("\nbacktest, pooled over origins (ROC AUC / PR AUC / Brier / top-decile lift):")
    for name, values in summary["pooled"].items():
        print(
            f"  {name:<8} {values['roc_auc']:.4f} / {values['pr_auc']:.4f} / {values['brier']:.4f} / "
            f"{values['top_decile_lift']:.3f}"
        )
    print(versions)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--home", help="RETENTIO_HOME to build or reuse (default: a temporary directory)")
    parser.add_argument("--horizon-days", type=int, default=90)
    parser.add_argument("--origins", type=int, default=3)
    parser.add_argument("--train-cutoffs", type=int, default=4)
    parser.add_argument("--train-step-days", type=int, default=30)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="LightGBM threads (default: the model's own setting, 1; more only pays on an idle machine)",
    )
    parser.add_argument(
        "--shap-repeats",
        type=int,
        default=3,
        help="runs of each side of the SHAP comparison, alternating (medians reported)",
    )
    parser.add_argument("--json", help="write the summary as JSON to this file")
    parser.add_argument(
        "--score-only", action="store_true", help="skip training: score with the latest saved model"
    )
    args = parser.parse_args()
    summary = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
