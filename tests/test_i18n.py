"""Both catalogues carry the same messages, and lookups fall back sensibly."""

from __future__ import annotations

import re

from retentio.i18n import LOCALES, catalogue, translate


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    english = catalogue("en")
    for locale in LOCALES:
        other = catalogue(locale)
        assert set(other) == set(english), locale
        for key, text in english.items():
            assert set(re.findall(r"{(\w+)", other[key])) == set(re.findall(r"{(\w+)", text)), key


def test_translate_formats_and_falls_back_to_english() -> None:
    assert (
        translate("demo.generating", "ru", customers=20000, seed=1)
        == "Создаём демо-магазин: 20,000 клиентов (seed 1)"
    )
    assert translate("kpi.churn_rate", "de") == "Churn rate"
    assert translate("kpi.churn_rate", "ru_RU") == "Отток"
