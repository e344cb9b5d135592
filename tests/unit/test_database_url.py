"""The node's PostgreSQL URL: one host or several (a primary and its standbys, docs/ha.md),
options such as ``target_session_attrs`` reaching the ledger's pool, passwords never shown."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import InfrastructureFactory

from adapters.bootstrap import ConfigurationError, _redacted, persistence_env
from adapters.postgres_ha import CONNINFO_OPTIONS, PostgresLedgerFactory

HA_URL = (
    "postgresql://node:s3cret@db1:5432,db2:5433/tongban"
    "?target_session_attrs=read-write&sslmode=disable"
)


def test_a_multi_host_url_gives_every_host_and_port_in_order() -> None:
    env = persistence_env(HA_URL)
    assert env["POSTGRES_HOST"] == "db1,db2"
    assert env["POSTGRES_PORT"] == "5432,5433"
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("node", "s3cret")
    assert env["POSTGRES_DBNAME"] == "tongban"
    assert "target_session_attrs=read-write" in env[CONNINFO_OPTIONS]
    assert "sslmode=disable" in env[CONNINFO_OPTIONS]


def test_a_single_host_url_reads_as_before_with_no_options() -> None:
    env = persistence_env("postgresql://postgres@127.0.0.1:5432/test")
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("127.0.0.1", "5432")
    assert CONNINFO_OPTIONS not in env


def test_the_options_reach_the_pool_before_it_opens() -> None:
    factory = InfrastructureFactory.construct(persistence_env(HA_URL))
    try:
        assert isinstance(factory, PostgresLedgerFactory)
        pool = factory.datastore.pool
        assert pool.closed  # nothing connected yet: the first connection has the options
        kwargs = pool.kwargs
        assert isinstance(kwargs, dict)
        assert kwargs["target_session_attrs"] == "read-write"
        assert (kwargs["host"], kwargs["port"]) == ("db1,db2", "5432,5433")
    finally:
        factory.close()


def test_a_malformed_url_is_refused_naming_it_without_its_password() -> None:
    with pytest.raises(ConfigurationError, match="not valid") as refused:
        persistence_env("postgresql://node:s3cret@db1/tongban?no_such_option=1")
    assert "s3cret" not in str(refused.value)


def test_passwords_are_redacted_in_multi_host_urls() -> None:
    assert _redacted(HA_URL).startswith("postgresql://node:***@db1:5432,db2:5433/tongban?")
    assert _redacted("postgresql://node@db1,db2/tongban") == "postgresql://node@db1,db2/tongban"
