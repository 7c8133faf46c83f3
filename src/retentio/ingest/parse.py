"""Vectorised parsers: raw text columns in, typed columns and per-row problems out.

Pure functions over pyarrow arrays, no I/O. Each parser takes a nullable string array (``None`` or
an empty string means "no value") and returns a :class:`Parsed`: the typed array (null where the
value is missing or bad) and a list of ``(row_mask, reason)`` problems. Everything a real shop
export throws at us is handled here: decimal commas, thousands separators with (non-breaking)
spaces, currency signs, ``dd.mm.yyyy[ hh:mm[:ss]]`` and ISO dates with or without an offset,
Russian booleans and order statuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Problem = tuple[np.ndarray, str]  # (boolean mask over rows, reason)


@dataclass
class Parsed:
    values: pa.Array
    problems: list[Problem] = field(default_factory=list)


def clean_text(raw: pa.Array) -> pa.Array:
    """Strip surrounding whitespace; empty strings become null."""
    stripped = pc.utf8_trim_whitespace(raw.cast(pa.string()))
    return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)


def _present(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)


def _mask(expr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(expr, False).to_numpy(zero_copy_only=False), dtype=bool)


# ---------------------------------------------------------------- numbers
_SPACES = r"[\s\x{00A0}\x{202F}']"
_CURRENCY = r"(?i)^(?:₽|\$|€|rub|руб\.?|р\.)\s*|\s*(?:₽|\$|€|rub|руб\.?|р\.)$"


def detect_decimal_comma(values: pa.Array) -> bool:
    """True when the column writes decimals with a comma (``1 234,50``) rather than a point.

    By majority of the values that show a decimal part (one or two digits after the separator), so
    that one stray value does not flip the column; a tie goes to the point.
    """
    comma = pc.sum(pc.match_substring_regex(values, r",\d{1,2}$")).as_py() or 0
    point = pc.sum(pc.match_substring_regex(values, r"\.\d{1,2}$")).as_py() or 0
    return comma > point


def _style_pattern(comma: bool) -> str:
    """Numbers written in one style: the grouping separator only between groups of three digits
    before the decimal separator, which appears at most once."""
    group, point = (r"\.", ",") if comma else (",", r"\.")
    return rf"^[+-]?(?:\d{{1,3}}(?:{group}\d{{3}})+|\d*)(?:{point}\d*)?(?:[eE][+-]?\d+)?$"


def _style_name(comma: bool) -> str:
    return "decimal comma, '.' between thousands" if comma else "decimal point, ',' between thousands"


def _normalise_number(values: pa.Array, decimal: str | None) -> tuple[pa.Array, np.ndarray, str]:
    """Plain ``[+-]digits[.digits]`` text; the rows whose separators do not fit the column's style;
    and that style's name.

    A value such as ``2,50`` in a column written ``1,234.50`` is not read as 250: it is flagged.
    """
    text = pc.replace_substring_regex(values, _CURRENCY, "")
    text = pc.replace_substring_regex(text, _SPACES, "")
    comma = detect_decimal_comma(text) if decimal is None else decimal == ","
    # One pass over the column; the rare rows that do not fit are then told apart: a number in
    # another style (misfit) or not a number at all (reported by the caller's own check).
    misfit = _mask(pc.invert(pc.match_substring_regex(text, _style_pattern(comma))))
    odd = np.flatnonzero(misfit)
    if len(odd):
        candidates = text.take(pa.array(odd))
        numeric = _mask(
            pc.match_substring_regex(candidates, r"^[+-]?\d*[.,][\d.,]*(?:[eE][+-]?\d+)?$")
        ) & _mask(pc.match_substring_regex(candidates, r"\d"))
        misfit[:] = False
        misfit[odd[numeric]] = True
    if comma:
        text = pc.replace_substring(text, ".", "")
        text = pc.replace_substring(text, ",", ".")
    else:
        text = pc.replace_substring(text, ",", "")
    return text, misfit, _style_name(comma)


def parse_money(raw: pa.Array, column: str, decimal: str | None = None, non_negative: bool = False) -> Parsed:
    """Decimal amounts to exact integer minor units (2 fraction digits), without a float in between."""
    values = clean_text(raw)
    present = _present(values)
    text, misfit, style = _normalise_number(values, decimal)
    parts = pc.extract_regex(text, r"^(?P<sign>[+-]?)(?P<int>\d{1,15})(?:\.(?P<frac>\d*))?$")
    matched = _mask(pc.is_valid(parts)) & ~misfit
    frac_raw = pc.fill_null(pc.struct_field(parts, "frac"), "")
    tail = pc.utf8_slice_codeunits(frac_raw, 2)
    extra_digits = _mask(pc.match_substring_regex(tail, r"[1-9]"))
    frac = pc.utf8_slice_codeunits(pc.utf8_rpad(frac_raw, 2, "0"), 0, 2)
    ok = matched & ~extra_digits
    int_part = pc.if_else(pa.array(ok), pc.struct_field(parts, "int"), pa.scalar("0"))
    frac_part = pc.if_else(pa.array(ok), frac, pa.scalar("00"))
    minor = np.asarray(pc.cast(int_part, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64) * 100
    minor += np.asarray(pc.cast(frac_part, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    negative = _mask(pc.equal(pc.struct_field(parts, "sign"), "-"))
    minor = np.where(negative, -minor, minor)
    problems: list[Problem] = [
        (present & misfit, f"{column} does not fit the number style of the column ({style})"),
        (present & ~matched & ~misfit, f"{column} is not a number"),
        (present & matched & extra_digits, f"{column} has more than 2 decimal places"),
    ]
    valid = present & ok
    if non_negative:
        neg = valid & (minor < 0)
        problems.append((neg, f"{column} must not be negative"))
        valid &= ~neg
    return Parsed(pa.array(minor, pa.int64(), mask=~valid), problems)


def parse_int(raw: pa.Array, column: str, low: int | None = None, high: int | None = None) -> Parsed:
    """Whole numbers; ``3,000``/``3.0`` (1C writes quantities with zero decimals) are accepted as 3."""
    values = clean_text(raw)
    present = _present(values)
    text = pc.replace_substring_regex(values, _SPACES, "")
    parts = pc.extract_regex(text, r"^(?P<num>[+-]?\d{1,18})(?:[.,]0+)?$")
    matched = _mask(pc.is_valid(parts))
    num = pc.if_else(pa.array(matched), pc.struct_field(parts, "num"), pa.scalar("0"))
    ints = np.asarray(pc.cast(num, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    problems: list[Problem] = [(present & ~matched, f"{column} is not a whole number")]
    valid = present & matched
    if low is not None or high is not None:
        out = valid & (
            (ints < (low if low is not None else np.iinfo(np.int64).min))
            | (ints > (high if high is not None else np.iinfo(np.int64).max))
        )
        if low is not None and low > 0 and high is None:
            reason = f"{column} must be greater than 0"
        else:
            reason = f"{column} must be between {low} and {high}"
        problems.append((out, reason))
        valid &= ~out
    return Parsed(pa.array(ints, pa.int64(), mask=~valid), problems)


def parse_float(raw: pa.Array, column: str, decimal: str | None = None, non_negative: bool = False) -> Parsed:
    values = clean_text(raw)
    present = _present(values)
    text, misfit, style = _normalise_number(values, decimal)
    matched = _mask(pc.match_substring_regex(text, r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")) & ~misfit
    safe = pc.if_else(pa.array(matched), text, pa.scalar("0"))
    floats = np.asarray(pc.cast(safe, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    problems: list[Problem] = [
        (present & misfit, f"{column} does not fit the number style of the column ({style})"),
        (present & ~matched & ~misfit, f"{column} is not a number"),
    ]
    valid = present & matched
    if non_negative:
        neg = valid & (floats < 0)
        problems.append((neg, f"{column} must not be negative"))
        valid &= ~neg
    return Parsed(pa.array(floats, pa.float64(), mask=~valid), problems)


_TRUE = ["1", "true", "t", "yes", "y", "да", "д", "истина", "on"]
_FALSE = ["0", "false", "f", "no", "n", "нет", "н", "ложь", "off"]


def parse_bool(raw: pa.Array, column: str) -> Parsed:
    values = pc.utf8_lower(clean_text(raw))
    present = _present(values)
    is_true = _mask(pc.is_in(values, pa.array(_TRUE)))
    is_false = _mask(pc.is_in(values, pa.array(_FALSE)))
    valid = is_true | is_false
    return Parsed(
        pa.array(is_true, pa.bool_(), mask=~valid),
        [(present & ~valid, f"{column} is not a yes/no value (true/false, 1/0, да/нет)")],
    )


# ---------------------------------------------------------------- dates and times
_ISO = (
    r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<z>Z|UTC|[+-]\d{2}(?::?\d{2})?)?$"
)
_DOTTED = (
    r"^(?P<d>\d{1,2})[./](?P<m>\d{1,2})[./](?P<y>\d{4})"
    r"(?:,?[T ]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"(?P<z>)$"
)


def _field(parts: pa.Array, name: str, default: int = 0) -> np.ndarray:
    column = pc.struct_field(parts, name)
    column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    filled = pc.fill_null(column, str(default))
    return np.asarray(pc.cast(filled, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _components(text: pa.Array) -> tuple[np.ndarray, dict[str, np.ndarray], pa.Array]:
    """Match both families; returns (matched mask, integer components, zone text)."""
    n = len(text)
    comps = {k: np.zeros(n, np.int64) for k in ("y", "m", "d", "H", "M", "S", "f")}
    zone = pa.nulls(n, pa.string())
    matched = np.zeros(n, bool)
    for pattern in (_ISO, _DOTTED):
        parts = pc.extract_regex(text, pattern)
        hit = _mask(pc.is_valid(parts)) & ~matched
        if not hit.any():
            continue
        for key in ("y", "m", "d", "H", "M", "S"):
            comps[key] = np.where(hit, _field(parts, key), comps[key])
        frac = pc.utf8_slice_codeunits(
            pc.utf8_rpad(pc.fill_null(pc.struct_field(parts, "f"), ""), 6, "0"), 0, 6
        )
        frac_int = np.asarray(
            pc.cast(pc.fill_null(frac, "000000"), pa.int64()).to_numpy(zero_copy_only=False)
        )
        comps["f"] = np.where(hit, frac_int, comps["f"])
        zone = pc.if_else(pa.array(hit), pc.struct_field(parts, "z"), zone)
        matched |= hit
    return matched, comps, zone


# One range rule for every path (ISO fast path, general parser, --date-format, dates): the instant
# (UTC) or the date must fall within these years. Years outside are typos (0024, 9999) or "no date"
# sentinels, and they break every model downstream. Offsets beyond ±14:00 exist nowhere on Earth.
MIN_YEAR, MAX_YEAR = 1900, 2200
_LOW = np.datetime64(f"{MIN_YEAR}-01-01T00:00:00", "us")
_HIGH = np.datetime64(f"{MAX_YEAR + 1}-01-01T00:00:00", "us")
MAX_OFFSET_MINUTES = 14 * 60


def _range_reason(column: str) -> str:
    return f"{column} is outside the supported years {MIN_YEAR}..{MAX_YEAR}"


def _in_range(stamps: np.ndarray) -> np.ndarray:
    """Which datetime64 values (any unit) fall in the supported years; NaT is not."""
    unit = np.datetime_data(stamps.dtype)[0]
    low, high = _LOW.astype(f"datetime64[{unit}]"), _HIGH.astype(f"datetime64[{unit}]")
    ints = stamps.view(np.int64)  # NaT is the smallest int64, below any bound
    return (ints >= low.astype(np.int64)) & (ints < high.astype(np.int64))


def _build_datetime(comps: dict[str, np.ndarray], matched: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """datetime64[us] from components; second array flags impossible dates (31.02, 25:00).

    The year range is not judged here but by :func:`_in_range` on the result, like on every path.
    """
    y, m, d = comps["y"], comps["m"], comps["d"]
    in_range = (
        (m >= 1)
        & (m <= 12)
        & (d >= 1)
        & (d <= 31)
        & (y >= 1)
        & (y <= 9999)
        & (comps["H"] <= 23)
        & (comps["M"] <= 59)
        & (comps["S"] <= 59)
    )
    ok = matched & in_range
    ys = np.where(ok, y, 1970)
    ms = np.where(ok, m, 1)
    ds = np.where(ok, d, 1)
    month = (ys - 1970) * 12 + (ms - 1)
    day = month.astype("datetime64[M]").astype("datetime64[D]") + (ds - 1).astype("timedelta64[D]")
    # A day past the month's end rolls into the next month: that is an impossible date.
    ok &= day.astype("datetime64[M]").astype(np.int64) == month
    stamp = (
        day.astype("datetime64[us]")
        + (np.where(ok, comps["H"], 0) * 3_600_000_000).astype("timedelta64[us]")
        + (np.where(ok, comps["M"], 0) * 60_000_000).astype("timedelta64[us]")
        + (np.where(ok, comps["S"], 0) * 1_000_000).astype("timedelta64[us]")
        + np.where(ok, comps["f"], 0).astype("timedelta64[us]")
    )
    return stamp, ok


def _offsets_us(zone: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets in microseconds for explicit zones, a mask of rows that had one, and of rows whose
    offset is impossible (beyond ±14:00, or minutes over 59)."""
    zone_text = pc.fill_null(zone, "")
    has = _mask(pc.not_equal(zone_text, ""))
    utc = _mask(pc.is_in(zone_text, pa.array(["Z", "UTC"])))
    parts = pc.extract_regex(zone_text, r"^(?P<sign>[+-])(?P<hh>\d{2}):?(?P<mm>\d{2})?$")
    hh = _field(parts, "hh")
    mm = _field(parts, "mm")
    sign = np.where(_mask(pc.equal(pc.struct_field(parts, "sign"), "-")), -1, 1)
    offset = np.where(utc, 0, sign * (hh * 3600 + mm * 60) * 1_000_000)
    bad = has & ~utc & ((mm > 59) | (hh * 60 + mm > MAX_OFFSET_MINUTES))
    return np.where(bad, 0, offset).astype(np.int64), has, bad


# Offsets up to ±13:59 and ±14:00 exactly; anything else takes the general path, which explains it.
_ISO_OFFSET = (
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-](?:[01][0-3]|0[4-9]):[0-5]\d|[+-]14:00)$"
)


def _iso_with_offset(values: pa.Array) -> pa.Array | None:
    """Fast path for machine exports: every value is ISO 8601 with an explicit offset.

    Arrow's own ISO parser converts those exactly; anything else (local times, dotted dates, a
    bad value) returns None and takes the general path, which explains each bad row.
    """
    shaped = pc.match_substring_regex(values, _ISO_OFFSET)
    if not bool(pc.all(pc.fill_null(shaped, True)).as_py()):
        return None
    try:
        return values.cast(pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def check_date_format(date_format: str) -> None:
    """A strptime format we can use, or an InputError saying why not (before any row is read)."""
    from retentio.errors import InputError

    if date_format == EPOCH_FORMAT:
        return
    if "%s" in date_format:
        raise InputError(
            f"date format {date_format!r}: %s (Unix seconds) must be the whole format, e.g. --date-format %s"
        )
    try:
        pd.to_datetime(pd.Series(["2024-01-01"], dtype="object"), format=date_format, errors="coerce")
    except (ValueError, TypeError) as exc:
        raise InputError(f"date format {date_format!r} is not a valid strptime format: {exc}") from exc


EPOCH_FORMAT = "%s"  # --date-format %s: Unix time in seconds (UTC), fractions allowed


def _parse_with_format(values: pa.Array, date_format: str) -> tuple[np.ndarray, bool]:
    """datetime64[us] (NaT where the value does not fit) and whether the values carried a zone."""
    check_date_format(date_format)
    if date_format == EPOCH_FORMAT:
        text = pc.fill_null(values, "")
        number = _mask(pc.match_substring_regex(text, r"^[+-]?\d{1,12}(?:\.\d{1,6})?$"))
        seconds = np.asarray(
            pc.cast(pc.if_else(pa.array(number), text, pa.scalar("0")), pa.float64()).to_numpy(
                zero_copy_only=False
            ),
            dtype=np.float64,
        )
        micros = np.round(seconds * 1_000_000).astype(np.int64).astype("datetime64[us]")
        return np.where(number, micros, np.datetime64("NaT", "us")), True
    zoned = "%z" in date_format or "%Z" in date_format
    series = pd.Series(values.to_pandas(), dtype="object")
    parsed = pd.to_datetime(series, format=date_format, errors="coerce", utc=zoned)
    if zoned:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.to_numpy(dtype="datetime64[us]"), zoned


def parse_timestamp(raw: pa.Array, column: str, tz: ZoneInfo, date_format: str | None = None) -> Parsed:
    """Timestamps to UTC. Values without an offset are wall-clock times in ``tz``."""
    values = clean_text(raw)
    present = _present(values)
    if date_format:
        stamp, zoned = _parse_with_format(values, date_format)
        ok = present & ~np.isnat(stamp)
        utc = stamp.copy()
        if not zoned and ok.any():
            utc[ok] = _local_to_utc(stamp[ok], tz)
            ok &= ~np.isnat(utc)
        problems: list[Problem] = [(present & ~ok, f"{column} does not match --date-format {date_format}")]
    else:
        fast = _iso_with_offset(values)
        if fast is not None and _all_in_range(fast):
            return Parsed(fast)
        if fast is not None:
            utc = np.asarray(
                fast.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False), dtype="datetime64[us]"
            )
            ok = present & ~np.isnat(utc)
            problems = []
        else:
            utc, ok, problems = _parse_general(values, present, column, tz)
    out_of_range = ok & ~_in_range(utc)
    problems.append((out_of_range, _range_reason(column)))
    ok &= ~out_of_range
    utc = np.where(ok, utc, np.datetime64(0, "us"))
    return Parsed(pa.array(utc, pa.timestamp("us", tz="UTC"), mask=~(present & ok)), problems)


def _all_in_range(stamps: pa.Array) -> bool:
    """One min/max pass: does every (non-null) timestamp fall in the supported years?"""
    bounds = pc.min_max(stamps.cast(pa.timestamp("us")).cast(pa.int64()))
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return low is None or (low >= int(_LOW.astype(np.int64)) and high < int(_HIGH.astype(np.int64)))


def _local_to_utc(stamps: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Wall-clock times in ``tz`` to UTC (NaT for a time that does not exist or is ambiguous)."""
    # Out-of-range values are rejected anyway; keep them away from pandas' own bounds.
    ints = stamps.view(np.int64)
    day = 86_400_000_000
    near = (ints >= int(_LOW.astype(np.int64)) - day) & (ints < int(_HIGH.astype(np.int64)) + day)
    if near.all():
        local = pd.DatetimeIndex(stamps).tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        return np.asarray(local.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[us]"))
    out = np.full(len(stamps), np.datetime64("NaT"), dtype="datetime64[us]")
    if near.any():
        local = pd.DatetimeIndex(stamps[near]).tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        out[near] = local.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[us]")
    return out


def _parse_general(
    values: pa.Array, present: np.ndarray, column: str, tz: ZoneInfo
) -> tuple[np.ndarray, np.ndarray, list[Problem]]:
    matched, comps, zone = _components(values)
    stamp, ok = _build_datetime(comps, matched)
    offset, explicit, bad_offset = _offsets_us(zone)
    ok &= ~bad_offset
    utc = stamp.copy()
    utc[explicit] = stamp[explicit] - offset[explicit].astype("timedelta64[us]")
    naive = ok & ~explicit
    if naive.any():
        converted = _local_to_utc(stamp[naive], tz)
        utc[naive] = converted
        ok[np.flatnonzero(naive)[np.isnat(converted)]] = False
    problems: list[Problem] = [
        (
            present & ~matched,
            f"{column} is not a date/time (use YYYY-MM-DD[ hh:mm[:ss]] or dd.mm.yyyy[ hh:mm[:ss]])",
        ),
        (
            present & matched & bad_offset,
            f"{column} has an impossible UTC offset (offsets run from -14:00 to +14:00)",
        ),
        (present & matched & ~ok & ~bad_offset, f"{column} is not a valid calendar date/time"),
    ]
    return utc, ok, problems


def parse_date(raw: pa.Array, column: str, date_format: str | None = None) -> Parsed:
    values = clean_text(raw)
    present = _present(values)
    if date_format:
        fmt = date_format.split(" ")[0] if "%H" in date_format else date_format
        stamp, _zoned = _parse_with_format(values, fmt)
        ok = present & ~np.isnat(stamp)
        problems: list[Problem] = [(present & ~ok, f"{column} does not match --date-format {date_format}")]
    else:
        matched, comps, _zone = _components(values)
        stamp, ok = _build_datetime(comps, matched)
        problems = [
            (present & ~matched, f"{column} is not a date (use YYYY-MM-DD or dd.mm.yyyy)"),
            (present & matched & ~ok, f"{column} is not a valid calendar date"),
        ]
    days = stamp.astype("datetime64[D]")
    out_of_range = present & ok & ~_in_range(days)
    problems.append((out_of_range, _range_reason(column)))
    ok &= ~out_of_range
    days = np.where(ok, days, np.datetime64(0, "D"))
    return Parsed(pa.array(days, pa.date32(), mask=~(present & ok)), problems)


# ---------------------------------------------------------------- choices, ids, json
_STATUS_SYNONYMS = {
    "completed": [
        "completed",
        "complete",
        "done",
        "paid",
        "delivered",
        "shipped",
        "closed",
        "выполнен",
        "выполнено",
        "завершен",
        "завершён",
        "доставлен",
        "оплачен",
        "закрыт",
    ],
    "cancelled": [
        "cancelled",
        "canceled",
        "cancel",
        "отменен",
        "отменён",
        "отменено",
        "отмена",
        "аннулирован",
    ],
}


def parse_status(raw: pa.Array, column: str) -> Parsed:
    """Order status: ``completed`` (the default when empty) or ``cancelled``, with common synonyms."""
    values = pc.utf8_lower(clean_text(raw))
    present = _present(values)
    out = pa.array(["completed"] * len(values), pa.string())
    known = np.zeros(len(values), bool)
    for canonical, words in _STATUS_SYNONYMS.items():
        hit = _mask(pc.is_in(values, pa.array(words)))
        out = pc.if_else(pa.array(hit), pa.scalar(canonical), out)
        known |= hit
    bad = present & ~known
    return Parsed(
        pa.array(out.to_numpy(zero_copy_only=False), pa.string(), mask=bad),
        [(bad, f"{column} must be completed or cancelled")],
    )


def parse_json(raw: pa.Array, column: str) -> Parsed:
    """JSON documents, checked by DuckDB's bundled JSON reader (vectorised, no per-row Python)."""
    import duckdb

    values = clean_text(raw)
    with duckdb.connect() as con:
        con.register("v", pa.table({"text": values}))
        valid = con.execute("SELECT text IS NULL OR json_valid(text) FROM v").fetch_arrow_table().column(0)
    bad = ~np.asarray(pc.fill_null(valid, False).to_numpy(zero_copy_only=False), dtype=bool)
    cleaned = pc.if_else(pa.array(bad), pa.scalar(None, pa.string()), values)
    return Parsed(cleaned, [(bad, f"{column} is not valid JSON")])
