"""PostgreSQL is reachable and we can create and drop what we need."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.postgres


def test_connect_create_insert_drop(postgres_url: str, postgres_schema: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{postgres_schema}".smoke (id int PRIMARY KEY, note text)')
        conn.execute(f'INSERT INTO "{postgres_schema}".smoke VALUES (1, %s)', ("通办",))
        row = conn.execute(f'SELECT note FROM "{postgres_schema}".smoke WHERE id = 1').fetchone()
        assert row == ("通办",)
        conn.execute(f'DROP TABLE "{postgres_schema}".smoke')
        gone = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
            (postgres_schema,),
        ).fetchone()
        assert gone == (0,)
