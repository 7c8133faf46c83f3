"""Ingest end to end on a real store (SQLite and PostgreSQL): counts, rejects, idempotency."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retentio.app import App
from retentio.config import Settings
from retentio.errors import InputError
from retentio.ingest import IngestOptions, StrictRejected, ingest_file
from retentio.store.schema import Customer, Order, OrderLine

# A Russian 1C/Excel-style export: cp1251, ';', decimal comma, dd.mm.yyyy, Russian headers.
CUSTOMERS_1C = (
    "Код клиента;Фамилия;Имя;E-mail;Город;Дата регистрации;Согласие на рассылку\r\n"
    "К-001;Иванов;Иван;ivan@example.ru;Москва;01.02.2024;да\r\n"
    "К-002;Петрова;Анна;anna@example.ru;Санкт-Петербург;15.03.2024 10:30;нет\r\n"
    "К-003;Сидоров;Пётр;;Казань;20.03.2024;да\r\n"
)
ORDERS_1C = (
    "Номер заказа;Клиент;Дата;Сумма;Скидка;Статус;Комментарий\r\n"
    "1001;К-001;05.02.2024 12:00;1 234,50;0,00;Выполнен;ok\r\n"  # line 2
    "1002;К-002;31.02.2024;500,00;;Выполнен;bad date\r\n"  # line 3: bad date
    "1003;К-001;06.02.2024;abc;;Выполнен;non-numeric total\r\n"  # line 4
    ";К-001;07.02.2024;10,00;;Выполнен;missing id\r\n"  # line 5
    "1001;К-001;05.02.2024 12:00;1 234,50;0,00;Выполнен;duplicate id\r\n"  # line 6
    '1004;К-003;29.02.2024 23:30;99,90;;Отменён;"quoted\r\nnewline; with delimiter"\r\n'  # lines 7-8
    "1005;К-002;09.02.2024;12 000,00;100,00;Выполнен;ok\r\n"  # line 9
    "1006;К-999;10.02.2024;7,5;;Выполнен;unknown customer -> placeholder\r\n"  # line 10
)
LINES_1C = (
    "Заказ;Артикул;Количество;Цена;Наименование\r\n"
    "1001;SKU-1;2,000;617,25;Кофе в зёрнах\r\n"
    "1005;SKU-2;-1;12 000,00;Кофемолка\r\n"  # line 3: negative quantity
    "1005;SKU-3;1;12 000,00;Кофемашина\r\n"
    "7777;SKU-1;1;10,00;Кофе\r\n"  # line 5: unknown order
)
CUSTOMERS_MAP = {
    "customer_id": "Код клиента",
    "last_name": "Фамилия",
    "first_name": "Имя",
    "email": "E-mail",
    "city": "Город",
    "signup_at": "Дата регистрации",
    "consent_email": "Согласие на рассылку",
}
ORDERS_MAP = {
    "order_id": "Номер заказа",
    "customer_id": "Клиент",
    "ordered_at": "Дата",
    "total": "Сумма",
    "discount": "Скидка",
    "status": "Статус",
}
LINES_MAP = {
    "order_id": "Заказ",
    "sku": "Артикул",
    "quantity": "Количество",
    "unit_price": "Цена",
    "product_name": "Наименование",
}


@pytest.fixture
def export_1c(tmp_path: Path) -> Path:
    folder = tmp_path / "1c"
    folder.mkdir()
    (folder / "customers.csv").write_bytes(CUSTOMERS_1C.encode("cp1251"))
    (folder / "orders.csv").write_bytes(ORDERS_1C.encode("cp1251"))
    (folder / "order_lines.csv").write_bytes(LINES_1C.encode("cp1251"))
    return folder


def rejects(path: str | None) -> list[dict[str, str]]:
    assert path is not None
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def count(app: App, model: type) -> int:
    with Session(app.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_russian_1c_export_loads_good_rows_and_explains_bad_ones(
    app: App, settings: Settings, export_1c: Path
) -> None:
    customers = ingest_file(app, "customers", export_1c / "customers.csv", IngestOptions(CUSTOMERS_MAP))
    assert (customers.read, customers.loaded, customers.rejected) == (3, 3, 0)
    assert customers.encoding == "cp1251" and customers.delimiter == ";"

    orders = ingest_file(app, "orders", export_1c / "orders.csv", IngestOptions(ORDERS_MAP))
    assert (orders.read, orders.loaded, orders.updated, orders.unchanged, orders.rejected) == (8, 4, 0, 0, 4)
    assert orders.placeholders_created == 1
    assert orders.ignored_columns == ["Комментарий"]
    bad = {row["line"]: row for row in rejects(orders.rejects_file)}
    assert set(bad) == {"3", "4", "5", "6"}
    assert bad["3"]["reason"] == "ordered_at is not a valid calendar date/time"
    assert bad["3"]["column"] == "Дата"
    assert bad["4"]["reason"] == "total is not a number"
    assert bad["5"]["reason"] == "order_id is missing"
    assert bad["6"]["reason"] == "duplicate order_id 1001 (first on line 2)"
    assert bad["4"]["Сумма"] == "abc"  # original values travel with the reason

    lines = ingest_file(app, "order_lines", export_1c / "order_lines.csv", IngestOptions(LINES_MAP))
    assert (lines.read, lines.loaded, lines.rejected) == (4, 2, 2)
    bad_lines = {row["line"]: row["reason"] for row in rejects(lines.rejects_file)}
    assert bad_lines == {
        "3": "quantity must be greater than 0",
        "5": "order_id 7777 is not in the store (ingest its order first)",
    }

    with Session(app.engine) as session:
        order = session.get(Order, "1001")
        assert order is not None
        assert order.total_minor == 123450 and order.discount_minor == 0
        assert order.ordered_at == datetime(2024, 2, 5, 9, 0, tzinfo=UTC)  # 12:00 Moscow
        quoted = session.get(Order, "1004")
        assert quoted is not None and quoted.status == "cancelled"
        assert quoted.ordered_at == datetime(2024, 2, 29, 20, 30, tzinfo=UTC)
        placeholder = session.get(Customer, "К-999")
        assert placeholder is not None and placeholder.is_placeholder
        anna = session.get(Customer, "К-002")
        assert anna is not None and anna.consent_email is False and anna.city == "Санкт-Петербург"
        line = session.get(OrderLine, ("1001", "SKU-1"))
        assert line is not None and line.quantity == 2 and line.unit_price_minor == 61725

    # The same files again: nothing changes, every good row is reported unchanged.
    again = ingest_file(app, "orders", export_1c / "orders.csv", IngestOptions(ORDERS_MAP))
    assert (again.read, again.loaded, again.updated, again.unchanged, again.rejected) == (8, 0, 0, 4, 4)
    again_c = ingest_file(app, "customers", export_1c / "customers.csv", IngestOptions(CUSTOMERS_MAP))
    assert (again_c.loaded, again_c.updated, again_c.unchanged) == (0, 0, 3)
    assert count(app, Order) == 4


def test_changed_row_updates_and_placeholder_is_filled(
    app: App, settings: Settings, export_1c: Path, tmp_path: Path
) -> None:
    ingest_file(app, "customers", export_1c / "customers.csv", IngestOptions(CUSTOMERS_MAP))
    ingest_file(app, "orders", export_1c / "orders.csv", IngestOptions(ORDERS_MAP))
    changed = tmp_path / "orders2.csv"
    changed.write_text(
        "order_id,customer_id,ordered_at,total,status\n"
        "1001,К-001,2024-02-05T09:00:00Z,1300.00,completed\n"  # total changed
        "1005,К-002,2024-02-09,12000,completed\n"  # same values, other spelling
        "2000,К-001,2024-03-01,10,completed\n",  # new
        encoding="utf-8",
    )
    summary = ingest_file(app, "orders", changed)
    assert (summary.read, summary.loaded, summary.updated, summary.unchanged) == (3, 1, 1, 1)
    with Session(app.engine) as session:
        order = session.get(Order, "1001")
        assert order is not None and order.total_minor == 130000
        # The narrower file carried no discount column: the stored discount survives.
        assert order.discount_minor == 0
        order_1005 = session.get(Order, "1005")
        assert order_1005 is not None and order_1005.discount_minor == 10000

    filled = tmp_path / "c.csv"
    filled.write_text("customer_id,city\nК-999,Тверь\n", encoding="utf-8")
    summary = ingest_file(app, "customers", filled)
    assert (summary.loaded, summary.updated) == (1, 0)  # first real record of a placeholder counts as loaded
    with Session(app.engine) as session:
        customer = session.get(Customer, "К-999")
        assert customer is not None and not customer.is_placeholder and customer.city == "Тверь"


def test_strict_loads_nothing_when_a_row_is_bad(app: App, settings: Settings, export_1c: Path) -> None:
    with pytest.raises(StrictRejected) as caught:
        ingest_file(app, "orders", export_1c / "orders.csv", IngestOptions(ORDERS_MAP, strict=True))
    summary = caught.value.summary
    assert summary.rejected == 4 and summary.not_loaded_strict == 4 and summary.adds_up
    assert count(app, Order) == 0


def test_parquet_and_json_lines(app: App, settings: Settings, tmp_path: Path) -> None:
    pq.write_table(
        pa.table(
            {
                "customer_id": ["a", "b"],
                "signup_at": pa.array(
                    [datetime(2024, 1, 1, 12, tzinfo=UTC), None], pa.timestamp("us", "UTC")
                ),
                "consent_email": [True, False],
            }
        ),
        tmp_path / "customers.parquet",
    )
    summary = ingest_file(app, "customers", tmp_path / "customers.parquet")
    assert (summary.read, summary.loaded, summary.rejected) == (2, 2, 0)
    lines = [
        {"order_id": "o1", "customer_id": "a", "ordered_at": "2024-02-01T10:00:00+03:00", "total": 10.5},
        {"order_id": "o2", "customer_id": "b", "ordered_at": "not a date", "total": "1"},
    ]
    (tmp_path / "orders.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    summary = ingest_file(app, "orders", tmp_path / "orders.jsonl")
    assert (summary.read, summary.loaded, summary.rejected) == (2, 1, 1)
    assert rejects(summary.rejects_file)[0]["row"] == "2"
    with Session(app.engine) as session:
        customer = session.get(Customer, "a")
        assert customer is not None and customer.signup_at == datetime(2024, 1, 1, 12, tzinfo=UTC)
        order = session.get(Order, "o1")
        assert order is not None and order.total_minor == 1050
        assert order.ordered_at == datetime(2024, 2, 1, 7, tzinfo=UTC)


def test_unreadable_files_raise_one_clear_error(app: App, settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "orders.csv"
    missing.write_text("order_id,customer\n1,a\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing required columns customer_id, ordered_at, total"):
        ingest_file(app, "orders", missing)
    with pytest.raises(InputError, match="unknown table 'ordres'"):
        ingest_file(app, "ordres", missing)
    binary = tmp_path / "blob.csv"
    binary.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(InputError, match=r"encoding|binary"):
        ingest_file(app, "orders", binary)
    with pytest.raises(InputError, match="no such file"):
        ingest_file(app, "orders", tmp_path / "nope.csv")


def test_snapshot_follows_every_ingest(app: App, settings: Settings, export_1c: Path, tmp_path: Path) -> None:
    ingest_file(app, "customers", export_1c / "customers.csv", IngestOptions(CUSTOMERS_MAP))
    ingest_file(app, "orders", export_1c / "orders.csv", IngestOptions(ORDERS_MAP))
    update = tmp_path / "o.csv"
    update.write_text(
        "order_id,customer_id,ordered_at,total\n1001,К-001,05.02.2024 12:00,1\n", encoding="utf-8"
    )
    ingest_file(app, "orders", update)
    with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
        rows = con.execute(
            "select order_id, total, order_date::varchar, is_cancelled from orders order by order_id"
        ).fetchall()
        placeholders = con.execute("select customer_id from customers where is_placeholder").fetchall()
    assert rows == [
        ("1001", Decimal("1.00"), "2024-02-05", False),
        ("1004", Decimal("99.90"), "2024-02-29", True),  # 23:30 Moscow stays on the 29th
        ("1005", Decimal("12000.00"), "2024-02-09", False),
        ("1006", Decimal("7.50"), "2024-02-10", False),
    ]
    assert placeholders == [("К-999",)]


def test_a_folder_finds_tables_under_every_data_suffix(app: App, settings: Settings, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from retentio.ingest import ingest_directory

    folder = tmp_path / "exports"
    folder.mkdir()
    pq.write_table(pa.table({"customer_id": ["c1", "c2"]}), folder / "customers.pq")
    (folder / "orders.tsv").write_text(
        "order_id\tcustomer_id\tordered_at\ttotal\no1\tc1\t2024-01-05\t10\n", encoding="utf-8"
    )
    (folder / "reviews.ndjson").write_text(
        '{"review_id": "r1", "customer_id": "c2", "created_at": "2024-02-01", "rating": 5, "text": "ok"}\n',
        encoding="utf-8",
    )
    summaries = ingest_directory(app, folder)
    assert [(s.table, Path(s.source).name, s.loaded) for s in summaries] == [
        ("customers", "customers.pq", 2),
        ("orders", "orders.tsv", 1),
        ("reviews", "reviews.ndjson", 1),
    ]


def test_a_folder_loads_split_files_in_natural_order(app: App, settings: Settings, tmp_path: Path) -> None:
    from retentio.ingest import ingest_directory
    from retentio.ingest.service import table_files

    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "customers.csv").write_text("customer_id\nc1\nc2\n", encoding="utf-8")
    header = "order_id,customer_id,ordered_at,total\n"
    (folder / "orders-1.csv").write_text(header + "o1,c1,2024-01-05,10\n", encoding="utf-8")
    (folder / "orders-2.csv").write_text(header + "o2,c2,2024-01-06,20\n", encoding="utf-8")
    # The same order again in a later part: the later part wins (an update, not a duplicate).
    (folder / "orders-10.csv").write_text(header + "o1,c1,2024-01-05,15\n", encoding="utf-8")
    (folder / "orders-notes.txt").write_text("not data", encoding="utf-8")
    names = [p.name for p in table_files(folder, "orders")]
    assert names == ["orders-1.csv", "orders-2.csv", "orders-10.csv"]
    assert table_files(folder, "order_lines") == []

    summaries = ingest_directory(app, folder)
    assert [(s.table, Path(s.source).name) for s in summaries] == [
        ("customers", "customers.csv"),
        ("orders", "orders-1.csv"),
        ("orders", "orders-2.csv"),
        ("orders", "orders-10.csv"),
    ]
    assert (summaries[-1].loaded, summaries[-1].updated) == (0, 1)
    with Session(app.engine) as session:
        totals = {k: v for k, v in session.execute(select(Order.order_id, Order.total_minor))}
    assert totals == {"o1": 1500, "o2": 2000}
