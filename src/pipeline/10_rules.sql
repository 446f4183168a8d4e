-- src/pipeline/10_rules.sql: pipelines (workflows), their stages and the
-- allowed moves between stages.  These three tables are the rules the C
-- transition engine (crm.enforce_transition) enforces; they are ordinary
-- tables users edit with SQL, and every change is seen at once by every
-- session through a relcache invalidation (crm.rules_changed).

CREATE TABLE crm.pipeline (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CONSTRAINT pipeline_name_key UNIQUE
                CONSTRAINT pipeline_name_not_blank CHECK (btrim(name) <> '')
                CONSTRAINT pipeline_name_printable CHECK (crm.is_printable(name)),
    object_type text NOT NULL DEFAULT 'deal'
                CONSTRAINT pipeline_object_type_not_blank CHECK (btrim(object_type) <> ''),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.pipeline', '');
SELECT pg_catalog.pg_extension_config_dump('crm.pipeline_id_seq', '');
CREATE TRIGGER pipeline_restore_seed BEFORE INSERT ON crm.pipeline
    FOR EACH ROW EXECUTE FUNCTION crm.replace_seeded_row();
CREATE TRIGGER pipeline_deleted_key AFTER INSERT OR UPDATE OR DELETE ON crm.pipeline
    FOR EACH ROW EXECUTE FUNCTION crm.remember_deleted_key('name');
CREATE UNIQUE INDEX pipeline_one_default_per_object_type
    ON crm.pipeline (object_type) WHERE is_default;
CREATE TRIGGER pipeline_set_updated_at BEFORE UPDATE ON crm.pipeline
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.pipeline IS
    'Workflows: a sales pipeline for deals, or the status workflow of another table (object_type).';
COMMENT ON COLUMN crm.pipeline.object_type IS
    'The table whose rows follow this workflow, by name: deal for sales pipelines, invoice, ticket, or a user table.';
COMMENT ON COLUMN crm.pipeline.is_default IS
    'The workflow new rows of object_type get when they name none; at most one per object_type.';
COMMENT ON COLUMN crm.pipeline.id IS
    'Identity of the pipeline, assigned by the database; stages, moves and deals refer to it as pipeline_id.';
COMMENT ON COLUMN crm.pipeline.name IS
    'Unique name: default, 在线教育销售, ..., or the table name for the sales workflows.';
COMMENT ON COLUMN crm.pipeline.created_at IS 'When the pipeline was inserted (now() unless given).';
COMMENT ON COLUMN crm.pipeline.updated_at IS
    'When the pipeline last changed (set by crm.set_updated_at, on every UPDATE).';

CREATE TABLE crm.stage (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline_id       bigint NOT NULL REFERENCES crm.pipeline ON DELETE CASCADE,
    key               text NOT NULL
                      CONSTRAINT stage_key_format CHECK (key <> '' AND key = btrim(key) AND octet_length(key) <= 63)
                      CONSTRAINT stage_key_printable CHECK (crm.is_printable(key)),
    label             text NOT NULL CONSTRAINT stage_label_not_blank CHECK (btrim(label) <> '')
                      CONSTRAINT stage_label_printable CHECK (crm.is_printable(label)),
    position          integer NOT NULL,
    probability       numeric NOT NULL
                      CONSTRAINT stage_probability_range CHECK (probability BETWEEN 0 AND 1),
    kind              text NOT NULL DEFAULT 'open'
                      CONSTRAINT stage_kind_valid CHECK (kind IN ('open', 'won', 'lost')),
    forecast_category text NOT NULL DEFAULT 'pipeline'
                      CONSTRAINT stage_forecast_category_valid
                      CHECK (forecast_category IN ('pipeline', 'best_case', 'commit', 'closed', 'omitted')),
    required_fields   text[] NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stage_pipeline_key UNIQUE (pipeline_id, key),
    CONSTRAINT stage_probability_matches_kind CHECK (
        (kind = 'won' AND probability = 1) OR (kind = 'lost' AND probability = 0) OR kind = 'open')
);
SELECT pg_catalog.pg_extension_config_dump('crm.stage', '');
SELECT pg_catalog.pg_extension_config_dump('crm.stage_id_seq', '');
CREATE TRIGGER stage_restore_seed BEFORE INSERT ON crm.stage
    FOR EACH ROW EXECUTE FUNCTION crm.replace_seeded_row();
CREATE TRIGGER stage_deleted_key AFTER INSERT OR UPDATE OR DELETE ON crm.stage
    FOR EACH ROW EXECUTE FUNCTION crm.remember_deleted_key('pipeline_id', 'key');
CREATE TRIGGER stage_set_updated_at BEFORE UPDATE ON crm.stage
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.stage IS 'The stages of each pipeline, in position order.';
COMMENT ON COLUMN crm.stage.key IS 'Identifier of the stage within its pipeline; the value stored in crm.deal.stage.';
COMMENT ON COLUMN crm.stage.label IS 'Display name, any UTF-8 text (新线索, Qualified, ...).';
COMMENT ON COLUMN crm.stage.probability IS 'Chance of winning a deal in this stage, 0..1; 1 for won, 0 for lost.';
COMMENT ON COLUMN crm.stage.kind IS 'open, won or lost; entering won or lost closes the record.';
COMMENT ON COLUMN crm.stage.forecast_category IS 'pipeline, best_case, commit, closed or omitted.';
COMMENT ON COLUMN crm.stage.required_fields IS
    'Columns of the record that must be set (not NULL, not blank) to enter this stage.';
COMMENT ON COLUMN crm.stage.id IS
    'Identity of the stage row, assigned by the database (rules and deals use pipeline_id and key).';
COMMENT ON COLUMN crm.stage.pipeline_id IS 'The pipeline the stage belongs to (crm.pipeline.id).';
COMMENT ON COLUMN crm.stage.position IS
    'Order of the stage within its pipeline, lowest first; funnels and reports sort by it.';
COMMENT ON COLUMN crm.stage.created_at IS 'When the stage was inserted (now() unless given).';
COMMENT ON COLUMN crm.stage.updated_at IS
    'When the stage last changed (set by crm.set_updated_at, on every UPDATE).';

CREATE TABLE crm.stage_transition (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline_id bigint NOT NULL,
    from_stage  text NOT NULL,
    to_stage    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stage_transition_unique UNIQUE (pipeline_id, from_stage, to_stage),
    CONSTRAINT stage_transition_not_to_itself CHECK (from_stage <> to_stage),
    CONSTRAINT stage_transition_from_fkey FOREIGN KEY (pipeline_id, from_stage)
        REFERENCES crm.stage (pipeline_id, key) ON DELETE CASCADE,
    CONSTRAINT stage_transition_to_fkey FOREIGN KEY (pipeline_id, to_stage)
        REFERENCES crm.stage (pipeline_id, key) ON DELETE CASCADE
);
SELECT pg_catalog.pg_extension_config_dump('crm.stage_transition', '');
SELECT pg_catalog.pg_extension_config_dump('crm.stage_transition_id_seq', '');
CREATE TRIGGER stage_transition_restore_seed BEFORE INSERT ON crm.stage_transition
    FOR EACH ROW EXECUTE FUNCTION crm.replace_seeded_row();
CREATE TRIGGER stage_transition_deleted_key AFTER INSERT OR UPDATE OR DELETE ON crm.stage_transition
    FOR EACH ROW EXECUTE FUNCTION crm.remember_deleted_key('pipeline_id', 'from_stage', 'to_stage');
CREATE INDEX stage_transition_to_idx ON crm.stage_transition (pipeline_id, to_stage);
CREATE TRIGGER stage_transition_set_updated_at BEFORE UPDATE ON crm.stage_transition
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.stage_transition IS
    'Allowed moves between stages of a pipeline, by stage key; any move not listed is refused.';
COMMENT ON COLUMN crm.stage_transition.id IS 'Identity of the rule, assigned by the database.';
COMMENT ON COLUMN crm.stage_transition.pipeline_id IS 'The pipeline the move belongs to (crm.pipeline.id).';
COMMENT ON COLUMN crm.stage_transition.from_stage IS 'Key of the stage the move starts from (crm.stage.key).';
COMMENT ON COLUMN crm.stage_transition.to_stage IS
    'Key of the stage the move may go to (crm.stage.key); never from_stage itself.';
COMMENT ON COLUMN crm.stage_transition.created_at IS 'When the rule was inserted (now() unless given).';
COMMENT ON COLUMN crm.stage_transition.updated_at IS
    'When the rule last changed (set by crm.set_updated_at, on every UPDATE).';

-- Every change to the rules invalidates the engine's per-session cache.
CREATE FUNCTION crm.rules_changed() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_rules_changed';
COMMENT ON FUNCTION crm.rules_changed() IS
    'Statement trigger on the rule tables: makes every session reload the transition rules.';
CREATE TRIGGER pipeline_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.pipeline
    FOR EACH STATEMENT EXECUTE FUNCTION crm.rules_changed();
CREATE TRIGGER stage_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.stage
    FOR EACH STATEMENT EXECUTE FUNCTION crm.rules_changed();
CREATE TRIGGER stage_transition_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.stage_transition
    FOR EACH STATEMENT EXECUTE FUNCTION crm.rules_changed();

-- The transition engine, used as a BEFORE INSERT OR UPDATE row trigger.
CREATE FUNCTION crm.enforce_transition() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_enforce_transition';
COMMENT ON FUNCTION crm.enforce_transition() IS
    'BEFORE INSERT OR UPDATE row trigger enforcing a workflow. Arguments: the state column, then either '
    'the column holding the pipeline id or the name of a pipeline (workflow) used for every row.';

-- Its companion AFTER row trigger, writing one history row per move.
CREATE FUNCTION crm.record_transition() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_record_transition';
COMMENT ON FUNCTION crm.record_transition() IS
    'AFTER INSERT OR UPDATE row trigger writing state history. Arguments: the history table, its column '
    'referencing the record, the state column, and the pipeline column or workflow name.';

CREATE FUNCTION crm.create_pipeline(name text, open_stages text[], won text DEFAULT 'won',
                                    lost text DEFAULT 'lost')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
    n integer := coalesce(array_length(open_stages, 1), 0);
    i integer;
BEGIN
    IF name IS NULL OR btrim(name) = '' THEN
        RAISE EXCEPTION 'pipeline name must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF n = 0 THEN
        RAISE EXCEPTION 'pipeline "%" needs at least one open stage', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the open stages in order, as in ARRAY[''lead'', ''qualified''].';
    END IF;
    IF won IS NULL OR lost IS NULL OR won = lost
       OR won = ANY (open_stages) OR lost = ANY (open_stages)
       OR array_position(open_stages, NULL) IS NOT NULL
       OR (SELECT count(DISTINCT s) FROM unnest(open_stages) s) <> n THEN
        RAISE EXCEPTION 'stage keys of pipeline "%" must be distinct and not null', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Open stages %s, won stage %L, lost stage %L.', open_stages, won, lost);
    END IF;

    INSERT INTO crm.pipeline (name) VALUES (create_pipeline.name) RETURNING id INTO new_id;
    FOR i IN 1 .. n LOOP
        INSERT INTO crm.stage (pipeline_id, key, label, position, probability, kind, forecast_category)
        VALUES (new_id, open_stages[i], open_stages[i], i,
                round(i::numeric / (n + 1), 2), 'open',
                CASE WHEN i = n AND n > 1 THEN 'commit' WHEN i > n / 2 THEN 'best_case' ELSE 'pipeline' END);
    END LOOP;
    INSERT INTO crm.stage (pipeline_id, key, label, position, probability, kind, forecast_category)
    VALUES (new_id, won, won, n + 1, 1, 'won', 'closed'),
           (new_id, lost, lost, n + 2, 0, 'lost', 'omitted');
    INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
    SELECT new_id, open_stages[g.k], CASE WHEN g.k < n THEN open_stages[g.k + 1] ELSE won END
      FROM generate_series(1, n) AS g(k)
    UNION ALL
    SELECT new_id, open_stages[g.k], lost FROM generate_series(1, n) AS g(k);
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION crm.create_pipeline(text, text[], text, text) IS
    'Creates a linear deal pipeline: each open stage moves to the next, the last to won, every open stage to lost. Returns its id.';

SELECT crm.create_pipeline('default', ARRAY['lead', 'qualified', 'negotiation']);
UPDATE crm.pipeline SET is_default = true WHERE name = 'default';
UPDATE crm.stage SET label = initcap(key) WHERE pipeline_id = (SELECT id FROM crm.pipeline WHERE name = 'default');

GRANT SELECT ON crm.pipeline, crm.stage, crm.stage_transition TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.pipeline, crm.stage, crm.stage_transition TO crm_admin;
REVOKE EXECUTE ON FUNCTION crm.create_pipeline(text, text[], text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.create_pipeline(text, text[], text, text) TO crm_admin;
-- The engine's triggers: crm_admin may attach them to tables of its own
-- (record_transition then writes only history tables the table's owner may
-- write); nobody else may create triggers with them.
REVOKE EXECUTE ON FUNCTION crm.rules_changed(), crm.enforce_transition(), crm.record_transition() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.enforce_transition(), crm.record_transition() TO crm_admin;
