"""The main job behind ``retentio demo``: data in, headline retention KPIs out.

Without ``--from`` it generates a demo shop under ``$RETENTIO_HOME/demo-shop`` (kept for the next
run when the seed and size match), ingests every table and reports the KPIs of the last twelve full
months against the twelve before. With ``--from DIR`` it does the same with the user's own
``<table>.csv|parquet|jsonl`` files. Later issues extend the report (models, loyalty, campaigns).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from retentio.errors import InputError
from retentio.i18n import translate
from retentio.ingest import ingest_directory

if TYPE_CHECKING:
    from retentio.app import App

console = Console(highlight=False)


def _generated_shop(app: App, customers: int, seed: int, quiet: bool) -> Path:
    from retentio.demo.generator import generate

    folder = app.settings.home / "demo-shop"
    meta_path = folder / "metadata.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("customers") == customers and meta.get("seed") == seed:
            return folder
    if not quiet:
        console.print(translate("demo.generating", app.settings.locale, customers=customers, seed=seed))
    generate(folder, customers=customers, seed=seed)
    return folder


def _segments(app: App, as_of: date) -> dict[str, Any]:
    """Create the default rule segments (VIP, at risk, new, sleeping) and refresh them at ``as_of``."""
    from retentio.segments.service import init_default_segments, refresh_all

    with app.session() as session:
        init_default_segments(session)
    result = refresh_all(app, as_of).as_dict()
    return {
        "as_of": as_of.isoformat(),
        "segments": [{"name": s["name"], "size": s["size"]} for s in result["segments"]],
        "share": result["share"],
        "customers": result["customers"],
    }


def _models(app: App, quiet: bool) -> dict[str, Any]:
    """Fit and score CLV (BG/NBD + Gamma-Gamma) and churn risk; list valuable customers at risk."""
    from retentio.models.churn.store import score_and_store, train_and_save
    from retentio.models.clv_service import run_clv

    if not quiet:
        console.print(translate("demo.models", app.settings.locale))
    clv = run_clv(app)
    training, record = train_and_save(app)
    scored = score_and_store(app, version=record.version)
    pooled = training.report.get("pooled", {})
    return {
        "clv": clv.to_dict(),
        "churn": {
            "version": record.version,
            "customers": scored.customers,
            "high_risk": scored.high_risk,
            "backtest": pooled,
        },
        "valuable_at_risk": _valuable_at_risk(app, limit=5),
    }


def _valuable_at_risk(app: App, limit: int) -> list[dict[str, Any]]:
    """The customers with the highest CLV among those with churn risk >= 0.5, with their reasons."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session, aliased

    from retentio.store.schema import CustomerScore

    churn, value = aliased(CustomerScore), aliased(CustomerScore)
    query = (
        select(churn.customer_id, churn.churn_risk, value.clv, churn.reasons)
        .join(value, (value.customer_id == churn.customer_id) & (value.model == "clv"))
        .where(churn.model == "churn", churn.churn_risk >= 0.5)
        .order_by(value.clv.desc(), churn.customer_id)
        .limit(limit)
    )
    with Session(app.engine) as session:
        rows = session.execute(query).all()
    return [
        {"customer_id": r[0], "churn_risk": r[1], "clv": r[2], "reasons": (r[3] or {}).get("reasons", [])}
        for r in rows
    ]


def _print_models(models: dict[str, Any], lang: str) -> None:
    table = Table(show_header=True, header_style="bold", title=translate("demo.at_risk", lang))
    table.add_column(translate("common.customer", lang))
    table.add_column("CLV", justify="right")
    table.add_column(translate("common.churn_risk", lang), justify="right")
    table.add_column(translate("common.reasons", lang))
    for row in models["valuable_at_risk"]:
        reasons = "; ".join(
            translate(r["key"], lang, **r.get("values", {})) for r in row["reasons"][:2] if "key" in r
        )
        table.add_row(
            row["customer_id"], _format_value("aov", row["clv"]), f"{row['churn_risk']:.0%}", reasons
        )
    console.print(table)


def headline_period(last_order: date) -> tuple[date, date]:
    """The twelve full months up to the month of the last order (inclusive)."""
    end = date(last_order.year + (last_order.month == 12), last_order.month % 12 + 1, 1)
    return date(end.year - 1, end.month, 1), end


def _format_value(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in ("net_revenue", "aov", "historical_clv"):
        return f"{Decimal(value):,.2f}".replace(",", "\u202f")
    if key == "nps":
        return f"{float(value):+.1f}"
    if key == "purchase_frequency":
        return f"{float(value):.2f}"
    return f"{float(value):.1%}"


HEADLINE = (
    "retention_rate",
    "churn_rate",
    "repeat_purchase_rate",
    "purchase_frequency",
    "aov",
    "net_revenue",
    "nrr",
    "historical_clv",
    "nps",
    "csat",
)


def run_demo(
    app: App,
    source: Path | None = None,
    customers: int = 20_000,
    seed: int = 42,
    quiet: bool = False,
) -> dict[str, Any]:
    """Run the demo end to end; returns the report (also printed unless ``quiet``)."""
    from retentio.analytics.kpis import compute_kpis
    from retentio.analytics.tables import AnalyticsTables

    if source is not None and not source.is_dir():
        raise InputError(f"--from {source}: not a directory")
    folder = source if source is not None else _generated_shop(app, customers, seed, quiet)
    app.upgrade()  # the demo sets up its store: create it, or migrate one made by an older version
    summaries = ingest_directory(app, folder)
    rows = sum(s.read for s in summaries)
    rejected = sum(s.rejected for s in summaries)
    con = app.analytics_connection()
    tables = AnalyticsTables.from_backend(con)
    last = tables.orders.order_date.max().execute()
    if last is None:
        raise InputError(f"{folder} holds no orders: nothing to report")
    start, end = headline_period(last if isinstance(last, date) else last.date())
    kpis = compute_kpis(tables, start, end, app.settings.active_window_days)
    con.disconnect()
    models = _models(app, quiet)
    segments = _segments(app, end)
    report = {
        "source": str(folder),
        "ingest": [asdict(s) for s in summaries],
        "kpis": kpis,
        "models": models,
        "segments": segments,
    }
    if not quiet:
        lang = app.settings.locale
        console.print(translate("demo.loaded", lang, rows=rows, tables=len(summaries), rejected=rejected))
        console.print(translate("demo.period", lang, start=start.isoformat(), end=end.isoformat()))
        table = Table(show_header=True, header_style="bold")
        table.add_column(translate("common.kpi", lang))
        table.add_column(translate("common.value", lang), justify="right")
        table.add_column(translate("common.previous", lang), justify="right")
        table.add_column(translate("common.counts", lang), justify="right")
        previous = kpis.get("previous", {})
        table.add_row(
            translate("kpi.active_customers", lang),
            f"{kpis['S']:,} → {kpis['E']:,}",
            f"{previous.get('S', 0):,} → {previous.get('E', 0):,}",
            "",
        )
        table.add_row(translate("kpi.new_customers", lang), f"{kpis['N']:,}", f"{previous.get('N', 0):,}", "")
        for key in HEADLINE:
            counts = kpis.get("counts", {}).get(key, {})
            basis = ""
            if "customers" in counts:
                basis = f"n = {counts['customers']:,}"
            elif "denominator" in counts and counts["denominator"] not in (None, 0):
                if isinstance(counts["numerator"], int):
                    basis = f"{counts['numerator']:,} / {counts['denominator']:,}"
                else:  # money over a count: the count is what tells how solid it is
                    basis = f"n = {counts['denominator']:,}"
            elif "responses" in counts:
                basis = f"n = {counts['responses']:,}"
            table.add_row(
                translate(f"kpi.{key}", lang),
                _format_value(key, kpis.get(key)),
                _format_value(key, previous.get(key)),
                basis,
            )
        console.print(table)
        seg_table = Table(show_header=True, header_style="bold", title=translate("demo.segments", lang))
        seg_table.add_column(translate("common.segment", lang))
        seg_table.add_column(translate("common.customers", lang), justify="right")
        for item in segments["segments"]:
            seg_table.add_row(item["name"], f"{item['size']:,}")
        console.print(seg_table)
        _print_models(models, lang)
        share = segments.get("share")
        if share is not None:
            console.print(translate("demo.segment_share", lang, share=share))
        console.print(translate("demo.next", lang, as_of=end.isoformat()))
    return report
