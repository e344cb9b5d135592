"""Shared fixtures: the PostgreSQL database for integration tests.

PostgreSQL tests read ``TONGBAN_TEST_POSTGRES_URL``. In CI (``CI=true``) an unreachable database
fails the run; elsewhere those tests skip with a one-line reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.support.live import running_servers, stop_servers_except

DEFAULT_TEST_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A reachable PostgreSQL URL, or skip (fail in CI)."""
    url = os.environ.get("TONGBAN_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as error:
        reason = f"PostgreSQL unreachable at {url}: {str(error).strip().splitlines()[0]}"
        if _in_ci():
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh, empty schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(autouse=True)
def _no_server_outlives_its_test() -> Iterator[None]:
    """Whatever a test did, the ``tongban serve`` processes it started are stopped after it
    (servers of module- or session-scoped fixtures, running before it, are theirs to stop)."""
    before = running_servers()
    yield
    stop_servers_except(before)
