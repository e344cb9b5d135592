"""The notices' own paragraphs (``api/page_notices.py``), for the steps the page tests do not
reach through a node (an extension needs a head officer on a 行政许可 item)."""

from __future__ import annotations

import pytest

from api.page_notices import notice_text, notice_title


def test_the_extension_notice_says_how_long_who_approved_and_why() -> None:
    text = notice_text(
        "extended",
        {
            "working_days": 10,
            "approval": "government",
            "reason": "案情复杂",
            "reference": "川府〔2026〕3号",
        },
    )
    assert notice_title("extended") == "延期告知书"
    for words in ("延长 10 个工作日", "本级人民政府", "案情复杂", "川府〔2026〕3号"):
        assert words in text


def test_an_approval_names_no_appeal_and_a_refusal_does() -> None:
    body = {"reasons": [], "basis": "失业保险条例"}
    approved = notice_text("decided:approved", {"result": "approved", **body})
    rejected = notice_text("decided:rejected", {"result": "rejected", **body})
    assert "准予办理" in approved and "行政复议" not in approved
    assert "不予办理" in rejected and "行政复议" in rejected and "行政诉讼" in rejected


def test_what_an_officer_typed_is_escaped() -> None:
    text = notice_text("supplement_requested", {"items": ["<script>x</script>"], "reason": "&"})
    assert "<script>" not in text and "&lt;script&gt;" in text and "&amp;" in text


@pytest.mark.parametrize("step", ["resumed", "form_checked:pass", "accepted"])
def test_a_step_that_tells_the_applicant_nothing_has_no_notice(step: str) -> None:
    assert notice_title(step) is None
    with pytest.raises(ValueError):
        notice_text(step, {})
