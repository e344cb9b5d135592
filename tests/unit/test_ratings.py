"""Ratings (好差评) and rectification through ``take_step``, the rating code and the
rectification deadlines on the region's published calendar."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from adapters.calendar_seed import seed_year
from ledger.calendars import CalendarBook, china_date
from ledger.errors import LedgerError, MalformedEncoding
from ledger.keys import NODE_OFFICER
from ledger.ratings.code import code_commitment, code_proof, new_rating_code, normalize_code
from ledger.ratings.rectification import rectification_limits, rectification_stages
from tests.support.cases import COMBOS, OFFICERS, UnitCase, body_for

ONLINE = COMBOS[0]  # online-single, intake = home = rs-001
PROXY = COMBOS[2]  # proxy-single, intake js-001, home rs-001
CODE = "7K3M-9QXW-2RTB-H4ZD"


def delivered(combo: Any = ONLINE, *, with_code: bool = True) -> UnitCase:
    case = UnitCase(combo)
    received = combo.received_body()
    if with_code:
        received["rating_code"] = code_commitment(case.case_id, CODE)
    case.take(combo.intake, "received", received)
    case.take(combo.intake, "form_checked:pass")
    if combo.channel == "proxy":
        case.take(combo.intake, "mailed:window_to_home")
        case.take(combo.home, "arrived")
    case.take(combo.home, "accepted")
    case.take(combo.home, "decided:approved")
    case.take(combo.home, "delivered:online")
    assert case.state == "delivered"
    return case


def node_rating(case: UnitCase, level: str, code: str = CODE, **extra: Any) -> Any:
    body = {"level": level, "channel": "code", "code_proof": code_proof(case.case_id, code)}
    body.update(extra)
    # The node signs under the home body with the reserved officer id.
    OFFICERS.setdefault(NODE_OFFICER, "510104-RS")
    try:
        return case.take(NODE_OFFICER, f"rated:{level}", body)
    finally:
        del OFFICERS[NODE_OFFICER]


def refused(error: pytest.ExceptionInfo[LedgerError]) -> tuple[str, str | None]:
    return error.value.reason, error.value.field


# -- the code ---------------------------------------------------------------------------------


def test_a_new_code_is_16_crockford_characters_in_groups() -> None:
    code = new_rating_code()
    assert len(code) == 19 and code.count("-") == 3
    assert normalize_code(code) == code.replace("-", "")


def test_code_is_read_as_typed() -> None:
    assert normalize_code("7k3m 9qxw-2rtb-h4zd") == "7K3M9QXW2RTBH4ZD"
    assert normalize_code("O1IL" * 4) == "0111" * 4


@pytest.mark.parametrize("text", ["", "7K3M-9QXW", "7K3M-9QXW-2RTB-H4ZU", "7K3M9QXW2RTBH4ZD0"])
def test_malformed_codes_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(MalformedEncoding) as error:
        normalize_code(text)
    assert error.value.field == "code"


def test_commitment_binds_the_case() -> None:
    case = UnitCase(ONLINE)
    other = UnitCase(ONLINE)
    assert code_commitment(case.case_id, CODE) != code_commitment(other.case_id, CODE)
    assert code_proof(case.case_id, CODE) == code_proof(case.case_id, CODE.lower())


# -- ratings ----------------------------------------------------------------------------------


def test_node_signed_rating_with_the_right_code() -> None:
    case = delivered()
    flow = node_rating(case, "very_satisfied", comment="办得快")
    assert flow.rating == "rated" and flow.state == "delivered"


def test_wrong_code_is_refused() -> None:
    case = delivered()
    with pytest.raises(LedgerError) as error:
        node_rating(case, "satisfied", code="AAAA-AAAA-AAAA-AAAA")
    assert refused(error) == ("bad_rating_code", "body.code_proof")


def test_a_case_without_a_rating_code_cannot_be_rated_by_code() -> None:
    case = delivered(with_code=False)
    with pytest.raises(LedgerError) as error:
        node_rating(case, "satisfied")
    assert refused(error) == ("bad_rating_code", "body.code_proof")


def test_reused_code_is_refused() -> None:
    case = delivered()
    node_rating(case, "satisfied")
    with pytest.raises(LedgerError) as error:
        node_rating(case, "very_satisfied")
    assert refused(error) == ("illegal_step", "type")
    assert "already rated" in str(error.value)


def test_rating_before_delivery_is_refused() -> None:
    case = UnitCase(ONLINE)
    case.take("rs-001", "received", ONLINE.received_body())
    case.take("rs-001", "form_checked:pass")
    case.take("rs-001", "accepted")
    with pytest.raises(LedgerError) as error:
        case.take("rs-001", "rated:satisfied")
    assert refused(error) == ("illegal_step", "type")
    assert "delivered or it was refused" in str(error.value)


def test_a_refused_case_can_be_rated() -> None:
    case = UnitCase(ONLINE)
    case.take("rs-001", "received", ONLINE.received_body())
    case.take("rs-001", "form_checked:refused")
    assert case.take("rs-001", "rated:basically_satisfied").rating == "rated"


@pytest.mark.parametrize(
    "comment", ["我的电话13812345678", "身份证11010519491231002X", "电话１３８１２３４５６７８"]
)
def test_personal_data_in_the_comment_is_refused(comment: str) -> None:
    case = delivered()
    with pytest.raises(MalformedEncoding) as error:
        case.take(
            "rs-001", "rated:dissatisfied", {**body_for("rated:dissatisfied"), "comment": comment}
        )
    assert error.value.field == "body.comment"


def test_window_rating_is_recorded_by_the_intake_or_home_body() -> None:
    case = delivered(PROXY)
    flow = case.take("js-001", "rated:satisfied")  # the Jiangsu window
    assert flow.rating == "rated"


def test_another_body_cannot_record_a_rating() -> None:
    case = delivered()
    with pytest.raises(LedgerError) as error:
        case.take("cdrs-001", "rated:satisfied")
    assert refused(error) == ("not_entitled", "actor.body")


def test_an_officer_cannot_sign_a_code_rating() -> None:
    case = delivered()
    body = {"level": "satisfied", "channel": "online", "code_proof": code_proof(case.case_id, CODE)}
    with pytest.raises(LedgerError) as error:
        case.take("rs-001", "rated:satisfied", body)
    assert refused(error) == ("not_entitled", "actor.officer")


def test_the_node_cannot_sign_a_window_rating_nor_any_other_step() -> None:
    case = delivered()
    OFFICERS[NODE_OFFICER] = "510104-RS"
    try:
        with pytest.raises(LedgerError) as error:
            case.take(NODE_OFFICER, "rated:satisfied")
        assert refused(error) == ("not_entitled", "actor.officer")
        with pytest.raises(LedgerError) as error:
            case.take(NODE_OFFICER, "reopened")
        assert refused(error) == ("not_entitled", "actor.officer")
    finally:
        del OFFICERS[NODE_OFFICER]


def test_a_window_rating_carries_no_code_proof() -> None:
    case = delivered()
    body = {**body_for("rated:satisfied"), "code_proof": bytes(32)}
    with pytest.raises(LedgerError) as error:
        case.take("rs-001", "rated:satisfied", body)
    assert refused(error) == ("illegal_step", "body.code_proof")


# -- rectification ----------------------------------------------------------------------------


def test_a_poor_rating_opens_a_rectification_that_runs_to_its_end() -> None:
    case = delivered()
    assert node_rating(case, "very_dissatisfied").rating == "verifying"
    assert case.take("rs-001", "rectification_verified:upheld").rating == "rectifying"
    assert case.take("rs-001", "rectified").rating == "following_up"
    assert case.take("rs-001", "followed_up").rating == "closing"
    assert case.take("rs-001", "rectification_closed").rating == "rectification_closed"
    assert case.state == "delivered"


def test_an_unfounded_complaint_goes_to_follow_up() -> None:
    case = delivered()
    case.take("rs-001", "rated:dissatisfied")
    assert case.take("rs-001", "rectification_verified:not_upheld").rating == "following_up"


@pytest.mark.parametrize("step", ["rectified", "followed_up", "rectification_closed"])
def test_rectification_out_of_order_is_refused(step: str) -> None:
    case = delivered()
    case.take("rs-001", "rated:dissatisfied")
    with pytest.raises(LedgerError) as error:
        case.take("rs-001", step)
    assert refused(error) == ("illegal_step", "type")
    assert "rating state 'verifying' allows next: rectification_verified" in str(error.value)


def test_no_rectification_after_a_good_rating() -> None:
    case = delivered()
    case.take("rs-001", "rated:satisfied")
    with pytest.raises(LedgerError) as error:
        case.take("rs-001", "rectification_verified:upheld")
    assert refused(error) == ("illegal_step", "type")


def test_rectification_is_the_rated_home_bodys() -> None:
    case = delivered(PROXY)
    case.take("js-001", "rated:dissatisfied")
    with pytest.raises(LedgerError) as error:
        case.take("js-001", "rectification_verified:upheld")
    assert refused(error) == ("not_entitled", "actor.body")


# -- calendar and deadlines -------------------------------------------------------------------


CALENDAR = CalendarBook([seed_year("510000", 2026)]).for_place("510000", "510104")
WED_2026_09_30 = 1_790_697_600_000_000  # 2026-09-30T00:00:00+08:00
WED_2026_12_30 = 1_798_560_000_000_000  # 2026-12-30T00:00:00+08:00


def test_a_verify_stage_across_national_day_2026_counts_the_make_up_saturday() -> None:
    """A 差评 received Wed 2026-09-30: 10-01–10-07 are holidays (weekdays 10-01, 10-02,
    10-05–10-07), so 3 working days are Thu 10-08 (1), Fri 10-09 (2) and the make-up Saturday
    10-10 (3). Weekends only would have said Mon 10-05, a holiday."""
    assert china_date(WED_2026_09_30) == date(2026, 9, 30)
    case = delivered()
    rated = case.envelope("rs-001", "rated:dissatisfied")
    (verify,) = rectification_stages(
        [(rated, WED_2026_09_30)], rectification_limits("510000"), CALENDAR
    )
    assert (verify.started, verify.deadline, verify.provisional) == (
        date(2026, 9, 30),
        date(2026, 10, 10),
        False,
    )
    assert not verify.late(date(2026, 10, 10)) and verify.late(date(2026, 10, 11))


def test_a_stage_reaching_an_unpublished_year_is_provisional() -> None:
    """Rated Wed 2026-12-30, 2027 not published: 12-31 (1), Fri 2027-01-01 (2, counted as a
    weekday: nobody has said it is a holiday yet), Mon 01-04 (3), provisional."""
    assert china_date(WED_2026_12_30) == date(2026, 12, 30)
    case = delivered()
    rated = case.envelope("rs-001", "rated:very_dissatisfied")
    (verify,) = rectification_stages(
        [(rated, WED_2026_12_30)], rectification_limits("510000"), CALENDAR
    )
    assert (verify.deadline, verify.provisional) == (date(2027, 1, 4), True)
    assert verify.as_dict()["provisional"] is True


def test_china_date_of_a_receipt_time() -> None:
    # 2026-01-01T16:00:00Z is already 2 January in China.
    assert china_date(1_767_283_200_000_000) == date(2026, 1, 2)
    assert china_date(1_767_283_199_000_000) == date(2026, 1, 1)


def test_limits_are_data_with_a_default() -> None:
    assert rectification_limits("510000") == {
        "verify": 3,
        "rectify": 15,
        "follow_up": 5,
        "close": 2,
    }


DAY = 86_400_000_000
MON_2026_11_02 = 1_793_548_800_000_000  # 2026-11-02T00:00:00+08:00 (Monday)


def test_stages_and_lateness_from_receipt_times() -> None:
    case = delivered()
    # rectification_stages reads only each step's type and body, with its receipt time.
    steps = [
        case.envelope("rs-001", step)
        for step in ("rated:dissatisfied", "rectification_verified:upheld", "rectified")
    ]
    times = [MON_2026_11_02, MON_2026_11_02 + 4 * DAY, MON_2026_11_02 + 30 * DAY]
    stages = rectification_stages(
        zip(steps, times, strict=True), rectification_limits("510000"), CALENDAR
    )
    verify, rectify, follow_up = stages
    assert (verify.started, verify.deadline, verify.ended) == (
        date(2026, 11, 2),
        date(2026, 11, 5),
        date(2026, 11, 6),
    )
    assert verify.late(date(2026, 12, 31))
    assert rectify.deadline == date(2026, 11, 27) and rectify.ended == date(2026, 12, 2)
    assert rectify.late(date(2026, 12, 2))
    assert follow_up.ended is None and follow_up.deadline == date(2026, 12, 9)
    assert not follow_up.late(date(2026, 12, 9)) and follow_up.late(date(2026, 12, 10))


def test_a_good_rating_has_no_stage() -> None:
    case = delivered()
    steps = [case.envelope("rs-001", "rated:satisfied")]
    limits = rectification_limits("510000")
    assert rectification_stages([(steps[0], MON_2026_11_02)], limits, CALENDAR) == []
