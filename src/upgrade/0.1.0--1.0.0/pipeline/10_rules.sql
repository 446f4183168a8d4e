-- Before src/pipeline/10_rules.sql is replayed on a 0.1.0 database: keys
-- and names are printable (crm.is_printable, from src/core/core.sql).
ALTER TABLE crm.pipeline ADD CONSTRAINT pipeline_name_printable CHECK (crm.is_printable(name));
ALTER TABLE crm.stage ADD CONSTRAINT stage_key_printable CHECK (crm.is_printable(key)),
                      ADD CONSTRAINT stage_label_printable CHECK (crm.is_printable(label));
