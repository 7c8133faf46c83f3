"""A small generated shop shared by the demo tests (generated once per session)."""

from __future__ import annotations

import json

import pytest
from demo_shop import SHOP_CUSTOMERS, SHOP_SEED, Shop

from retentio.demo.generator import generate


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    out = tmp_path_factory.mktemp("shop")
    metadata = generate(out, SHOP_CUSTOMERS, SHOP_SEED)
    assert json.loads((out / "metadata.json").read_text(encoding="utf-8")) == metadata
    return Shop(out, metadata)
