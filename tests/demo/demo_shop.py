"""Helpers shared by the demo tests: a generated shop and how to read it back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv

from retentio.contract import TABLES

SHOP_CUSTOMERS = 3000
SHOP_SEED = 2024


@dataclass
class Shop:
    path: Path
    metadata: dict[str, Any]

    def table(self, name: str) -> pa.Table:
        """A generated CSV read back with every column as text (empty fields as null)."""
        columns = TABLES[name].names
        return pa_csv.read_csv(
            self.path / f"{name}.csv",
            convert_options=pa_csv.ConvertOptions(
                column_types={c: pa.string() for c in columns}, strings_can_be_null=True
            ),
        )

    def rows(self, name: str) -> list[dict[str, Any]]:
        return self.table(name).to_pylist()
