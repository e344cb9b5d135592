"""Personal data: ID validation, normal forms, commitments, references, masking."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import sys
import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from ledger.personal import (
    CommitmentMismatch,
    InvalidPersonalData,
    PersonalData,
    PersonalDataError,
    applicant_ref,
    commit,
    commitments,
    find_personal_data,
    is_applicant_ref,
    mask_id_number,
    mask_name,
    normalize_id_number,
    normalize_phone,
    validate_personal_data,
    verify_commitment,
)

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))

# GB 11643-1999 §8 gives two worked examples; stdnum's documentation gives the third.
GB11643_BEIJING = "11010519491231002X"  # 北京市朝阳区, born 1949-12-31, female
GB11643_SHANTOU = "440524188001010014"  # 广东省汕头市潮阳县, born 1880-01-01, male
STDNUM_EXAMPLE = "360426199101010071"
# Computed with stdnum's calc_check_digit and checked by hand against the GB 11643 weights.
COMPUTED = ["510104199001011230", "440305198512310042", "310104200002290014"]

REGION_CODES = ["110105", "310104", "440305", "510104", "330106", "420106", "650102", "540102"]


def with_check_digit(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


# --- ID numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [GB11643_BEIJING, GB11643_SHANTOU, STDNUM_EXAMPLE, *COMPUTED])
def test_published_and_computed_ids_are_accepted(number: str) -> None:
    assert normalize_id_number(number) == number


def test_check_digits_match_gb11643_weights() -> None:
    # Independent of stdnum: weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11.
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    for number in [GB11643_BEIJING, GB11643_SHANTOU, STDNUM_EXAMPLE, *COMPUTED]:
        total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
        check = (12 - total % 11) % 11
        assert number[17] == ("X" if check == 10 else str(check))


def test_standard_example_stdnum_refuses_is_accepted() -> None:
    # stdnum ties the county code to the birth year; codes are assigned at registration.
    with pytest.raises(ric.ValidationError):
        ric.validate(GB11643_SHANTOU)
    assert PersonalData(name="张三", id_number=GB11643_SHANTOU).id_number == GB11643_SHANTOU


def test_lower_case_x_and_whitespace_are_normalised() -> None:
    assert normalize_id_number(" 11010519491231002x ") == GB11643_BEIJING


def test_wrong_check_digit_names_the_expected_one() -> None:
    with pytest.raises(InvalidPersonalData) as caught:
        normalize_id_number("110105194912310029")
    assert caught.value.field == "id_number"
    assert caught.value.reason == "citizen ID check character is 9, expected X (GB 11643 MOD 11-2)"
    with pytest.raises(InvalidPersonalData, match="check character is X, expected 4"):
        normalize_id_number("44052418800101001X")


@pytest.mark.parametrize("birth", ["19491331", "19490229"])
def test_birth_date_that_is_not_a_date_is_refused(birth: str) -> None:
    # The check character is right: the date itself is what is refused (and not repeated).
    with pytest.raises(InvalidPersonalData, match="digits 7-14 are not a calendar date"):
        normalize_id_number(with_check_digit(f"110105{birth}002"))


@pytest.mark.parametrize("number", ["11010519491231002", "11010519491231002X0", "", "110105"])
def test_wrong_length_is_refused(number: str) -> None:
    with pytest.raises(InvalidPersonalData, match=rf"{len(number)} characters, expected 18"):
        normalize_id_number(number)


@pytest.mark.parametrize(
    "number", ["1101051949123100AX", "11010519491231002Y", "X10105194912310020"]
)
def test_non_digits_are_refused(number: str) -> None:
    with pytest.raises(InvalidPersonalData, match="17 digits followed by a digit or X"):
        normalize_id_number(number)


def test_unknown_region_code_is_refused() -> None:
    with pytest.raises(InvalidPersonalData, match="not a GB/T 2260 region code of any year"):
        normalize_id_number(with_check_digit("99999919491231002"))


# --- other fields ----------------------------------------------------------------------------


def test_personal_data_is_normalised_on_construction() -> None:
    data = PersonalData(
        name="  Zoe\u0301 ", id_number="11010519491231002x", phone="138 1234 5678", address=" 北京 "
    )
    assert data.as_dict() == {
        "name": "Zoé",
        "id_number": GB11643_BEIJING,
        "phone": "13812345678",
        "address": "北京",
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("张" * 65, "65 characters, at most 64 allowed"),
        ("张\x00三", "control character U+0000 at position 1"),
        ("张\u200b三", "control character U+200B at position 1"),  # zero-width space
        ("张\n三", "control character U+000A at position 1"),
    ],
)
def test_bad_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidPersonalData) as caught:
        PersonalData(name=name, id_number=GB11643_BEIJING)
    assert (caught.value.field, caught.value.reason) == ("name", reason)


def test_long_names_with_a_middle_dot_are_accepted() -> None:
    name = "阿依古丽·买买提" + "甲" * 56
    assert len(name) == 64
    assert PersonalData(name=name, id_number=GB11643_BEIJING).name == name


@pytest.mark.parametrize(
    ("phone", "normal"),
    [
        ("13812345678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("8619912345678", "19912345678"),
        ("010-62345678", "010-62345678"),
        ("01062345678", "010-62345678"),
        ("(028) 8765 4321", "028-87654321"),
        ("0571-8765432", "0571-8765432"),
        ("", ""),
        ("  ", ""),
    ],
)
def test_phone_numbers_are_normalised(phone: str, normal: str) -> None:
    assert normalize_phone(phone) == normal


@pytest.mark.parametrize(
    "phone",
    ["12812345678", "1381234567", "138123456789", "62345678", "010-12345678", "+86 010-62345678"],
)
def test_bad_phone_numbers_are_refused(phone: str) -> None:
    with pytest.raises(InvalidPersonalData, match=r"^phone: "):
        normalize_phone(phone)


def test_address_too_long_is_refused() -> None:
    with pytest.raises(InvalidPersonalData, match=r"^address: 257 characters"):
        PersonalData(name="张三", id_number=GB11643_BEIJING, address="路" * 257)


def test_validate_personal_data_names_the_field() -> None:
    data = validate_personal_data({"name": "张三", "id_number": GB11643_BEIJING})
    assert data == PersonalData(name="张三", id_number=GB11643_BEIJING)
    with pytest.raises(InvalidPersonalData, match=r"^email: unknown field"):
        validate_personal_data({"name": "张三", "id_number": GB11643_BEIJING, "email": "x"})
    with pytest.raises(InvalidPersonalData, match=r"^id_number: is required"):
        validate_personal_data({"name": "张三"})
    with pytest.raises(InvalidPersonalData, match=r"^phone: expected a string, got int"):
        validate_personal_data({"name": "张三", "id_number": GB11643_BEIJING, "phone": 1})  # type: ignore[dict-item]


def test_errors_are_value_errors_under_one_base() -> None:
    assert issubclass(InvalidPersonalData, PersonalDataError)
    assert issubclass(CommitmentMismatch, PersonalDataError)
    assert issubclass(PersonalDataError, ValueError)


def test_repr_does_not_leak_personal_data() -> None:
    data = PersonalData(name="张三丰", id_number=GB11643_BEIJING, phone="13812345678")
    text = repr(data)
    assert "三丰" not in text and GB11643_BEIJING not in text and "13812345678" not in text


# --- free text ---------------------------------------------------------------------------------

MOBILE = "13912345678"
# Every invisible format character (Unicode category Cf: zero-width space and joiners, bidi
# marks, soft hyphen, word joiner, BOM, tag characters, ...).
FORMAT_CHARACTERS = [
    chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"
]


def _split(text: str, separator: str) -> str:
    return separator.join(text)  # between every two characters


@pytest.mark.parametrize(
    "text",
    [
        f"回电 {MOBILE}",
        f"回电+86{MOBILE}",
        f"回电 +86{MOBILE}",
        f"回电86{MOBILE}",
        f"回电0086{MOBILE}",
        "回电１３９１２３４５６７８",  # full-width digits
        "回电＋８６１３９１２３４５６７８",
        f"回电{_split(MOBILE, chr(0x200B))}",  # zero-width spaces
        f"回电+86{_split(MOBILE, chr(0x2060))}",  # word joiners
        f"回电{MOBILE[:3]}\u00ad{MOBILE[3:]}",  # soft hyphen
    ],
)
def test_free_text_with_a_mobile_number_is_found(text: str) -> None:
    assert find_personal_data(text) == "a phone number"


@pytest.mark.parametrize(
    "text",
    [
        f"核对{GB11643_BEIJING}",
        f"核对{GB11643_BEIJING.lower()}",
        f"核对{_split(GB11643_BEIJING, chr(0x200B))}",
        f"核对{_split(GB11643_BEIJING, chr(0x200D))}",
        "核对１１０１０５１９４９１２３１００２Ｘ",  # full-width digits and X
        f"核对{GB11643_BEIJING[:6]}\u2066{GB11643_BEIJING[6:]}\u2069",  # bidi isolates
    ],
)
def test_free_text_with_an_id_number_is_found(text: str) -> None:
    assert find_personal_data(text) == "a resident ID number"
    assert find_personal_data(text, reference=True) == "a resident ID number"


def test_no_format_character_hides_a_number() -> None:
    assert len(FORMAT_CHARACTERS) > 150  # the whole category, not a hand-picked few
    hidden = [
        f"U+{ord(char):04X}"
        for char in FORMAT_CHARACTERS
        if find_personal_data(f"回电{MOBILE[:5]}{char}{MOBILE[5:]}") != "a phone number"
        or find_personal_data(f"+86{char}{MOBILE}") != "a phone number"
        or find_personal_data(f"{GB11643_BEIJING[:9]}{char}{GB11643_BEIJING[9:]}", reference=True)
        != "a resident ID number"
    ]
    assert hidden == []


@pytest.mark.parametrize(
    "text",
    [
        # The documented rules (docs/envelope.md 5.4): a number adjacent to other digits is not
        # one, an ID number needs its check digit, a mobile number starts 1[3-9] ...
        "第2024013912345678号",  # eleven digits inside a longer run
        f"{MOBILE}9",
        f"9{MOBILE}",
        f"286{MOBILE}",  # "86" inside a longer run is no country code
        f"+86{MOBILE}0",
        "11010519491231002Y",
        "110105194912310021",  # wrong check digit
        f"9{GB11643_BEIJING}",
        "12345678901",  # 12...: no mobile prefix
        f"+86{MOBILE[:-1]}",
        # ... and numbers written with separators are not detected (a heuristic only).
        "139-1234-5678",
        "139 1234 5678",
        "",
        "材料齐全，予以受理",
    ],
)
def test_free_text_the_screen_lets_through(text: str) -> None:
    assert find_personal_data(text) is None


def test_a_format_character_joins_digits_into_one_longer_run() -> None:
    # Removed, not replaced by a separator: digits it split are one run, as they read.
    assert find_personal_data(f"9\u200b{MOBILE}") is None


def test_references_are_screened_for_id_numbers_only() -> None:
    # A document reference's serial often looks like a mobile number (docs/envelope.md 5.4).
    for text in (f"AB{MOBILE}CD", f"AB+86{MOBILE}", f"AB86{MOBILE}", "AB１３９１２３４５６７８"):
        assert find_personal_data(text, reference=True) is None
        assert find_personal_data(text) == "a phone number"


# --- references ------------------------------------------------------------------------------


def test_applicant_ref_is_opaque_and_injectable() -> None:
    ref = applicant_ref(lambda n: b"\x00" * n)
    assert ref == "ap_" + "a" * 26
    assert re.fullmatch(r"ap_[a-z2-7]{26}", applicant_ref())
    assert applicant_ref() != applicant_ref()


def test_applicant_ref_refuses_a_short_rng() -> None:
    with pytest.raises(ValueError, match="expected 16"):
        applicant_ref(lambda n: b"\x00" * (n - 1))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ap_",
        "ap_x",
        "ap_" + "a" * 25,
        "ap_" + "a" * 27,
        "ap_" + "A" * 26,  # upper case
        "ap_" + "a" * 25 + "1",  # not in the base32 alphabet
        "AP_" + "a" * 26,
        "510104199001011234",
        "张三",
        " ap_" + "a" * 26,
        "ap_" + "a" * 26 + "\n",
    ],
)
def test_is_applicant_ref_refuses_anything_but_the_vault_s_format(text: str) -> None:
    assert not is_applicant_ref(text)


def test_is_applicant_ref_accepts_what_applicant_ref_makes() -> None:
    assert all(is_applicant_ref(applicant_ref()) for _ in range(100))


# --- commitments -----------------------------------------------------------------------------


def test_commit_test_vector() -> None:
    # Checked with: printf 'name\0张三' | openssl dgst -sha256 -mac HMAC -macopt hexkey:0001..1f
    assert (
        commit(SECRET, "name", "张三").hex()
        == "cce648e633e8857d11788f64a31cd41e2fae42ba14ecde5b74e83ab953dee36b"
    )
    expected = hmac.new(SECRET, b"id_number\x00" + GB11643_BEIJING.encode(), hashlib.sha256)
    assert commit(SECRET, "id_number", GB11643_BEIJING) == expected.digest()


def test_commit_is_deterministic_per_secret_and_differs_across_secrets() -> None:
    assert commit(SECRET, "name", "张三") == commit(SECRET, "name", "张三")
    assert commit(SECRET, "name", "张三") != commit(OTHER_SECRET, "name", "张三")


def test_commit_is_field_separated() -> None:
    assert commit(SECRET, "name", "北京") != commit(SECRET, "address", "北京")
    # Without the NUL, "name" + "x..." and "namex" + "..." could collide; fields are fixed
    # here, so check the separator is really in the message.
    assert commit(SECRET, "name", "") == hmac.new(SECRET, b"name\x00", hashlib.sha256).digest()


def test_commit_is_nfc_normalised() -> None:
    assert commit(SECRET, "name", "Zoe\u0301") == commit(SECRET, "name", "Zo\u00e9")


def test_commit_refuses_short_secrets_and_unknown_fields() -> None:
    with pytest.raises(PersonalDataError, match="need >= 32"):
        commit(b"short", "name", "张三")
    with pytest.raises(PersonalDataError, match="unknown field"):
        commit(SECRET, "email", "a@b.cn")


def test_commitments_cover_non_empty_fields_in_order() -> None:
    data = PersonalData(name="张三", id_number=GB11643_BEIJING, address="北京")
    made = commitments(SECRET, data)
    assert list(made) == ["name", "id_number", "address"]
    assert made["id_number"] == commit(SECRET, "id_number", GB11643_BEIJING)


def test_verify_commitment_raises_on_mismatch() -> None:
    committed = commit(SECRET, "id_number", GB11643_BEIJING)
    verify_commitment(SECRET, "id_number", GB11643_BEIJING, committed)
    with pytest.raises(CommitmentMismatch) as caught:
        verify_commitment(SECRET, "id_number", GB11643_SHANTOU, committed)
    assert caught.value.field == "id_number"
    with pytest.raises(CommitmentMismatch):
        verify_commitment(OTHER_SECRET, "id_number", GB11643_BEIJING, committed)
    with pytest.raises(CommitmentMismatch):
        verify_commitment(SECRET, "name", GB11643_BEIJING, committed)


# --- masking ---------------------------------------------------------------------------------


def test_mask_id_number_keeps_first_and_last_four() -> None:
    assert mask_id_number("510104199001011234") == "5101**********1234"
    assert mask_id_number(GB11643_BEIJING) == "1101**********002X"
    assert mask_id_number("12345678") == "********"


@pytest.mark.parametrize(
    ("name", "masked"), [("张三丰", "张**"), ("张三", "张*"), ("张", "*"), ("", "")]
)
def test_mask_name_keeps_the_first_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


# --- properties ------------------------------------------------------------------------------

valid_ids = st.builds(
    lambda region, born, sequence: with_check_digit(f"{region}{born:%Y%m%d}{sequence:03d}"),
    st.sampled_from(REGION_CODES),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)),
    st.integers(min_value=0, max_value=999),
)


@given(valid_ids)
def test_any_valid_id_is_accepted(number: str) -> None:
    assert normalize_id_number(number) == number
    assert ric.calc_check_digit(number) == number[-1]


@given(valid_ids, st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=9))
def test_any_single_digit_change_in_the_body_is_refused(
    number: str, position: int, delta: int
) -> None:
    digit = str((int(number[position]) + delta) % 10)
    changed = number[:position] + digit + number[position + 1 :]
    with pytest.raises(InvalidPersonalData) as caught:
        normalize_id_number(changed)
    assert caught.value.field == "id_number"


def test_every_single_digit_change_of_the_standard_example_is_refused() -> None:
    # Exhaustive over one ID: 17 positions x 9 other digits.
    for position, digit in itertools.product(range(17), "0123456789"):
        if GB11643_BEIJING[position] == digit:
            continue
        changed = GB11643_BEIJING[:position] + digit + GB11643_BEIJING[position + 1 :]
        with pytest.raises(InvalidPersonalData):
            normalize_id_number(changed)
