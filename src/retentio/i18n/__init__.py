"""User-facing text in English and Russian.

Messages live in ``en.json`` / ``ru.json`` beside this file, keyed by a stable id. The locale comes
from ``RETENTIO_LOCALE`` (``en`` or ``ru``; default ``en``); a key missing from a catalogue falls back
to English, and a key missing from English is a bug (``tests/test_i18n.py`` checks both catalogues
carry the same keys).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LOCALES = ("en", "ru")
_DIR = Path(__file__).parent


@cache
def catalogue(locale: str) -> dict[str, str]:
    path = _DIR / f"{locale}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def translate(key: str, locale: str = "en", **values: Any) -> str:
    """The message ``key`` in ``locale``, formatted with ``values``."""
    lang = locale.split("-")[0].split("_")[0].lower()
    text = catalogue(lang if lang in LOCALES else "en").get(key) or catalogue("en")[key]
    return text.format(**values) if values else text
