"""``retentio recommend``: product recommendations for a customer, model training and evaluation.

``retentio recommend CUSTOMER_ID`` is the everyday use; ``retentio recommend train`` and
``retentio recommend evaluate`` are subcommands. A first argument that is not a subcommand name is a
customer id (so a customer literally called "evaluate" is asked for as ``recommend for evaluate``).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from retentio.analytics.periods import parse_date
from retentio.analytics.render import OutputFormat, render_table, to_csv, to_json
from retentio.cli.common import FormatOption, LocaleOption, app_of, emit, status
from retentio.i18n import translate


class ModelKind(StrEnum):
    cooccurrence = "cooccurrence"
    als = "als"


class _CustomerByDefault(TyperGroup):
    """Route ``recommend CUSTOMER_ID ...`` to the ``for`` subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["for", *args]
        return super().parse_args(ctx, args)


recommend_app = typer.Typer(
    cls=_CustomerByDefault,
    help="Product recommendations: recommend CUSTOMER_ID [--n 5] [--model cooccurrence|als]; train; evaluate",
    no_args_is_help=True,
)

ModelOption = Annotated[
    ModelKind, typer.Option("--model", help="cooccurrence (co-purchases) or als (matrix factorisation).")
]


@recommend_app.command("for")
def for_command(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer to recommend to.")],
    n: Annotated[int, typer.Option("--n", help="How many products.")] = 5,
    model: ModelOption = ModelKind.cooccurrence,
    locale: LocaleOption = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Top-N products for one customer, each with the reason it was picked."""
    from retentio.models.recommend.service import service_for

    app = app_of(ctx)
    lang = locale or app.settings.locale
    with status("loading the recommender", enabled=output_format is OutputFormat.table):
        service = service_for(app, model.value, locale=lang)
        picks = service.recommend(customer_id, n)
    if output_format is OutputFormat.json:
        emit(
            to_json(
                {"customer_id": customer_id, "model": model.value, "version": service.version, "items": picks}
            )
        )
        return
    if output_format is OutputFormat.csv:
        rows = [{"customer_id": customer_id, "rank": i + 1, **p} for i, p in enumerate(picks)]
        emit(to_csv(["customer_id", "rank", "sku", "product_name", "category", "score", "reason"], rows))
        return
    table = Table(title=translate("recommend.title", lang, customer=customer_id, model=model.value))
    table.add_column("#", justify="right")
    for key in ("sku", "product", "score", "reason"):
        table.add_column(
            translate(f"recommend.column.{key}", lang), justify="right" if key == "score" else "left"
        )
    for i, pick in enumerate(picks):
        table.add_row(str(i + 1), pick["sku"], pick["product_name"], f"{pick['score']:.3f}", pick["reason"])
    emit(render_table(table))


@recommend_app.command("train")
def train_command(
    ctx: typer.Context,
    model: ModelOption = ModelKind.cooccurrence,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Fit a recommender on all purchases and save it as a new version."""
    from retentio.models.recommend.service import train_and_save

    app = app_of(ctx)
    with status("training the recommender", enabled=output_format is OutputFormat.table):
        fitted, record = train_and_save(app, model.value)
    data = {"model": model.value, "version": record.version, **record.metadata}
    data.pop("libraries", None)
    if output_format is OutputFormat.json:
        emit(to_json(data))
    elif output_format is OutputFormat.csv:
        flat = {k: v for k, v in data.items() if not isinstance(v, dict)}
        emit(to_csv(list(flat), [flat]))
    else:
        emit(
            translate(
                "recommend.trained",
                app.settings.locale,
                model=model.value,
                version=record.version,
                items=f"{len(fitted.items_):,}",
                as_of=data["as_of"],
            )
        )


def _fmt(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.4f}"


@recommend_app.command("evaluate")
def evaluate_command(
    ctx: typer.Context,
    split: Annotated[
        str | None,
        typer.Option(
            "--split", help="Train before this date, test after (default: 90 days before the data end)."
        ),
    ] = None,
    test_days: Annotated[int, typer.Option("--test-days", help="Length of the test window.")] = 90,
    k: Annotated[int, typer.Option("--k", help="List length scored (precision@k, ...).")] = 10,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Time-split evaluation: precision@k, recall@k, NDCG@k of both models against popularity."""
    from retentio.models.recommend.evaluate import MODELS, time_split_evaluation

    app = app_of(ctx)
    day = parse_date(split, "--split") if split else None
    with status("evaluating recommenders", enabled=output_format is OutputFormat.table):
        tables = app.analytics()
        result = time_split_evaluation(tables, day, test_days, k)
    metrics = (f"precision_at_{k}", f"recall_at_{k}", f"ndcg_at_{k}")
    if output_format is OutputFormat.json:
        emit(to_json(result))
        return
    if output_format is OutputFormat.csv:
        rows = [{"model": name, **result["models"][name]} for name in MODELS]
        emit(to_csv(["model", *metrics], rows))
        return
    lang = app.settings.locale
    table = Table(
        title=translate(
            "recommend.eval.title",
            lang,
            split=result["split"],
            days=test_days,
            customers=f"{result['customers']:,}",
        )
    )
    table.add_column(translate("recommend.eval.model", lang))
    for name in metrics:
        table.add_column(name.replace("_at_", "@"), justify="right")
    for name in MODELS:
        table.add_row(
            translate(f"recommend.model.{name}", lang), *(_fmt(result["models"][name][m]) for m in metrics)
        )
    emit(render_table(table))


def register(app: typer.Typer) -> None:
    """Add ``retentio recommend``."""
    app.add_typer(recommend_app, name="recommend")
