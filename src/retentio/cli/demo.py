"""``retentio demo``: the main job — a demo shop (or your files) in, headline retention KPIs out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retentio.cli.common import OutputFormat, app_of, print_json


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        ctx: typer.Context,
        from_: Annotated[
            Path | None,
            typer.Option("--from", help="Directory of <table>.csv files to use instead of generated data."),
        ] = None,
        customers: Annotated[int, typer.Option(help="Customers in the generated shop.")] = 20_000,
        seed: Annotated[int, typer.Option(help="Random seed of the generated shop.")] = 42,
        format_: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table,
    ) -> None:
        """Generate a demo shop (~20k customers), ingest it and print the headline retention KPIs."""
        from retentio.demo.job import run_demo

        report = run_demo(
            app_of(ctx), source=from_, customers=customers, seed=seed, quiet=format_ is OutputFormat.json
        )
        if format_ is OutputFormat.json:
            print_json(report)
