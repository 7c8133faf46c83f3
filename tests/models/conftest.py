"""CDNOW and donations fixtures (see tests/fixtures/*/README.md for their source)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from retentio.models import summary_from_transactions

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def read_cdnow_transactions() -> pd.DataFrame:
    return pd.read_csv(
        FIXTURES / "cdnow" / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "value"],
        dtype={"date": str},
    ).assign(date=lambda df: pd.to_datetime(df["date"], format="%Y%m%d"))


@pytest.fixture(scope="session")
def cdnow_transactions() -> pd.DataFrame:
    return read_cdnow_transactions()


@pytest.fixture(scope="session")
def cdnow(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    """The paper's preparation: daily data, same-day purchases merged, weeks, calibration to 1997-09-30."""
    tx = cdnow_transactions
    return summary_from_transactions(
        tx["customer_id"], tx["date"], tx["value"], "1997-09-30", observation_end="1998-06-30", unit_days=7.0
    )


@pytest.fixture(scope="session")
def donations() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "donations" / "donations.csv")
