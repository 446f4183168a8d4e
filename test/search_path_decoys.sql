-- test/search_path_decoys.sql: pg_temp tables named like crm's, holding rows
-- that would mislead the C code if it ever read them instead of crm's (a
-- lead stage that is won, no allowed moves, shadow@example.com suppressed,
-- a forged welcome template), for sql/integrity.sql and
-- test/t/010_search_path.pl.  Run in each session, from the top of the tree.
CREATE TEMP TABLE pipeline (id bigint, name text, object_type text, is_default boolean);
INSERT INTO pipeline VALUES (1, 'default', 'deal', true);
CREATE TEMP TABLE stage (pipeline_id bigint, key text, label text, position int, kind text,
                         probability numeric, required_fields text[]);
INSERT INTO stage VALUES (1, 'lead', 'Lead', 1, 'won', 1, '{}');
CREATE TEMP TABLE stage_transition (pipeline_id bigint, from_stage text, to_stage text);
CREATE TEMP TABLE deal_stage_history (deal_id bigint);
CREATE TEMP TABLE email_suppression (address text);
INSERT INTO email_suppression VALUES ('shadow@example.com');
CREATE TEMP TABLE email_template (key text, subject text, body_text text, body_html text);
INSERT INTO email_template VALUES ('welcome', 'FORGED', 'FORGED', NULL);
CREATE TEMP TABLE email_outbox (id bigint);
