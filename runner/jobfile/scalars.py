"""Plain YAML scalars as the job file reads them: YAML 1.2's core schema, strictly.

Flow: yamlsafe (text -> events) -> **scalars** (a plain scalar -> a value) -> spec.
`--set key=value` reads its value here too, as if it were written in the file.

Scalars YAML 1.1 reads differently (`no`, `on`, `1:30`, `0755`) are kept as
text with a problem and a hint that works when applied, not silent surprises;
so are numbers no field can use (integers of more than `MAX_INT_DIGITS`
digits, which CPython would not even read past 4,300, and floats that
overflow to infinity).
"""

from __future__ import annotations

import math
import re
from typing import Any

from runner.jobfile.values import shorten

_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOAT = {".inf": float("inf"), "-.inf": float("-inf"), "+.inf": float("inf"),
                  ".nan": float("nan")}
MAX_INT_DIGITS = 1000
"""Integers past this are refused: no field takes one, and Python will not even print
one past 4,300 digits."""
# The words yamllint's `truthy` rule flags: booleans to YAML 1.1 (PyYAML), text to 1.2.
_YAML11_BOOL = re.compile(r"yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF")
_YAML11_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")
# 0755 (octal to YAML 1.1), 08 (text to 1.1) and 1_000 (1000 to 1.1): all 1.2 reads otherwise.
_YAML11_NUMBER = re.compile(r"[-+]?0[0-9_]+(\.[0-9_]*)?|[-+]?[0-9][0-9_]*_[0-9_]*(\.[0-9_]*)?")


def resolve_plain(text: str) -> tuple[Any, str | None]:
    """A plain scalar's value as YAML 1.2's core schema reads it, and a problem if
    YAML 1.1 would read it differently (the value is then kept as the string)."""
    if text in _NULL:
        return None, None
    if text in _BOOL:
        return _BOOL[text], None
    if _YAML11_BOOL.fullmatch(text):
        return text, (f'"{text}" is ambiguous: YAML 1.1 reads it as a boolean, YAML 1.2 as a '
                      f'string; write true or false, or quote it: "{text}"')
    if _YAML11_SEXAGESIMAL.fullmatch(text):
        return text, _base60_problem(text)
    if _YAML11_NUMBER.fullmatch(text):
        return text, (f'"{text}" is ambiguous: YAML 1.1 and 1.2 read it as different values '
                      f"(0755 is 493 or 755); write {_plain_number(text)} for the number, or "
                      f'quote it ("{text}") for text')
    if _INT.fullmatch(text):
        return _integer(text)
    if _FLOAT.fullmatch(text):
        number = float(text)
        if math.isinf(number):
            return text, (f'"{shorten(text)}" is beyond the largest number a float holds '
                          "(about 1.8e308)")
        return number, None
    if text.lower() in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[text.lower()], None
    return text, None


def _integer(text: str) -> tuple[Any, str | None]:
    """A decimal, hex or octal integer of at most `MAX_INT_DIGITS` digits; a decimal one
    is measured before it is converted, since CPython refuses to read past 4,300."""
    if text[:2] in ("0x", "0o"):
        based = int(text, 0)
        value = based if based <= _MAX_INT else None
    else:
        value = int(text) if len(text.lstrip("+-")) <= MAX_INT_DIGITS else None
    if value is None:
        return text, (f'"{shorten(text)}" is an integer of more than {MAX_INT_DIGITS} digits; '
                      "no field of a job file takes one that large")
    return value, None


_MAX_INT = 10 ** MAX_INT_DIGITS - 1


def _base60_problem(text: str) -> str:
    """What `1:30` means to YAML 1.1 (90), and what to write instead for a number, a
    duration or text: each of them loads as written."""
    sign = -1 if text.startswith("-") else 1
    seconds = 0.0
    for part in text.lstrip("+-").replace("_", "").split(":"):
        seconds = seconds * 60 + float(part)
    number = f"{sign * seconds:g}"
    duration = f' (or "{_duration_text(seconds)}")' if sign > 0 and 0 < seconds < math.inf \
        else ""
    return (f'"{text}" is ambiguous: YAML 1.1 reads it as {number} (base 60), YAML 1.2 as '
            f"text; write {number}{duration} for a number of seconds, or quote it "
            f'("{text}") for text')


def _duration_text(seconds: float) -> str:
    """90 -> "1m30s", 5400 -> "1h30m", 90.5 -> "1m30.5s"."""
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (rest, "s")]
    return "".join(f"{amount:g}{unit}" for amount, unit in parts if amount)


def _plain_number(text: str) -> str:
    """`0755` -> `755`, `1_000` -> `1000`, `-00.5` -> `-0.5`: the number YAML 1.2 reads."""
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("+-").replace("_", "").lstrip("0")
    if not digits or digits.startswith("."):
        digits = "0" + digits
    return sign + digits.rstrip(".")
