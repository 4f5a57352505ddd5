"""The connector's fast paths give exactly what the plain library calls give: the form
encoding (``urlencode``'s bytes: the signature is computed over what the platform decodes), a
punch's China time (``datetime`` in UTC+8), a stored record's body (``json.loads``)."""
from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qsl, urlencode

from hypothesis import example, given, settings
from hypothesis import strategies as st

from central.platform.objects import cn_time
from central.platform.planner import record_body
from central.platform.profile import form_encode
from uplink.wire import canonical, make_record

CN = dt.timezone(dt.timedelta(hours=8))
ALPHABET = st.characters(codec="utf-8")
WIRE_TEXT = st.characters(codec="utf-8", exclude_categories=("Cc",))   # what the wire admits
# few distinct unsafe bytes (the replace path) and text with many (the table path)
JSONISH = st.text(alphabet='{}[]":, +/=%&~-_.aZ09', max_size=300)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(ALPHABET, min_size=1, max_size=8),
                       st.one_of(st.text(ALPHABET, max_size=120), JSONISH), max_size=6))
@example({"data": "%20 +%2B", "x": ""})
@example({"data": "".join(chr(c) for c in range(32, 127)) + "钢筋班湖南建工"})
def test_form_encoding_is_urlencode_byte_for_byte(params):
    body = form_encode(params)
    assert body == urlencode(params).encode("ascii")
    assert dict(parse_qsl(body.decode("ascii"), keep_blank_values=True)) == params


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=4_102_444_800_000))      # 1970 .. 2100
@example(1_700_000_000_000)
@example(16 * 3_600_000 - 1)                                       # 23:59:59.999 China time
def test_china_time_by_tables_is_datetime(ts):
    want = dt.datetime.fromtimestamp(ts / 1000, CN)
    assert cn_time(ts) == (want.date(), want.strftime("%Y-%m-%d %H:%M:%S"))


BODIES = st.dictionaries(st.sampled_from(["worker", "dir", "method", "device", "decision",
                                          "fence", "lon_e6", "note"]),
                         st.one_of(st.text(WIRE_TEXT, max_size=20),
                                   st.integers(-2**53 + 1, 2**53 - 1)), max_size=8)


@settings(max_examples=200, deadline=None)
@given(BODIES, st.integers(1, 10**9))
def test_a_stored_records_body_is_what_json_loads_gives(body, seq):
    text = canonical(make_record("gw-1", seq, "0" * 64, 1_700_000_000_000, "note",
                                 body)).decode("utf-8")
    assert text.startswith('{"body":')
    assert record_body(text) == json.loads(text)["body"] == body


def test_a_record_not_in_canonical_form_is_parsed_whole_or_skipped():
    assert record_body('{"gw": "x", "body": {"dir": "in"}}') == {"dir": "in"}
    assert record_body('{"body":{"dir":"in"') is None
    assert record_body('{"gw":"x"}') is None
    assert record_body("not json") is None
