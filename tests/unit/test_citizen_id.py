"""The one citizen-ID rule (GB 11643): every caller gives the same verdict."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from ledger.citizen_id import (
    EARLIEST_BIRTH_DATE,
    check_character,
    citizen_id_problem,
    make_citizen_id,
    region_codes,
)
from ledger.personal import InvalidPersonalData, find_personal_data, normalize_id_number
from licenses.errors import InvalidIdentifier
from licenses.identifiers import HolderKind, parse_holder_code

TODAY = date(2026, 12, 7)
# Real-world shapes stdnum.cn.ric.validate refuses (county code not in force in the birth
# year) and this rule accepts: a Chengdu 锦江区 number, and GB 11643-1999's own example.
CHENGDU = "510104198807235183"
GB11643_SHANTOU = "440524188001010014"
GB11643_BEIJING = "11010519491231002X"


def reason(number: str, today: date | None = TODAY) -> str | None:
    problem = citizen_id_problem(number, today=today)
    return problem.reason if problem else None


@pytest.mark.parametrize("number", [CHENGDU, GB11643_SHANTOU, GB11643_BEIJING])
def test_real_numbers_are_valid_though_stdnum_refuses_two(number: str) -> None:
    assert citizen_id_problem(number, today=TODAY) is None
    assert normalize_id_number(number, today=TODAY) == number
    assert parse_holder_code(number, "ric").value == number


def test_stdnum_birth_year_rule_is_not_used() -> None:
    assert not ric.is_valid(CHENGDU)
    assert not ric.is_valid(GB11643_SHANTOU)


def test_check_character_is_mod_11_2() -> None:
    assert check_character("11010519491231002") == "X"
    assert check_character("44052418800101001") == "4"
    assert check_character("51010419880723518") == "3"
    with pytest.raises(ValueError, match="17 ASCII digits"):
        check_character("1101051949123100")


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_agrees_with_stdnum(first17: str) -> None:
    assert check_character(first17) == ric.calc_check_digit(first17 + "0")


def test_check_character_comes_before_date_and_region() -> None:
    # A wrong check character means a mistyped digit: the date read from it means nothing.
    assert reason("110105194913310029") == "bad_check_character"


@pytest.mark.parametrize(
    ("born", "expected"),
    [
        (date(1799, 12, 31), "bad_birth_date"),
        (EARLIEST_BIRTH_DATE, None),
        (TODAY, None),
        (date(2026, 12, 8), "bad_birth_date"),
        (date(2098, 1, 1), "bad_birth_date"),
    ],
)
def test_birth_date_from_1800_to_today(born: date, expected: str | None) -> None:
    first17 = f"510104{born:%Y%m%d}001"
    assert reason(first17 + check_character(first17)) == expected


def test_not_a_calendar_date() -> None:
    first17 = "11010519490229002"
    assert reason(first17 + check_character(first17)) == "bad_birth_date"


def test_without_today_the_system_clock_decides() -> None:
    # Without ``today`` the system clock decides; the far future is refused whatever the day.
    first17 = "51010421000101001"
    assert reason(first17 + check_character(first17), today=None) == "bad_birth_date"


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("510104", None),  # 锦江区, in force
        ("110104", None),  # 宣武区, retired 2010: codes of any year count
        ("440524", None),  # 潮阳县, 1983-1993
        ("810000", None),
        ("110199", "bad_region"),  # Beijing, but a code nobody ever had
        ("830000", "bad_region"),  # not in stdnum's table (docs/license.md §3.5)
        ("990000", "bad_region"),
    ],
)
def test_region_code_of_any_year(region: str, expected: str | None) -> None:
    first17 = f"{region}19900101001"
    assert reason(first17 + check_character(first17)) == expected


def test_region_codes_come_from_stdnum_table() -> None:
    codes = region_codes()
    assert len(codes) > 6000
    assert all(len(code) == 6 and code.isdigit() for code in codes)


@pytest.mark.parametrize("number", ["", "11010519491231002", "11010519491231002x", "１" * 18])
def test_malformed(number: str) -> None:
    assert reason(number) == "malformed"


def test_details_never_repeat_the_number() -> None:
    for first17 in ("11010519491331002", "11019919491231002", "11010521001231002"):
        for number in (first17 + check_character(first17), first17 + "0"):
            problem = citizen_id_problem(number, today=TODAY)
            assert problem is not None
            assert first17[:6] not in problem.detail
            assert first17[6:14] not in problem.detail


def test_make_citizen_id() -> None:
    assert make_citizen_id("440524", date(1880, 1, 1), 1) == GB11643_SHANTOU
    with pytest.raises(ValueError, match="region"):
        make_citizen_id("990000", date(1990, 1, 1), 1)


numbers = st.builds(
    lambda region, born, sequence, last: f"{region}{born:%Y%m%d}{sequence:03d}{last}",
    st.sampled_from(["510104", "440524", "110199", "830000", "110104", "320105"]),
    st.dates(min_value=date(1790, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(min_value=0, max_value=999),
    st.sampled_from("0123456789X"),
)


@given(numbers)
def test_applicant_data_and_license_holders_agree(number: str) -> None:
    verdict = reason(number)
    try:
        normalize_id_number(number, today=TODAY)
        applicant_ok = True
    except InvalidPersonalData:
        applicant_ok = False
    assert applicant_ok == (verdict is None)
    if verdict is None and number[-1] == check_character(number[:17]):
        # The license parser reads the clock: only dates well in the past are compared.
        if int(number[6:10]) < 2026:
            assert parse_holder_code(number, HolderKind.RIC).value == number
    elif verdict is not None and verdict != "bad_birth_date":
        with pytest.raises(InvalidIdentifier) as caught:
            parse_holder_code(number, HolderKind.RIC)
        assert caught.value.reason == verdict


@given(numbers)
def test_free_text_screen_uses_the_check_character_alone(number: str) -> None:
    # A screen errs towards finding: a number whose date or region the rule refuses is still
    # flagged when its check character is right.
    found = find_personal_data(f"电话 {number} 谢谢")
    assert (found == "a resident ID number") == (number[-1] == check_character(number[:17]))
