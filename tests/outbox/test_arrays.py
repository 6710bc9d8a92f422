"""Tests for sms_outbox.sql: PostgreSQL array literals written by hand.

That PostgreSQL reads them back whole is tested in test_sql.py, on the
PostgreSQL legs.
"""

import datetime
import uuid

import pytest

from sms_outbox import sql as arrays


def test_numbers_and_null_go_unquoted():
    assert arrays.literal([1, 22, 333]) == "{1,22,333}"
    assert arrays.literal([1.5, None, 2]) == "{1.5,NULL,2}"
    assert arrays.literal([True, False]) == "{t,f}"


def test_text_is_quoted_and_escaped():
    values = ["", "NULL", 'say "hi"', "back\\slash", "{a,b}"]
    assert arrays.literal(values) == (
        '{"","NULL","say \\"hi\\"","back\\\\slash","{a,b}"}'
    )


def test_other_values_go_as_their_text():
    moment = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)
    key = uuid.UUID(int=1)
    assert arrays.literal([moment, key, None]) == (
        f'{{"2026-12-01 10:00:00+00:00","{key}",NULL}}'
    )


def test_floats_and_a_value_repeated_for_every_row():
    moment = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)
    assert arrays.literal([2.5, 0.1, 1e-07]) == "{2.5,0.1,1e-07}"
    assert (
        arrays.literal([moment] * 3)
        == "{" + ",".join(['"2026-12-01 10:00:00+00:00"'] * 3) + "}"
    )
    assert arrays.literal([None, None]) == "{NULL,NULL}"
    # Equal values of different types are each written as their own.
    assert arrays.literal([1, True, 1.0]) == "{1,t,1.0}"


def test_an_empty_list_is_an_empty_array():
    assert arrays.literal([]) == "{}"


def test_bytes_are_refused_rather_than_written_as_their_repr():
    with pytest.raises(TypeError, match="Binary"):
        arrays.literal([b"\x00"])
