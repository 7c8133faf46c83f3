"""Refunds must fit their order: not before it, only its SKUs, in total at most its total."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retentio.app import App
from retentio.config import Settings
from retentio.ingest import IngestOptions, StrictRejected, ingest_file
from retentio.store.schema import Order, Refund

ORDERS = """order_id,customer_id,ordered_at,total
o1,c1,2024-01-10T10:00:00,100.00
o2,c1,2024-01-10T10:00:00,50.00
o3,c2,2024-01-10T10:00:00,80.00
"""
LINES = """order_id,sku,quantity,unit_price
o1,SKU-A,1,60.00
o1,SKU-B,1,40.00
o2,SKU-C,1,50.00
"""
REFUNDS = """refund_id,order_id,refunded_at,amount,sku
r1,o1,2024-01-11T10:00:00,60.00,SKU-A
r2,o1,2024-01-12T10:00:00,50.00,
r3,o1,2024-01-12T10:00:00,40.00,SKU-B
r4,o2,2024-01-10T09:59:59,10.00,
r5,o2,2024-01-11T10:00:00,10.00,SKU-A
r6,o3,2024-01-11T10:00:00,20.00,ANY
r7,o2,2024-01-11T10:00:00,60.00,
r8,o2,2024-01-10T10:00:00,50.00,SKU-C
"""


def load(settings: Settings, tmp_path: Path, table: str, text: str, name: str | None = None) -> Path:
    path = tmp_path / f"{name or table}.csv"
    path.write_text(text, encoding="utf-8")
    return path


def refunds_by_order(app: App) -> dict[str, int]:
    with Session(app.engine) as session:
        rows = session.execute(
            select(Refund.order_id, func.sum(Refund.amount_minor)).group_by(Refund.order_id)
        ).all()
    return {order_id: int(total) for order_id, total in rows}


def order_totals(app: App) -> dict[str, int]:
    with Session(app.engine) as session:
        return {o: int(t) for o, t in session.execute(select(Order.order_id, Order.total_minor)).all()}


def test_impossible_refunds_are_rejected_with_a_reason(app: App, settings: Settings, tmp_path: Path) -> None:
    ingest_file(app, "orders", load(settings, tmp_path, "orders", ORDERS))
    ingest_file(app, "order_lines", load(settings, tmp_path, "order_lines", LINES))
    rejects = tmp_path / "rejects.csv"
    summary = ingest_file(app, "refunds", load(settings, tmp_path, "refunds", REFUNDS), rejects_path=rejects)
    assert (summary.read, summary.loaded, summary.rejected) == (8, 4, 4)
    assert summary.adds_up
    rows = {r["refund_id"]: r for r in csv.DictReader(rejects.open(encoding="utf-8-sig"))}
    assert set(rows) == {"r2", "r4", "r5", "r7"}
    assert rows["r2"]["line"] == "3" and rows["r2"]["column"] == "amount"
    assert "more than its total 100.00" in rows["r2"]["reason"]
    assert rows["r4"]["column"] == "refunded_at" and "before order o2" in rows["r4"]["reason"]
    assert rows["r5"]["column"] == "sku" and "SKU-A is not on order o2" in rows["r5"]["reason"]
    assert rows["r7"]["column"] == "amount"
    # r6: o3 has no lines loaded, so its SKU cannot be checked; r8 at the very second of its order.
    refunded = refunds_by_order(app)
    assert refunded == {"o1": 10000, "o2": 5000, "o3": 2000}
    totals = order_totals(app)
    assert all(refunded[o] <= totals[o] for o in refunded)

    # Loading the same file again is idempotent: its own refunds are not counted twice.
    again = ingest_file(app, "refunds", tmp_path / "refunds.csv")
    assert (again.loaded, again.unchanged, again.rejected) == (0, 4, 4)

    # Refunds already stored count: o1 is fully refunded, a further cent is too much. Replacing a
    # stored refund (same refund_id) counts its new amount, not both.
    later = load(
        settings,
        tmp_path,
        "refunds",
        "refund_id,order_id,refunded_at,amount\n"
        "r1,o1,2024-01-11T10:00:00,50.00\n"
        "r9,o1,2024-02-01T10:00:00,10.00\n"
        "r10,o1,2024-02-02T10:00:00,0.01\n",
        name="refunds-2",
    )
    summary = ingest_file(app, "refunds", later)
    assert (summary.loaded, summary.updated, summary.rejected) == (1, 1, 1)
    assert refunds_by_order(app)["o1"] == 10000


def test_strict_refuses_a_refund_larger_than_its_order(app: App, settings: Settings, tmp_path: Path) -> None:
    ingest_file(app, "orders", load(settings, tmp_path, "orders", ORDERS))
    path = load(
        settings, tmp_path, "refunds", "refund_id,order_id,refunded_at,amount\nr1,o2,2024-01-11,50.01\n"
    )
    try:
        ingest_file(app, "refunds", path, IngestOptions(strict=True))
    except StrictRejected as exc:
        assert exc.summary.rejected == 1
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("a refund larger than its order was loaded under --strict")
    assert refunds_by_order(app) == {}
