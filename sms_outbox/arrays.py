"""PostgreSQL arrays passed as one text parameter each, for ``unnest``.

psycopg adapts a Python list element by element, in Python (a regular
expression or two per element); for the drain's hundred-row writes that
cost more than the statements took to run on the server. A literal written
here goes as one string, which psycopg passes as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field


def literal(values: Sequence[object]) -> str:
    """Return ``values`` as a PostgreSQL array literal, for one text parameter.

    Numbers go as written, None as NULL; everything else (strings, datetimes,
    UUIDs) is double-quoted with backslash escapes, so any text survives and
    the column's type parses it, as it would the driver's own literal.
    """
    kinds = set(map(type, values))
    if kinds == {int}:
        return "{" + ",".join(map(str, values)) + "}"
    if kinds == {str}:
        return "{" + ",".join(map(_quoted, values)) + "}"  # type: ignore[arg-type]
    if kinds == {float}:
        return "{" + ",".join(map(repr, values)) + "}"
    if len(kinds) == 1 and values and all(v == values[0] for v in values):
        # One value for every row (a batch's timestamp): written once.
        return "{" + ",".join([_element(values[0])] * len(values)) + "}"
    return "{" + ",".join(map(_element, values)) + "}"


def _quoted(text: str) -> str:
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):  # Django's backend passes int subclasses
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, bytes | bytearray | memoryview):
        raise TypeError("Binary values cannot go in an array literal.")
    return _quoted(str(value))


def array_type(field: Field[Any, Any], connection: BaseDatabaseWrapper) -> str:
    """Return the PostgreSQL array type of ``field``'s column (``text[]``...)."""
    return f"{field.cast_db_type(connection)}[]"
