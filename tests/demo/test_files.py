"""The generated files: contract columns, formats, keys, references, arithmetic, determinism, CLI."""

from __future__ import annotations

import csv
import re
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from demo_shop import SHOP_CUSTOMERS, Shop

from retentio.app import App
from retentio.contract import TABLES, Kind
from retentio.demo.generator import generate
from retentio.errors import UserError

MONEY = re.compile(r"^\d+\.\d{2}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ID_FORMATS = {
    "customer_id": r"^C\d{7}$",
    "order_id": r"^O\d{9}$",
    "refund_id": r"^R\d{9}$",
    "event_id": r"^E\d{11}$",
    "review_id": r"^RV\d{8}$",
    "ticket_id": r"^T\d{8}$",
    "response_id": r"^SR\d{9}$",
}


def test_every_table_has_exactly_the_contract_columns_and_required_values(shop: Shop) -> None:
    for name, spec in TABLES.items():
        with (shop.path / f"{name}.csv").open(encoding="utf-8", newline="") as f:
            assert next(csv.reader(f)) == list(spec.names), name
        table = shop.table(name)
        assert table.num_rows == shop.metadata["rows"][name] > 0, name
        for column in spec.columns:
            values = table[column.name]
            if column.required:
                assert values.null_count == 0, f"{name}.{column.name} has empty values"
            pattern = ID_FORMATS.get(column.name) if column.kind is Kind.ID else None
            pattern = {Kind.MONEY: MONEY, Kind.TIMESTAMP: TIMESTAMP, Kind.DATE: DATE}.get(
                column.kind, pattern
            )
            if column.kind is Kind.BOOL:
                pattern = re.compile("^(true|false)$")
            if pattern is not None:
                regex = pattern if isinstance(pattern, str) else pattern.pattern
                ok = pc.match_substring_regex(values.drop_null(), regex)
                assert pc.all(ok).as_py() in (True, None), f"{name}.{column.name} badly formatted"


def test_optional_columns_are_filled(shop: Shop) -> None:
    for name, spec in TABLES.items():
        table = shop.table(name)
        for column in spec.columns:
            assert table[column.name].null_count < table.num_rows, f"{name}.{column.name} never filled"


def test_keys_are_unique_and_references_resolve(shop: Shop) -> None:
    customers = {r["customer_id"] for r in shop.rows("customers")}
    assert len(customers) == SHOP_CUSTOMERS
    orders = {r["order_id"]: r for r in shop.rows("orders")}
    assert len(orders) == shop.metadata["rows"]["orders"]
    assert all(o["customer_id"] in customers for o in orders.values())
    line_keys = [(r["order_id"], r["sku"]) for r in shop.rows("order_lines")]
    assert len(set(line_keys)) == len(line_keys)
    assert {o for o, _ in line_keys} == set(orders)  # every order has lines, every line an order
    refunds = shop.rows("refunds")
    assert len({r["refund_id"] for r in refunds}) == len(refunds)
    for r in refunds:
        assert orders[r["order_id"]]["status"] == "completed"
    customer_set = pa.array(sorted(customers))
    for table, key in (("events", "event_id"), ("reviews", "review_id"), ("tickets", "ticket_id"),
                       ("survey_responses", "response_id")):  # fmt: skip
        rows = shop.table(table)
        assert pc.count_distinct(rows[key]).as_py() == rows.num_rows, table
        assert pc.all(pc.is_in(rows["customer_id"], value_set=customer_set)).as_py(), table
    line_set = set(line_keys)
    for review in shop.rows("reviews"):
        order = orders[review["order_id"]]
        assert order["customer_id"] == review["customer_id"]
        assert review["created_at"] > order["ordered_at"]
        # A review names a product of the order it reviews.
        assert not review.get("sku") or (review["order_id"], review["sku"]) in line_set, review


def test_totals_add_up_exactly_and_refunds_fit_their_orders(shop: Shop) -> None:
    merchandise: dict[str, Decimal] = defaultdict(Decimal)
    lines_by_order: dict[str, set[str]] = defaultdict(set)
    for line in shop.rows("order_lines"):
        assert int(line["quantity"]) >= 1
        assert Decimal(line["unit_cost"]) < Decimal(line["unit_price"])
        merchandise[line["order_id"]] += int(line["quantity"]) * Decimal(line["unit_price"])
        lines_by_order[line["order_id"]].add(line["sku"])
    orders = {o["order_id"]: o for o in shop.rows("orders")}
    for order_id, o in orders.items():
        expected = merchandise[order_id] - Decimal(o["discount"]) + Decimal(o["shipping"])
        assert Decimal(o["total"]) == expected, order_id
        assert o["currency"] == "RUB" and o["status"] in ("completed", "cancelled")
    later_month = 0
    refunds = shop.rows("refunds")
    for r in refunds:
        order = orders[r["order_id"]]
        assert Decimal("0") < Decimal(r["amount"]) <= Decimal(order["total"])
        assert r["refunded_at"] > order["ordered_at"]
        later_month += r["refunded_at"][:7] != order["ordered_at"][:7]
        if r["sku"] is not None:
            assert r["sku"] in lines_by_order[r["order_id"]] and int(r["quantity"]) >= 1
    assert later_month / len(refunds) > 0.3  # refunds often land in a later month than the sale
    assert any(r["sku"] is None for r in refunds) and any(r["sku"] is not None for r in refunds)


def test_discounts_coupons_and_shipping_appear_on_some_orders(shop: Shop) -> None:
    orders = shop.rows("orders")
    n = len(orders)
    with_coupon = sum(o["coupon_code"] is not None for o in orders) / n
    discounted = sum(Decimal(o["discount"]) > 0 for o in orders) / n
    shipped = sum(Decimal(o["shipping"]) > 0 for o in orders) / n
    assert 0.05 < with_coupon < 0.3
    assert with_coupon <= discounted < 0.4
    assert 0.2 < shipped < 0.7
    assert any((o["coupon_code"] or "").startswith("BF") for o in orders)


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", 250, 7)
    generate(tmp_path / "b", 250, 7)
    generate(tmp_path / "c", 250, 8)
    for name in [*TABLES, "metadata"]:
        suffix = "json" if name == "metadata" else "csv"
        a = (tmp_path / "a" / f"{name}.{suffix}").read_bytes()
        assert a == (tmp_path / "b" / f"{name}.{suffix}").read_bytes(), name
    assert (tmp_path / "a" / "orders.csv").read_bytes() != (tmp_path / "c" / "orders.csv").read_bytes()
    assert first["seed"] == 7 and first["customers"] == 250


def test_parquet_output_has_typed_columns(tmp_path: Path) -> None:
    meta = generate(tmp_path, 200, 1, fmt="parquet")
    orders = pq.read_table(tmp_path / "orders.parquet")
    assert orders.num_rows == meta["rows"]["orders"]
    assert str(orders.schema.field("total").type) == "decimal128(18, 2)"
    assert str(orders.schema.field("ordered_at").type) == "timestamp[us, tz=UTC]"
    assert orders.schema.names == list(TABLES["orders"].names)


def test_custom_period_is_respected(tmp_path: Path) -> None:
    from datetime import date

    meta = generate(tmp_path, 300, 5, start=date(2024, 3, 1), end=date(2024, 8, 31))
    assert (meta["start"], meta["end"]) == ("2024-03-01", "2024-08-31")
    with (tmp_path / "orders.csv").open(encoding="utf-8") as f:
        times = [row["ordered_at"] for row in csv.DictReader(f)]
    # Moscow is UTC+3: the period's first local midnight is 21:00 UTC the day before.
    assert min(times) >= "2024-02-29T21:00:00+00:00" and max(times) < "2024-08-31T21:00:00+00:00"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 0}, "--customers"),
        ({"seed": -1}, "--seed"),
        ({"fmt": "xml"}, "--format"),
    ],
)
def test_bad_arguments_raise_user_errors(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"customers": 10, "seed": 1, "fmt": "csv", **kwargs}
    with pytest.raises(UserError, match=message):
        generate(tmp_path, args["customers"], args["seed"], fmt=str(args["fmt"]))  # type: ignore[arg-type]


def _cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run ``retentio ARGS`` in-process through the real entry point (with its error boundary)."""
    from retentio.cli.app import main

    monkeypatch.setattr(sys, "argv", ["retentio", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_the_files_and_reports_bad_input_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    code, stdout, stderr = _cli(
        monkeypatch, capsys, "generate", "--customers", "120", "--seed", "3", "--out", str(out)
    )
    assert code == 0, stderr
    assert all((out / f"{t}.csv").is_file() for t in TABLES) and (out / "metadata.json").is_file()
    assert "orders" in stdout
    code, _, stderr = _cli(
        monkeypatch, capsys, "generate", "--customers", "10", "--out", str(out), "--start", "2025-02-30"
    )
    assert code == 2
    assert stderr.strip().count("\n") == 0 and "--start" in stderr and "Traceback" not in stderr
    code, _, stderr = _cli(
        monkeypatch, capsys, "generate", "--out", str(out), "--start", "2025-01-01", "--end", "2024-01-01"
    )
    assert code == 2 and "before" in stderr


def test_large_tables_are_split_into_parts_that_a_folder_ingest_loads_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from retentio.config import Settings
    from retentio.demo import output
    from retentio.ingest import ingest_directory

    monkeypatch.setattr(output, "MAX_ROWS_PER_FILE", 2_000)
    meta = generate(tmp_path / "shop", customers=300, seed=3)
    files = json.loads((tmp_path / "shop" / "metadata.json").read_text())["files"]
    assert files["customers"] == ["customers.csv"]
    assert len(files["events"]) >= 3 and files["events"][:2] == ["events.csv", "events-2.csv"]
    for table, names in files.items():
        assert sorted(p.name for p in (tmp_path / "shop").glob(f"{table}[.-]*csv")) == sorted(names)
    summaries = ingest_directory(App(Settings(home=tmp_path / "home")), tmp_path / "shop")
    loaded: dict[str, int] = defaultdict(int)
    for summary in summaries:
        assert summary.rejected == 0
        loaded[summary.table] += summary.loaded
    assert dict(loaded) == meta["rows"]
