from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services import ServiceError
from app.services.paging import decode_cursor, encode_cursor


@given(value=st.one_of(st.text(), st.integers(), st.decimals(allow_nan=False, allow_infinity=False, places=2),
                       st.datetimes(timezones=st.just(timezone.utc))),
       row_id=st.integers(min_value=1, max_value=2**62))
def test_a_cursor_round_trips_its_sort_value_and_row(value, row_id):
    assert decode_cursor(encode_cursor(value, row_id)) == (value, row_id)


def test_a_tampered_cursor_is_refused_with_a_clear_message():
    with pytest.raises(ServiceError, match="no longer valid"):
        decode_cursor("definitely-not-a-cursor")


def test_cursor_keeps_types_that_json_cannot():
    moment = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    assert decode_cursor(encode_cursor(moment, 3)) == (moment, 3)
    assert decode_cursor(encode_cursor(Decimal("12.50"), 4)) == (Decimal("12.50"), 4)
