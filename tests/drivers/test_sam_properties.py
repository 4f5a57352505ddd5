"""Property tests (hypothesis): arbitrary bytes never crash a codec, never yield a frame with a
wrong checksum, and build → parse round-trips."""
from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from drivers.sam import protocol as p
from drivers.sam.cardtext import CardDecodeError, decode_text, encode_text
from drivers.sam.device import SamDevice
from drivers.sam.frame import PREAMBLE, Frame, ReceiveBuffer, build_frame, xor, xor_slow
from drivers.sam.host import SamConnection
from drivers.sam.idnumber import check_char

SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


# bytes that look like frames more often than uniform noise does
frame_ish = st.lists(st.one_of(st.binary(max_size=12), st.just(PREAMBLE),
                               st.builds(lambda b: build_frame(b), st.binary(min_size=2, max_size=40))),
                     max_size=12).map(b"".join)
noise = st.one_of(st.binary(max_size=600), frame_ish)


@SETTINGS
@given(data=noise, cuts=st.lists(st.integers(0, 600), max_size=8))
def test_receive_buffer_never_crashes_and_every_frame_checks(data, cuts):
    buf = ReceiveBuffer()
    for piece in chunked(data, cuts):
        buf.feed(piece)
        for ev in buf.events():
            if isinstance(ev, Frame):
                rebuilt = build_frame(ev.body)
                assert rebuilt in data                       # it really arrived
                assert rebuilt[-1] == xor(rebuilt[5:-1])     # and its checksum is right
    assert len(buf) <= max(len(data), 0)


@SETTINGS
@given(body=st.binary(min_size=2, max_size=2313),
       junk=st.binary(max_size=50).filter(lambda j: b"\xAA" not in j),
       cuts=st.lists(st.integers(0, 2400), max_size=6))
def test_build_then_parse_round_trips_through_junk_and_splits(body, junk, cuts):
    buf = ReceiveBuffer()
    events = []
    for piece in chunked(junk + build_frame(body), cuts):
        buf.feed(piece)
        events += buf.events()
    frames = [e for e in events if isinstance(e, Frame)]
    assert frames == [Frame(body)]


@SETTINGS
@given(data=noise)
def test_connection_never_crashes(data):
    conn = SamConnection()
    conn.send(p.Command.FIND)
    conn.receive_data(data)
    while conn.next_event() is not None:
        pass


@SETTINGS
@given(data=noise, cuts=st.lists(st.integers(0, 600), max_size=5))
def test_device_model_answers_only_with_valid_frames(data, cuts):
    dev = SamDevice()
    dev.present({"id_number": "450103198503070030"})
    for piece in chunked(data, cuts):
        for reply in dev.receive(piece):
            buf = ReceiveBuffer()
            buf.feed(reply)
            ev = buf.next_event()
            assert isinstance(ev, Frame) and p.parse_reply(ev.body).sw3 in p.SW3


@SETTINGS
@given(text=st.binary(min_size=256, max_size=256))
def test_decode_text_only_raises_card_decode_error(text):
    try:
        decode_text(text, today=date(2025, 1, 1))
    except CardDecodeError as exc:
        assert exc.reason and str(exc)


cjk = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=15)
dates = st.dates(min_value=date(1930, 1, 1), max_value=date(2007, 12, 31))


@st.composite
def residents(draw):
    birth = draw(dates)
    male = draw(st.booleans())
    seq = draw(st.integers(0, 49)) * 2 + (1 if male else 0)
    first17 = "450103" + birth.strftime("%Y%m%d") + f"{seq:03d}"
    valid_from = draw(st.dates(min_value=birth + timedelta(days=5840), max_value=date(2030, 1, 1)))
    long_term = draw(st.booleans())
    return dict(card_type="resident", name=draw(cjk), gender="male" if male else "female",
                nation=draw(st.sampled_from(["汉", "壮", "维吾尔", "外国血统中国籍人士"])),
                birth=birth.isoformat(), address=draw(st.text(
                    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=35)),
                id_number=first17 + check_char(first17), issuer=draw(cjk),
                valid_from=valid_from.isoformat(),
                valid_to="long-term" if long_term else (valid_from + timedelta(days=7300)).isoformat())


@SETTINGS
@given(spec=residents())
def test_identity_encode_decode_round_trips(spec):
    ident = decode_text(encode_text(spec), today=date(2025, 1, 1))
    d = ident.to_dict(reveal=True)
    for key, value in spec.items():
        assert d[key] == value, key


@SETTINGS
@given(st.binary(max_size=3000))
def test_fast_xor_equals_byte_by_byte_xor(data):
    assert xor(data) == xor_slow(data)
