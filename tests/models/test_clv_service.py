"""CLV against a real store: evaluate, fit, score and the ``retentio clv`` commands.

One generated demo shop (3,000 customers, BG/NBD purchases and Gamma-Gamma spend with known true
parameters) is ingested once per module into a temporary SQLite store; the numbers are checked against
direct DuckDB counts on the snapshot and against the pandas BTYD summary of the raw orders. The
PostgreSQL test ingests a smaller shop into both backends and compares what scoring wrote.
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from retentio.analytics.render import to_json
from retentio.app import App
from retentio.config import Settings
from retentio.models import BetaGeo, clv, summary_from_transactions
from retentio.models.clv_service import evaluate_clv, fit_clv, load_clv_model, run_clv, score_clv
from retentio.models.clv_service.core import DAYS_PER_MONTH
from retentio.models.clv_service.service import analytics_tables
from retentio.models.registry import ModelNotFound, load_model, local_midnight
from retentio.store.db import data_version
from retentio.store.schema import CustomerScore

SHOP_CUSTOMERS = 3_000
SHOP_SEED = 20_050_101
# Not a December calibration end: right after the generator's Nov-Dec peak, calendar recency understates
# the (seasonally warped) time a customer has been silent and every model over-predicts the next year by
# ~30 % (measured; see the report of ``retentio clv evaluate``). Late summer is neutral.
CALIBRATION_END = date(2024, 8, 31)
HOLDOUT_END = date(2025, 8, 31)
TABLES = ("customers", "orders", "refunds")
BUYERS_BEFORE = (
    "SELECT count(DISTINCT customer_id) FROM orders WHERE NOT is_cancelled AND order_date < DATE '{day}'"
)


@dataclass(frozen=True)
class Shop:
    settings: Settings
    app: App
    metadata: dict[str, Any]
    orders: pd.DataFrame  # non-cancelled orders of the snapshot: customer_id, order_date, total

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.settings.snapshot_path), read_only=True) as con:
            return con.execute(query).fetchall()


def build_shop(root: Path, customers: int, seed: int, database_url: str | None = None) -> Shop:
    from retentio.demo.generator import generate
    from retentio.ingest import ingest_file

    data = root / "data"
    if not (data / "metadata.json").exists():
        generate(data, customers, seed)
    settings = Settings(home=root / ("home-pg" if database_url else "home"), database_url=database_url)
    app = App(settings)
    for table in TABLES:  # the CLV models read only these; events etc. would only slow the fixture
        ingest_file(app, table, data / f"{table}.csv")
    with analytics_tables(app) as tables:
        orders = tables.orders.filter(~tables.orders.is_cancelled).select(
            "customer_id", "order_date", "total"
        )
        frame = orders.to_pandas()
    frame["total"] = frame["total"].astype(float)
    return Shop(settings, app, json.loads((data / "metadata.json").read_text(encoding="utf-8")), frame)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    return build_shop(tmp_path_factory.mktemp("clv-shop"), SHOP_CUSTOMERS, SHOP_SEED)


@pytest.fixture(scope="module")
def evaluation(shop: Shop) -> dict[str, Any]:
    with analytics_tables(shop.app) as tables:
        return evaluate_clv(tables, CALIBRATION_END, HOLDOUT_END, models="all")


def pandas_summary(shop: Shop, calibration_end: date, observation_end: date | None = None) -> pd.DataFrame:
    """The plain pandas BTYD summary of the raw orders: an independent route to the model inputs."""
    o = shop.orders
    return summary_from_transactions(
        o["customer_id"], o["order_date"], o["total"], calibration_end, observation_end=observation_end
    )


def stored_scores(app: App) -> dict[str, CustomerScore]:
    with app.read_session() as session:
        rows = session.scalars(select(CustomerScore).where(CustomerScore.model == "clv")).all()
        return {row.customer_id: row for row in rows}


def run_cli(capsys: pytest.CaptureFixture[str], settings: Settings, *args: str) -> tuple[int, str, str]:
    """``retentio ARGS`` in-process through the real entry point (its error boundary included)."""
    from retentio.cli.app import main

    code: Any = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETENTIO_HOME", str(settings.home))
        if settings.database_url:
            patch.setenv("RETENTIO_DATABASE_URL", settings.database_url)
        else:
            patch.delenv("RETENTIO_DATABASE_URL", raising=False)
        patch.setattr(sys, "argv", ["retentio", *args])
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    captured = capsys.readouterr()
    return int(code or 0), captured.out, captured.err


# --- evaluate --------------------------------------------------------------------------------------


def test_evaluate_totals_add_up_and_match_a_direct_count(shop: Shop, evaluation: dict[str, Any]) -> None:
    cal, end = CALIBRATION_END.isoformat(), HOLDOUT_END.isoformat()
    ((holdout, calibration, customers),) = shop.sql(
        f"""WITH d AS (SELECT DISTINCT customer_id, order_date FROM orders
                       WHERE NOT is_cancelled AND order_date <= DATE '{end}'),
                 f AS (SELECT customer_id, min(order_date) AS first_day FROM d GROUP BY 1
                       HAVING min(order_date) <= DATE '{cal}')
            SELECT count(*) FILTER (WHERE order_date > DATE '{cal}'),
                   count(*) FILTER (WHERE order_date <= DATE '{cal}' AND order_date > first_day),
                   (SELECT count(*) FROM f)
            FROM d JOIN f USING (customer_id)"""
    )
    assert holdout > 1000 and customers > 1000
    assert evaluation["customers"] == customers
    assert evaluation["holdout_repeat_purchases"] == holdout
    assert evaluation["calibration_repeat_purchases"] == calibration
    assert [m["model"] for m in evaluation["models"]] == ["bgnbd", "mbgnbd", "pareto"]
    for model in evaluation["models"]:
        report = model["holdout"]
        assert report["actual"] == holdout
        buckets = report["buckets"]
        assert [b["frequency"] for b in buckets] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
        assert sum(b["customers"] for b in buckets) == customers
        assert sum(b["actual"] for b in buckets) == holdout
        assert sum(b["predicted"] for b in buckets) == pytest.approx(report["predicted"], rel=1e-12)
        assert report["error"] == pytest.approx(report["predicted"] - holdout)
        assert 0 < report["mae"] <= report["rmse"]
        # The models are near the truth, so the holdout forecast is close (seasonality is outside them).
        assert abs(report["relative_error"]) < 0.25
        assert model["loglik"] < 0 and set(model["params"]) == set(model["se"])


def test_evaluate_fit_and_predictions_equal_the_pandas_route(shop: Shop, evaluation: dict[str, Any]) -> None:
    summary = pandas_summary(shop, CALIBRATION_END, HOLDOUT_END)
    model = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    bgnbd = evaluation["models"][0]
    for name, value in model.params_.items():
        assert bgnbd["params"][name] == pytest.approx(value, rel=1e-8)
    predicted = model.conditional_expected_purchases(
        summary["holdout_duration"].iloc[0], summary["frequency"], summary["recency"], summary["T"]
    )
    assert bgnbd["holdout"]["predicted"] == pytest.approx(float(np.sum(predicted)), rel=1e-8)
    assert bgnbd["holdout"]["actual"] == int(summary["holdout_frequency"].sum())


def test_tracking_series_is_cumulative_and_ends_at_the_totals(shop: Shop, evaluation: dict[str, Any]) -> None:
    tracking = evaluation["tracking"]
    weeks = len(tracking["week"])
    first = date.fromisoformat(tracking["origin"])
    assert tracking["week"] == list(range(1, weeks + 1))
    assert date.fromisoformat(tracking["week_end"][0]) == first + timedelta(days=6)
    assert tracking["week_end"][-1] == HOLDOUT_END.isoformat()
    assert weeks == -(-((HOLDOUT_END - first).days + 1) // 7)
    actual = tracking["actual_cumulative"]
    assert all(b >= a for a, b in itertools.pairwise(actual))
    assert actual[-1] == evaluation["calibration_repeat_purchases"] + evaluation["holdout_repeat_purchases"]
    switch = tracking["in_holdout"].index(True)
    assert not any(tracking["in_holdout"][:switch]) and all(tracking["in_holdout"][switch:])
    assert tracking["week_end"][switch - 1] <= CALIBRATION_END.isoformat() < tracking["week_end"][switch]
    assert set(tracking["predicted_cumulative"]) == {"bgnbd", "mbgnbd", "pareto"}
    # Prediction at the end = Σ over customers of E[X(time since their first purchase)].
    summary = pandas_summary(shop, CALIBRATION_END)
    model = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    since_first = summary["T"] + (HOLDOUT_END - CALIBRATION_END).days / 7.0
    expected = float(np.sum(model.expected_purchases(since_first.to_numpy())))
    assert tracking["predicted_cumulative"]["bgnbd"][-1] == pytest.approx(expected, rel=1e-8)
    assert len(tracking["predicted_cumulative"]["pareto"]) == weeks


# --- fit and score ---------------------------------------------------------------------------------


def test_fit_recovers_the_generators_parameters(shop: Shop) -> None:
    """Loose tolerances on purpose: the generator draws purchases in seasonally warped weeks (±80 %
    peak), cancels 3 % of orders and merges same-day orders, none of which BG/NBD models; on other seeds
    the estimates stayed within ~15 % (r, alpha) and ~25 % (a, b, whose standard errors are large)."""
    result = fit_clv(shop.app, model="bgnbd")
    truth = shop.metadata["true_params"]
    params = result.transaction["params"]
    assert params["r"] == pytest.approx(truth["r"], rel=0.25)
    assert params["alpha"] == pytest.approx(truth["alpha"], rel=0.25)
    assert params["a"] == pytest.approx(truth["a"], rel=0.4)
    assert params["b"] == pytest.approx(truth["b"], rel=0.4)
    # Gamma-Gamma's p and v trade off against each other; the mean spend p v / (q − 1) is well pinned.
    true_mean_spend = truth["p"] * truth["v"] / (truth["q"] - 1.0)
    assert result.spend["mean_spend"] == pytest.approx(true_mean_spend, rel=0.15)
    assert result.spend["params"]["q"] == pytest.approx(truth["q"], rel=0.25)
    # The generator draws spend independently of the purchase rate: the check must say so.
    assert abs(result.correlation["pearson"]) < 0.1 and result.correlation["independent"] is True

    ((last_day,),) = shop.sql("SELECT max(order_date) FROM orders WHERE NOT is_cancelled")
    assert result.as_of == last_day + timedelta(days=1)
    assert result.calibration_end == last_day
    record = load_model(shop.app, "clv", result.version)
    meta = record.metadata
    assert meta["transaction"]["params"] == params and meta["transaction"]["se"] == result.transaction["se"]
    assert meta["transaction"]["n_customers"] == result.transaction["n_customers"] > 2500
    assert meta["transaction"]["loglik"] == result.transaction["loglik"]
    assert meta["as_of"] == result.as_of.isoformat() and meta["transaction_model"] == "bgnbd"
    with shop.app.session() as session:
        assert meta["data_version"] == data_version(session)
    assert record.as_of == local_midnight(result.as_of, shop.settings.timezone)


def test_score_writes_one_row_per_buyer_with_sane_values(shop: Shop) -> None:
    result = run_clv(shop.app, model="bgnbd")
    as_of = result.score.as_of
    rows = stored_scores(shop.app)
    ((buyers,),) = shop.sql(BUYERS_BEFORE.format(day=as_of))
    assert len(rows) == buyers == result.score.customers
    stamp = local_midnight(as_of, shop.settings.timezone)
    assert all(r.model_version == result.fit.version and r.as_of == stamp for r in rows.values())
    p_alive = np.array([r.p_alive for r in rows.values()])
    values = np.array([r.clv for r in rows.values()])
    assert np.all((p_alive >= 0) & (p_alive <= 1)) and np.all(values >= 0)
    assert float(values.sum()) == pytest.approx(float(result.score.clv_total), abs=0.01)

    # Every stored value equals the BTYD package's own CLV on the pandas summary of the raw orders.
    summary = pandas_summary(shop, as_of - timedelta(days=1))
    model, _ = load_clv_model(shop.app, result.fit.version)
    expected = clv(
        model.transaction,
        summary["frequency"],
        summary["recency"],
        summary["T"],
        summary["monetary"],
        12,
        0.01,
        DAYS_PER_MONTH / 7.0,
        spend_model=model.spend,
    )
    stored = np.array([rows[str(i)].clv for i in summary.index])
    np.testing.assert_allclose(stored, expected, rtol=1e-9)
    alive = model.transaction.probability_alive(summary["frequency"], summary["recency"], summary["T"])
    np.testing.assert_allclose([rows[str(i)].p_alive for i in summary.index], alive, rtol=1e-12)
    # r < 1 here, so one-time buyers have no finite expected wait: no date; everyone else has one.
    one_time = summary["frequency"].to_numpy() == 0
    has_date = np.array([rows[str(i)].next_order_at is not None for i in summary.index])
    assert model.transaction.params_["r"] < 1
    np.testing.assert_array_equal(has_date, ~one_time)
    assert result.score.one_time_buyers == int(one_time.sum())
    assert all(r.next_order_at > stamp for r in rows.values() if r.next_order_at is not None)
    # `run` is `fit` then `score`: scoring the saved version again writes the same values.
    score_clv(shop.app, version=result.fit.version, as_of=as_of)
    again = stored_scores(shop.app)
    assert {k: (r.clv, r.p_alive, r.next_order_at) for k, r in again.items()} == {
        k: (r.clv, r.p_alive, r.next_order_at) for k, r in rows.items()
    }


def test_rescoring_replaces_the_rows(shop: Shop) -> None:
    first = score_clv(shop.app)
    before = {k: (r.clv, r.p_alive, r.next_order_at) for k, r in stored_scores(shop.app).items()}
    again = score_clv(shop.app)
    after = {k: (r.clv, r.p_alive, r.next_order_at) for k, r in stored_scores(shop.app).items()}
    assert after == before and again.customers == first.customers == len(after)

    earlier = date(2025, 6, 1)
    summary = score_clv(shop.app, as_of=earlier)
    rows = stored_scores(shop.app)
    ((buyers,),) = shop.sql(BUYERS_BEFORE.format(day=earlier))
    assert len(rows) == buyers == summary.customers < len(before)
    assert {r.as_of for r in rows.values()} == {local_midnight(earlier, shop.settings.timezone)}


def test_scoring_uses_the_requested_version(shop: Shop) -> None:
    old = fit_clv(shop.app, model="bgnbd")
    new = fit_clv(shop.app, model="mbgnbd", horizon_months=6, discount_rate=0.02)
    assert new.version == old.version + 1
    latest = score_clv(shop.app)
    assert (latest.version, latest.transaction_model, latest.horizon_months) == (new.version, "mbgnbd", 6)
    assert latest.discount_rate == 0.02
    assert {r.model_version for r in stored_scores(shop.app).values()} == {new.version}
    chosen = score_clv(shop.app, version=old.version)
    assert (chosen.version, chosen.transaction_model, chosen.horizon_months) == (old.version, "bgnbd", 12)
    assert {r.model_version for r in stored_scores(shop.app).values()} == {old.version}
    # A longer horizon (given explicitly) can only add value.
    longer = score_clv(shop.app, version=old.version, horizon_months=24)
    assert longer.clv_total > chosen.clv_total
    with pytest.raises(ModelNotFound):
        score_clv(shop.app, version=new.version + 100)


# --- the commands ----------------------------------------------------------------------------------


def test_cli_evaluate_json_is_the_api_document(
    shop: Shop, evaluation: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys,
        shop.settings,
        "clv", "evaluate", "--calibration-end", CALIBRATION_END.isoformat(),
        "--holdout-end", HOLDOUT_END.isoformat(), "--model", "bgnbd", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    assert set(document) == {
        "calibration_end", "holdout_end", "unit_days", "holdout_length", "customers",
        "calibration_repeat_purchases", "holdout_repeat_purchases", "models", "tracking",
    }  # fmt: skip
    assert set(document["tracking"]) == {
        "unit", "origin", "week", "week_end", "in_holdout", "actual_cumulative", "predicted_cumulative",
    }  # fmt: skip
    (model,) = document["models"]
    assert set(model) == {"model", "label", "params", "se", "loglik", "n_customers", "holdout"}
    assert set(model["holdout"]) == {
        "actual",
        "predicted",
        "error",
        "relative_error",
        "mae",
        "rmse",
        "buckets",
    }
    assert model == json.loads(to_json(evaluation["models"][0]))
    assert (
        document["tracking"]["predicted_cumulative"]["bgnbd"]
        == evaluation["tracking"]["predicted_cumulative"]["bgnbd"]
    )


def test_cli_table_and_csv_formats(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    args = (
        "clv",
        "evaluate",
        "--calibration-end",
        "2024-12-31",
        "--holdout-end",
        "2025-12-31",
        "--model",
        "mbgnbd",
    )
    code, out, _ = run_cli(capsys, shop.settings, *args)
    assert code == 0 and "MBG/NBD" in out and "7+" in out and "Cumulative repeat purchases" in out
    code, out, _ = run_cli(capsys, shop.settings, *args, "--format", "csv")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "model,frequency,customers,actual,predicted,mean_actual,mean_predicted"
    assert len(lines) == 9 and lines[-1].startswith("mbgnbd,7+,")


def test_cli_fit_score_run_json_shapes(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, shop.settings, "clv", "fit", "--model", "pareto", "--format", "json")
    assert code == 0, err
    fit = json.loads(out)
    assert fit["model"] == "clv" and fit["transaction_model"] == "pareto"
    assert set(fit["transaction"]["params"]) == {"r", "alpha", "s", "beta"}
    assert set(fit["spend"]) == {"params", "se", "loglik", "n_customers", "mean_spend"}
    assert set(fit["correlation"]) == {"pearson", "spearman", "n", "independent"}
    assert {"version", "as_of", "calibration_end", "horizon_months", "discount_rate", "data_version"} <= set(
        fit
    )

    code, out, err = run_cli(capsys, shop.settings, "clv", "score", "--format", "json")
    assert code == 0, err
    score = json.loads(out)
    assert score["version"] == fit["version"] and score["transaction_model"] == "pareto"
    assert set(score) >= {"as_of", "customers", "one_time_buyers", "mean_p_alive", "clv_total", "clv_mean"}
    assert isinstance(score["clv_total"], str)  # money as an exact decimal string

    code, out, err = run_cli(capsys, shop.settings, "clv", "run", "--as-of", "2025-07-01", "--format", "json")
    assert code == 0, err
    run = json.loads(out)
    assert set(run) == {"fit", "score"}
    assert run["fit"]["version"] == run["score"]["version"] == fit["version"] + 1
    assert run["score"]["as_of"] == "2025-07-01" and run["fit"]["calibration_end"] == "2025-06-30"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("evaluate", "--calibration-end", "2025-01-31", "--holdout-end", "2025-01-01"), "--holdout-end"),
        (("evaluate", "--calibration-end", "31.01.2025", "--holdout-end", "2025-06-01"), "YYYY-MM-DD"),
        (
            ("evaluate", "--calibration-end", "2024-01-31", "--holdout-end", "2025-06-01", "--model", "x"),
            "--model",
        ),
        (
            ("evaluate", "--calibration-end", "2025-06-30", "--holdout-end", "2026-06-30"),
            "after the last order",
        ),
        (("fit", "--model", "nbd"), "--model must be one of bgnbd, mbgnbd, pareto"),
        (("fit", "--as-of", "2020-01-01"), "no customer has an order before 2020-01-01"),
        (("score", "--version", "999"), "no saved version 999"),
    ],
)
def test_cli_errors_are_one_line(
    shop: Shop, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], needle: str
) -> None:
    code, out, err = run_cli(capsys, shop.settings, "clv", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err


# --- PostgreSQL ------------------------------------------------------------------------------------


def test_postgres_store_gets_the_same_scores_as_sqlite(tmp_path: Path, pg_url: str) -> None:
    sqlite_shop = build_shop(tmp_path, 600, 7)
    pg_shop = build_shop(tmp_path, 600, 7, database_url=pg_url)
    as_of = date(2025, 10, 1)
    on_sqlite = run_clv(sqlite_shop.app, as_of=as_of)
    on_pg = run_clv(pg_shop.app, as_of=as_of)
    # The same data in another row order: equal up to floating-point summation order.
    for name, value in on_sqlite.fit.transaction["params"].items():
        assert on_pg.fit.transaction["params"][name] == pytest.approx(value, rel=1e-9)
    assert on_pg.score.clv_total == pytest.approx(on_sqlite.score.clv_total, abs=Decimal("0.05"))
    lite, pg = stored_scores(sqlite_shop.app), stored_scores(pg_shop.app)
    assert set(pg) == set(lite) and len(pg) == on_pg.score.customers > 400
    ids = sorted(pg)
    for column in ("clv", "p_alive", "expected_purchases"):
        np.testing.assert_allclose(
            [getattr(pg[i], column) for i in ids], [getattr(lite[i], column) for i in ids], rtol=1e-8
        )
    for i in ids:
        assert pg[i].as_of == lite[i].as_of == local_midnight(as_of, pg_shop.settings.timezone)
        assert (pg[i].next_order_at is None) == (lite[i].next_order_at is None)
        if pg[i].next_order_at is not None:
            assert abs((pg[i].next_order_at - lite[i].next_order_at).total_seconds()) < 1.0
    # Re-scoring on PostgreSQL replaces the rows too.
    score_clv(pg_shop.app, as_of=date(2025, 3, 1))
    assert len(stored_scores(pg_shop.app)) < len(pg)
    pg_shop.app.close()
