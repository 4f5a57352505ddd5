"""Card text decoding for every card type, and ID number validation."""
from __future__ import annotations

from datetime import date

import pytest
import stdnum.cn.ric

from drivers.sam.cardtext import (CardDecodeError, decode_text, encode_text)
from drivers.sam.idnumber import IdNumberError, check_char, check_id_number, mask
from drivers.sim.samples import FOREIGN, FOREIGN_2023, HMT, RESIDENT, RESIDENT_LONG_TERM

TODAY = date(2025, 6, 1)


def test_resident_layout_offsets_and_decode():
    text = encode_text(RESIDENT)
    assert len(text) == 256
    assert text[0:4] == "张三".encode("utf-16-le")
    assert text[30:32] == b"1\x00"                    # gender code 1 = male
    assert text[32:36] == "08".encode("utf-16-le")     # 壮 = 08
    assert text[36:52] == "19850307".encode("utf-16-le")
    assert text[122:158] == "450103198503070030".encode("utf-16-le")
    assert text[248:250] == b"\x20\x00"                # resident marker
    ident = decode_text(text, today=TODAY)
    assert ident.to_dict(reveal=True) | {} == {
        "card_type": "resident", "name": "张三", "name_en": None, "gender": "male",
        "nation": "壮", "nationality": None, "birth": "1985-03-07",
        "address": "广西南宁市青秀区民族大道100号", "id_number": "450103198503070030",
        "issuer": "南宁市公安局青秀分局", "valid_from": "2015-06-01", "valid_to": "2035-06-01",
        "warnings": [], "photo_bytes": 0, "fingerprint_bytes": 0}


def test_long_term_validity():
    text = encode_text(RESIDENT_LONG_TERM)
    assert text[204:208] == "长期".encode("utf-16-le")
    ident = decode_text(text, today=TODAY)
    assert ident.valid_to is None
    assert ident.to_dict()["valid_to"] == "long-term"
    assert ident.gender == "female" and ident.nation == "汉"


def test_hmt_residence_permit():
    text = encode_text(HMT)
    assert text[248:250] == b"J\x00"
    assert text[220:238] == "H12345678".encode("utf-16-le")
    ident = decode_text(text, today=TODAY)
    assert ident.card_type == "hmt_residence"
    assert ident.nation is None
    assert ident.extra == {"travel_permit": "H12345678", "issue_count": "01"}
    assert ident.warnings == ()      # 810000 is known: Hong Kong, not an "unknown region"


def test_foreign_permanent_2017():
    text = encode_text(FOREIGN)
    assert text[248:250] == b"I\x00"
    assert text[0:22] == "SMITH, JOHN".encode("utf-16-le")
    assert text[152:158] == "USA".encode("utf-16-le")
    d = decode_text(text, today=TODAY).to_dict(reveal=True)
    assert (d["card_type"], d["name_en"], d["name"], d["nationality"], d["id_number"],
            d["birth"], d["issuer"]) == ("foreign_permanent", "SMITH, JOHN", "史密斯", "USA",
                                         "USA110085012345", "1985-01-01", "1500")


def test_foreign_permanent_2023_long_english_name_spans_two_fields():
    text = encode_text(FOREIGN_2023)
    assert text[248:250] == b"Y\x00"
    assert text[52:122] == FOREIGN_2023["name_en"][:35].encode("utf-16-le")
    assert text[220:242].decode("utf-16-le").rstrip() == FOREIGN_2023["name_en"][35:46]
    ident = decode_text(text, today=TODAY)
    assert ident.card_type == "foreign_permanent_2023"
    assert ident.name_en == FOREIGN_2023["name_en"]
    assert ident.nationality == "SAU" and ident.id_number == "932682198501010017"


@pytest.mark.parametrize("change,reason", [
    ({"id_number": "450103198503070031"}, "bad_id_number"),          # wrong check digit
    ({"birth": "1985-02-30"}, "bad_date"),                           # impossible date
    ({"valid_from": "2015-13-01"}, "bad_date"),
    ({"gender": "female"}, "bad_id_number"),                         # parity says male
    ({"birth": "1985-03-08"}, "bad_id_number"),                      # differs from number
    ({"type_marker": "Z"}, "unknown_card_type"),
    ({"gender": "7"}, "bad_gender"),
    ({"valid_to": "2010-01-01"}, "bad_date"),                        # before valid_from
])
def test_bad_cards_are_refused_with_a_reason(change, reason):
    with pytest.raises(CardDecodeError) as err:
        decode_text(encode_text(RESIDENT | change), today=TODAY)
    assert err.value.reason == reason
    assert str(err.value)


def test_garbled_ucs2_is_an_error():
    text = bytearray(encode_text(RESIDENT))
    text[0:2] = b"\x00\xd8"                # an unpaired high surrogate
    with pytest.raises(CardDecodeError) as err:
        decode_text(bytes(text), today=TODAY)
    assert err.value.reason == "garbled_text"


def test_expired_card_is_a_warning_not_a_refusal():
    ident = decode_text(encode_text(RESIDENT), today=date(2036, 1, 1))
    assert ident.warnings == ("card expired on 2035-06-01",)


def test_unknown_nation_code_is_a_warning():
    ident = decode_text(encode_text(RESIDENT | {"nation": "77"}), today=TODAY)
    assert ident.nation == "77" and "unknown nation code '77'" in ident.warnings


# ---------------------------------------------------------------- ID numbers
def test_check_digit_worked_example():
    assert check_char("11010519491231002") == "X"
    info = check_id_number("11010519491231002x", today=TODAY)
    assert info.number == "11010519491231002X" and not info.male
    assert info.region == "北京市 朝阳区"


def test_region_assigned_after_birth_is_accepted_where_stdnum_refuses():
    number = "430104197901010015"       # region 430104 exists only from the 1980s
    with pytest.raises(stdnum.cn.ric.ValidationError):
        stdnum.cn.ric.validate(number)
    info = check_id_number(number, today=TODAY)
    assert info.warnings == () and info.region and "湖南" in info.region


def test_residence_permit_prefix_is_accepted():
    with pytest.raises(stdnum.cn.ric.ValidationError):
        stdnum.cn.ric.validate("810000199001010019")
    assert check_id_number("810000199001010019", today=TODAY).region == "Hong Kong"


def test_unknown_region_is_a_warning_never_a_refusal():
    info = check_id_number("999999198503070030", today=TODAY)
    assert info.warnings == ("unknown province code 99",)


@pytest.mark.parametrize("number,message", [
    ("45010319850307003", "17 digits"),
    ("450103198503070031", "check digit"),
    ("450103" + "20300101" + "001" + check_char("45010320300101001"), "future"),
    ("450103" + "18800101" + "001" + check_char("45010318800101001"), "1900"),
    ("450103" + "19850230" + "001" + check_char("45010319850230001"), "calendar"),
])
def test_id_number_errors(number, message):
    with pytest.raises(IdNumberError, match=message):
        check_id_number(number, today=TODAY)


def test_gender_parity():
    with pytest.raises(IdNumberError, match="gender"):
        check_id_number("450103198503070030", gender_male=False, today=TODAY)
    assert check_id_number("450103198503070030", gender_male=True, today=TODAY).male


def test_mask_keeps_first_and_last_four():
    assert mask("450103198503070030") == "4501**********0030"
    assert mask("USA110085012345") == "USA1*******2345"


def test_identity_repr_and_default_dict_never_show_the_number_or_name():
    ident = decode_text(encode_text(RESIDENT), today=TODAY)
    for text in (repr(ident), str(ident), f"{ident}", str(ident.to_dict())):
        assert "450103198503070030" not in text
    assert "张三" not in repr(ident)
    assert ident.to_dict()["id_number"] == "4501**********0030"


def test_error_messages_do_not_echo_personal_values():
    with pytest.raises(CardDecodeError) as err:
        decode_text(encode_text(RESIDENT | {"birth": "1985-02-30"}), today=TODAY)
    assert "19850230" not in str(err.value) and "1985" not in str(err.value)
