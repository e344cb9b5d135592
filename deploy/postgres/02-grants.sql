-- Tongban on PostgreSQL: least privilege, once the owner created the tables
-- (docs/operations.md, Database roles). Run as a superuser or as tongban_owner:
--   psql -v schema=tongban -f 02-grants.sql
-- Run it again after every upgrade that the owner applied (it is idempotent).
\set ON_ERROR_STOP on
SET search_path = :"schema";

-- The node creates the tables of its other stores (tokens, vault, licenses, witness) itself:
-- it may create in the schema, and owns those tables (below). It owns no ledger table.
GRANT USAGE, CREATE ON SCHEMA :"schema" TO tongban_node;
GRANT USAGE ON SCHEMA :"schema" TO tongban_auditor;

-- The ledger: signed objects and their index. The node reads them; it appends only through
-- the function, which runs with the owner's rights (SECURITY DEFINER) and only inserts the
-- next dense indexes. No INSERT, UPDATE, DELETE or TRUNCATE for anyone but the owner.
REVOKE ALL ON tongban_events, tongban_ledger FROM tongban_node, tongban_auditor, PUBLIC;
GRANT SELECT ON tongban_events, tongban_ledger TO tongban_node, tongban_auditor;
REVOKE ALL ON FUNCTION tongban_append(bigint, uuid[], bigint[], text[], bytea[], bytea[], bytea[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tongban_append(bigint, uuid[], bigint[], text[], bytea[], bytea[], bytea[])
    TO tongban_node;

-- The Merkle tree is derived from the ledger (the audit recomputes it): the node advances its
-- state row, caches subtrees, stores checkpoints and their cosignatures.
REVOKE ALL ON tongban_tree, tongban_subtrees, tongban_checkpoints FROM tongban_node, PUBLIC;
GRANT SELECT, UPDATE ON tongban_tree TO tongban_node;
GRANT SELECT, INSERT, DELETE ON tongban_subtrees TO tongban_node;
GRANT SELECT, INSERT, UPDATE ON tongban_checkpoints TO tongban_node;
GRANT SELECT ON tongban_tree, tongban_subtrees, tongban_checkpoints TO tongban_auditor;

-- Every other table of the schema (tokens, access log, vault, licenses, witness state) is
-- the node's own: mutable by design (a token is revoked, personal data erased).
DO $$
DECLARE t record;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
          AND c.relname NOT IN ('tongban_events', 'tongban_ledger', 'tongban_tree',
                                'tongban_subtrees', 'tongban_checkpoints')
    LOOP
        EXECUTE format('ALTER TABLE %I OWNER TO tongban_node', t.relname);
    END LOOP;
END $$;
