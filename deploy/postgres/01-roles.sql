-- Tongban on PostgreSQL: the roles and the schema (docs/operations.md, Database roles).
-- Run once as a superuser:  psql -v schema=tongban -f 01-roles.sql
-- Then start the node ONCE as tongban_owner (it creates every table and the append function),
-- stop it, run 02-grants.sql, and serve as tongban_node from then on.
-- Passwords: set them with \password, or use certificate or peer authentication (pg_hba.conf).
\set ON_ERROR_STOP on

-- Owns the schema and the ledger tables; used only to create and upgrade them.
CREATE ROLE tongban_owner LOGIN;
-- What the serving node connects as: appends only through <prefix>_append, never UPDATE or
-- DELETE of a ledger row.
CREATE ROLE tongban_node LOGIN;
-- An auditor's role: reads the ledger tables, writes nothing.
CREATE ROLE tongban_auditor LOGIN;

CREATE SCHEMA :"schema" AUTHORIZATION tongban_owner;
REVOKE ALL ON SCHEMA :"schema" FROM PUBLIC;
