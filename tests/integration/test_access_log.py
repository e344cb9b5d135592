"""The whole personal-data access log (``AccessStore.access_log``, ``GET /audit/access``) on
SQLite and PostgreSQL: newest first, paged, filtered by case and by reader, where a body's
filter takes its officers' reads too and nothing else that merely starts with its id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.access import AccessStore, Principal, open_access_store

START = datetime(2026, 3, 1, tzinfo=UTC)
CASE_A, CASE_B = "0d4f0a8e-0000-4000-8000-00000000000a", "0d4f0a8e-0000-4000-8000-00000000000b"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccessStore]:
    if request.param == "sqlite":
        opened = open_access_store("", tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
        opened = open_access_store(url, tmp_path, schema=request.getfixturevalue("postgres_schema"))
    try:
        yield opened
    finally:
        opened.close()


def _read(store: AccessStore, case_id: str, reader: Principal, minutes: int, purpose: str) -> None:
    store.record_access(
        case_id, reader, purpose=purpose, fields="applicant", now=START + timedelta(minutes=minutes)
    )


def test_the_log_is_listed_newest_first_paged_and_filtered(store: AccessStore) -> None:
    officer = Principal("body", "510104-RS", "session:1", "rs-001")
    body = Principal("body", "510104-RS", "t1")
    lookalike = Principal("body", "510104-RSX", "t2")  # starts with the body's id
    _read(store, CASE_A, officer, 1, "核对身份")
    _read(store, CASE_B, body, 2, "电话回访")
    _read(store, CASE_A, lookalike, 3, "补正")

    every, total = store.access_log()
    assert total == 3 and [r.purpose for r in every] == ["补正", "电话回访", "核对身份"]
    page, total = store.access_log(offset=1, limit=1)
    assert total == 3 and [r.purpose for r in page] == ["电话回访"]

    by_case, total = store.access_log(case_id=CASE_A)
    assert total == 2 and {r.subject for r in by_case} == {"510104-RS/rs-001", "510104-RSX"}
    by_body, total = store.access_log(reader="510104-RS")
    assert total == 2 and {r.subject for r in by_body} == {"510104-RS/rs-001", "510104-RS"}
    by_officer, total = store.access_log(reader="510104-RS/rs-001", case_id=CASE_A)
    assert total == 1 and by_officer[0].purpose == "核对身份"
    assert store.access_log(reader="510104-R") == ([], 0)  # a prefix is no body
