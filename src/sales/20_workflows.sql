-- src/sales/20_workflows.sql: the status workflows of quotes, sales orders,
-- invoices and tickets, as rows of the transition engine's rule tables.
--
-- Each is a crm.pipeline named after its table (object_type = the table),
-- attached to the table's status column with crm.enforce_transition(
-- 'status', '<name>') and crm.record_transition(...) in the files that
-- follow.  Kinds: the successful end of each workflow is 'won' (accepted,
-- completed, paid, closed), the other ends are 'lost' (rejected, expired,
-- cancelled, void); the engine stamps closed_at on entering either and
-- status_entered_at on every move.  Lost ends need a reason, named by the
-- stage's required_fields (rejection_reason, cancel_reason, void_reason),
-- since these tables have no lost_reason column.  Open stages carry
-- probability 0 (these tables have no probability column; won is 1, lost
-- 0 as crm.stage requires).  Labels may be edited (e.g. translated); the
-- sales functions rely on the keys and moves below.

INSERT INTO crm.pipeline (name, object_type)
VALUES ('quote', 'quote'), ('sales_order', 'sales_order'), ('invoice', 'invoice'), ('ticket', 'ticket');

INSERT INTO crm.stage (pipeline_id, key, label, position, probability, kind, forecast_category, required_fields)
SELECT p.id, s.key, s.label, s.position, CASE s.kind WHEN 'won' THEN 1 ELSE 0 END, s.kind,
       CASE s.kind WHEN 'won' THEN 'closed' WHEN 'lost' THEN 'omitted' ELSE 'pipeline' END, s.required
  FROM (VALUES
        ('quote', 'draft', 'Draft', 1, 'open', '{}'::text[]),
        ('quote', 'sent', 'Sent', 2, 'open', '{valid_until}'),
        ('quote', 'accepted', 'Accepted', 3, 'won', '{}'),
        ('quote', 'rejected', 'Rejected', 4, 'lost', '{rejection_reason}'),
        ('quote', 'expired', 'Expired', 5, 'lost', '{}'),
        ('sales_order', 'confirmed', 'Confirmed', 1, 'open', '{}'),
        ('sales_order', 'delivered', 'Delivered', 2, 'open', '{delivered_at}'),
        ('sales_order', 'completed', 'Completed', 3, 'won', '{}'),
        ('sales_order', 'cancelled', 'Cancelled', 4, 'lost', '{cancel_reason}'),
        ('invoice', 'draft', 'Draft', 1, 'open', '{}'),
        ('invoice', 'issued', 'Issued', 2, 'open', '{}'),
        ('invoice', 'partially_paid', 'Partially paid', 3, 'open', '{}'),
        ('invoice', 'paid', 'Paid', 4, 'won', '{}'),
        ('invoice', 'void', 'Void', 5, 'lost', '{void_reason}'),
        ('ticket', 'open', 'Open', 1, 'open', '{}'),
        ('ticket', 'in_progress', 'In progress', 2, 'open', '{}'),
        ('ticket', 'waiting', 'Waiting', 3, 'open', '{}'),
        ('ticket', 'resolved', 'Resolved', 4, 'open', '{}'),
        ('ticket', 'closed', 'Closed', 5, 'won', '{}')
       ) AS s(workflow, key, label, position, kind, required)
  JOIN crm.pipeline p ON p.name = s.workflow AND p.object_type = s.workflow;

INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
SELECT p.id, t.from_stage, t.to_stage
  FROM (VALUES
        ('quote', 'draft', 'sent'),
        ('quote', 'sent', 'accepted'),
        ('quote', 'sent', 'rejected'),
        ('quote', 'sent', 'expired'),
        ('sales_order', 'confirmed', 'delivered'),
        ('sales_order', 'delivered', 'completed'),
        ('sales_order', 'confirmed', 'cancelled'),
        ('invoice', 'draft', 'issued'),
        ('invoice', 'draft', 'void'),
        ('invoice', 'issued', 'partially_paid'),
        ('invoice', 'issued', 'paid'),
        ('invoice', 'partially_paid', 'paid'),
        ('invoice', 'issued', 'void'),
        ('ticket', 'open', 'in_progress'),
        ('ticket', 'in_progress', 'waiting'),
        ('ticket', 'waiting', 'in_progress'),
        ('ticket', 'in_progress', 'resolved'),
        ('ticket', 'waiting', 'resolved'),
        ('ticket', 'resolved', 'closed'),
        ('ticket', 'resolved', 'in_progress')
       ) AS t(workflow, from_stage, to_stage)
  JOIN crm.pipeline p ON p.name = t.workflow AND p.object_type = t.workflow;
