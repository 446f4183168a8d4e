-- src/reports/20_sales_views.sql: sales-process views for BI tools.
-- Monthly sales and product sales from orders, receivables with ageing
-- buckets, and ticket SLAs; every view and column carries a comment.
-- Months and ages follow the session's TimeZone (set it in the BI tool's
-- connection to report in the company's time zone).

CREATE VIEW crm.monthly_sales AS
SELECT date_trunc('month', o.created_at)::date AS month,
       o.currency,
       count(*) AS orders,
       count(DISTINCT coalesce('account ' || o.account_id, 'person ' || o.contact_id)) AS customers,
       sum(o.net_total) AS net_total,
       sum(o.tax_total) AS tax_total,
       sum(o.gross_total) AS gross_total,
       crm.round_money(avg(o.net_total), o.currency) AS average_order_net,
       count(*) FILTER (WHERE o.status IN ('delivered', 'completed')) AS delivered_orders
  FROM crm.sales_order o
 WHERE o.status <> 'cancelled'
 GROUP BY 1, o.currency;
COMMENT ON VIEW crm.monthly_sales IS
    'Sales per month and currency from sales orders (cancelled orders left out), by the month the order was placed.';
COMMENT ON COLUMN crm.monthly_sales.month IS 'First day of the month the orders were placed.';
COMMENT ON COLUMN crm.monthly_sales.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.monthly_sales.orders IS 'Orders placed that month and not cancelled.';
COMMENT ON COLUMN crm.monthly_sales.customers IS 'Distinct customers that ordered: accounts, and people buying without one.';
COMMENT ON COLUMN crm.monthly_sales.net_total IS 'Sum of the orders'' net totals (after discounts, before tax).';
COMMENT ON COLUMN crm.monthly_sales.tax_total IS 'Sum of the orders'' tax.';
COMMENT ON COLUMN crm.monthly_sales.gross_total IS 'Sum of the orders'' gross totals (net + tax).';
COMMENT ON COLUMN crm.monthly_sales.average_order_net IS 'Mean net total per order, to the currency''s minor unit.';
COMMENT ON COLUMN crm.monthly_sales.delivered_orders IS 'Of those orders, how many are delivered (or completed) by now.';

CREATE VIEW crm.product_sales AS
SELECT p.id AS product_id,
       p.sku,
       p.name,
       i.currency,
       count(DISTINCT o.id) AS orders,
       sum(i.quantity) AS quantity,
       sum(i.net_amount) AS net_total,
       sum(i.gross_amount) AS gross_total,
       round(sum(i.quantity * i.unit_price * i.discount) / nullif(sum(i.quantity * i.unit_price), 0), 4) AS average_discount,
       min(o.created_at) AS first_ordered_at,
       max(o.created_at) AS last_ordered_at
  FROM crm.sales_order_item i
  JOIN crm.sales_order o ON o.id = i.sales_order_id
  JOIN crm.product p ON p.id = i.product_id
 WHERE o.status <> 'cancelled'
 GROUP BY p.id, p.sku, p.name, i.currency;
COMMENT ON VIEW crm.product_sales IS 'What each product sold on sales orders, per currency (cancelled orders left out).';
COMMENT ON COLUMN crm.product_sales.product_id IS 'The product (crm.product.id).';
COMMENT ON COLUMN crm.product_sales.sku IS 'Product SKU.';
COMMENT ON COLUMN crm.product_sales.name IS 'Product name.';
COMMENT ON COLUMN crm.product_sales.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.product_sales.orders IS 'Orders with at least one line of the product.';
COMMENT ON COLUMN crm.product_sales.quantity IS 'Units ordered.';
COMMENT ON COLUMN crm.product_sales.net_total IS 'Sum of the lines'' net amounts (after discount, before tax).';
COMMENT ON COLUMN crm.product_sales.gross_total IS 'Sum of the lines'' gross amounts (net + tax).';
COMMENT ON COLUMN crm.product_sales.average_discount IS 'Discount given, as a fraction of the list value (quantity × unit price).';
COMMENT ON COLUMN crm.product_sales.first_ordered_at IS 'When the product was first ordered.';
COMMENT ON COLUMN crm.product_sales.last_ordered_at IS 'When it was last ordered.';

CREATE VIEW crm.receivables AS
SELECT i.id AS invoice_id,
       i.number,
       i.account_id,
       coalesce(a.name, c.name) AS account,
       i.currency,
       i.issue_date,
       i.due_date,
       i.gross_total,
       i.amount_paid,
       i.gross_total - i.amount_paid AS balance,
       current_date - i.due_date AS days_past_due,
       CASE WHEN current_date - i.due_date < 0 THEN 'not_due'
            WHEN current_date - i.due_date <= 30 THEN '0-30'
            WHEN current_date - i.due_date <= 60 THEN '31-60'
            WHEN current_date - i.due_date <= 90 THEN '61-90'
            ELSE 'over_90' END AS ageing_bucket,
       i.contact_id
  FROM crm.invoice i
  LEFT JOIN crm.account a ON a.id = i.account_id
  LEFT JOIN crm.contact c ON c.id = i.contact_id
 WHERE i.status IN ('issued', 'partially_paid');
COMMENT ON VIEW crm.receivables IS 'Issued invoices not paid in full, with their balance and age past the due date.';
COMMENT ON COLUMN crm.receivables.invoice_id IS 'The invoice (crm.invoice.id).';
COMMENT ON COLUMN crm.receivables.number IS 'Invoice number, INV-<year>-<6 digits>.';
COMMENT ON COLUMN crm.receivables.account_id IS 'The customer (crm.account.id); NULL when the customer is a person.';
COMMENT ON COLUMN crm.receivables.account IS 'Customer name: the account''s, or the person''s when there is no account.';
COMMENT ON COLUMN crm.receivables.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.receivables.issue_date IS 'Date the invoice was issued.';
COMMENT ON COLUMN crm.receivables.due_date IS 'Date payment was due.';
COMMENT ON COLUMN crm.receivables.gross_total IS 'Amount invoiced, tax included.';
COMMENT ON COLUMN crm.receivables.amount_paid IS 'Amount received so far.';
COMMENT ON COLUMN crm.receivables.balance IS 'Amount still owed.';
COMMENT ON COLUMN crm.receivables.days_past_due IS 'Days since the due date (0 on the due date, negative before it).';
COMMENT ON COLUMN crm.receivables.ageing_bucket IS
    'not_due, 0-30, 31-60, 61-90 or over_90 days past the due date.';
COMMENT ON COLUMN crm.receivables.contact_id IS 'The person billed (crm.contact.id): the customer when account_id is NULL.';

CREATE VIEW crm.receivables_ageing AS
SELECT r.account_id,
       r.account,
       r.currency,
       count(*) AS invoices,
       sum(r.balance) FILTER (WHERE r.ageing_bucket = 'not_due') AS not_due,
       sum(r.balance) FILTER (WHERE r.ageing_bucket = '0-30') AS days_0_30,
       sum(r.balance) FILTER (WHERE r.ageing_bucket = '31-60') AS days_31_60,
       sum(r.balance) FILTER (WHERE r.ageing_bucket = '61-90') AS days_61_90,
       sum(r.balance) FILTER (WHERE r.ageing_bucket = 'over_90') AS days_over_90,
       sum(r.balance) AS total_due,
       CASE WHEN r.account_id IS NULL THEN r.contact_id END AS contact_id
  FROM crm.receivables r
 GROUP BY r.account_id, r.account, r.currency, CASE WHEN r.account_id IS NULL THEN r.contact_id END;
COMMENT ON VIEW crm.receivables_ageing IS
    'Amounts owed per customer and currency in ageing buckets by days past due (NULL: nothing in that bucket).';
COMMENT ON COLUMN crm.receivables_ageing.account_id IS 'The customer (crm.account.id); NULL when the customer is a person.';
COMMENT ON COLUMN crm.receivables_ageing.account IS 'Customer name: the account''s, or the person''s when there is no account.';
COMMENT ON COLUMN crm.receivables_ageing.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.receivables_ageing.invoices IS 'Open invoices of the customer in that currency.';
COMMENT ON COLUMN crm.receivables_ageing.not_due IS 'Owed on invoices not yet due.';
COMMENT ON COLUMN crm.receivables_ageing.days_0_30 IS 'Owed on invoices 0 to 30 days past due.';
COMMENT ON COLUMN crm.receivables_ageing.days_31_60 IS 'Owed on invoices 31 to 60 days past due.';
COMMENT ON COLUMN crm.receivables_ageing.days_61_90 IS 'Owed on invoices 61 to 90 days past due.';
COMMENT ON COLUMN crm.receivables_ageing.days_over_90 IS 'Owed on invoices more than 90 days past due.';
COMMENT ON COLUMN crm.receivables_ageing.total_due IS 'Everything the customer owes in that currency.';
COMMENT ON COLUMN crm.receivables_ageing.contact_id IS 'The customer when it is a person without an account (crm.contact.id).';

CREATE VIEW crm.ticket_sla_status AS
WITH t AS (
    SELECT t.*, p.rank, p.at_risk_share,
           coalesce(t.responded_at > t.response_due_at, now() > t.response_due_at) AS response_breached,
           now() > t.resolve_due_at AS resolution_breached,
           t.responded_at IS NULL
               AND t.response_due_at - now() < (t.response_due_at - t.created_at) * p.at_risk_share::float8
               AS response_at_risk,
           t.resolve_due_at - now() < (t.resolve_due_at - t.created_at) * p.at_risk_share::float8
               AS resolution_at_risk
      FROM crm.ticket t
      JOIN crm.ticket_sla_policy p ON p.priority = t.priority
     WHERE t.resolved_at IS NULL
)
SELECT t.id AS ticket_id,
       t.subject,
       t.priority,
       t.rank AS priority_rank,
       t.status,
       t.owner,
       t.account_id,
       t.created_at,
       t.response_due_at,
       t.responded_at,
       t.resolve_due_at,
       CASE WHEN t.responded_at IS NULL THEN 'response' ELSE 'resolution' END AS next_target,
       CASE WHEN t.responded_at IS NULL THEN t.response_due_at ELSE t.resolve_due_at END - now() AS time_left,
       t.response_breached,
       t.resolution_breached,
       CASE WHEN t.response_breached OR t.resolution_breached THEN 'breached'
            WHEN t.response_at_risk OR t.resolution_at_risk THEN 'at_risk'
            ELSE 'on_track' END AS sla_state
  FROM t;
COMMENT ON VIEW crm.ticket_sla_status IS
    'Unresolved tickets against their SLA: breached (a target missed), at_risk (little time left) or on_track.';
COMMENT ON COLUMN crm.ticket_sla_status.ticket_id IS 'The ticket (crm.ticket.id).';
COMMENT ON COLUMN crm.ticket_sla_status.subject IS 'What the ticket is about.';
COMMENT ON COLUMN crm.ticket_sla_status.priority IS 'urgent, high, normal or low.';
COMMENT ON COLUMN crm.ticket_sla_status.priority_rank IS 'Order of urgency of the priority, 1 first.';
COMMENT ON COLUMN crm.ticket_sla_status.status IS 'open, in_progress or waiting.';
COMMENT ON COLUMN crm.ticket_sla_status.owner IS 'Who works on it.';
COMMENT ON COLUMN crm.ticket_sla_status.account_id IS 'The customer, if known.';
COMMENT ON COLUMN crm.ticket_sla_status.created_at IS 'When the ticket was opened; the SLA clock starts there.';
COMMENT ON COLUMN crm.ticket_sla_status.response_due_at IS 'When the first response is due.';
COMMENT ON COLUMN crm.ticket_sla_status.responded_at IS 'When it first left open; NULL if not yet.';
COMMENT ON COLUMN crm.ticket_sla_status.resolve_due_at IS 'When resolution is due.';
COMMENT ON COLUMN crm.ticket_sla_status.next_target IS 'response until the first response, then resolution.';
COMMENT ON COLUMN crm.ticket_sla_status.time_left IS 'Time until the next target is due; negative when overdue.';
COMMENT ON COLUMN crm.ticket_sla_status.response_breached IS 'The first response came late, or is overdue.';
COMMENT ON COLUMN crm.ticket_sla_status.resolution_breached IS 'Resolution is overdue.';
COMMENT ON COLUMN crm.ticket_sla_status.sla_state IS
    'breached (a target missed), at_risk (less than the priority''s at_risk_share of a target''s time left) or on_track.';

CREATE VIEW crm.ticket_sla_alerts AS
SELECT s.ticket_id, s.subject, s.priority, s.status, s.owner, s.account_id, s.sla_state, s.next_target,
       s.response_due_at, s.resolve_due_at, s.time_left
  FROM crm.ticket_sla_status s
 WHERE s.sla_state <> 'on_track';
COMMENT ON VIEW crm.ticket_sla_alerts IS 'Tickets whose SLA is breached or at risk: the support team''s to-do list.';
COMMENT ON COLUMN crm.ticket_sla_alerts.ticket_id IS 'The ticket (crm.ticket.id).';
COMMENT ON COLUMN crm.ticket_sla_alerts.subject IS 'What the ticket is about.';
COMMENT ON COLUMN crm.ticket_sla_alerts.priority IS 'urgent, high, normal or low.';
COMMENT ON COLUMN crm.ticket_sla_alerts.status IS 'open, in_progress or waiting.';
COMMENT ON COLUMN crm.ticket_sla_alerts.owner IS 'Who works on it.';
COMMENT ON COLUMN crm.ticket_sla_alerts.account_id IS 'The customer, if known.';
COMMENT ON COLUMN crm.ticket_sla_alerts.sla_state IS 'breached or at_risk.';
COMMENT ON COLUMN crm.ticket_sla_alerts.next_target IS 'response until the first response, then resolution.';
COMMENT ON COLUMN crm.ticket_sla_alerts.response_due_at IS 'When the first response is due.';
COMMENT ON COLUMN crm.ticket_sla_alerts.resolve_due_at IS 'When resolution is due.';
COMMENT ON COLUMN crm.ticket_sla_alerts.time_left IS 'Time until the next target is due; negative when overdue.';

GRANT SELECT ON crm.monthly_sales, crm.product_sales, crm.receivables, crm.receivables_ageing,
    crm.ticket_sla_status, crm.ticket_sla_alerts TO crm_reader;
