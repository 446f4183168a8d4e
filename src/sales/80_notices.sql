-- src/sales/80_notices.sql: invoice and payment notices by email.
--
-- Issuing an invoice queues the template 'invoice_issued', recording a
-- payment queues 'payment_received' (crm.send_template, src/mail), to the
-- invoice's contact: the deal's contact, copied onto the quote, the order
-- and the invoice.  Both go through triggers, so every write path notifies
-- (crm.issue_invoice, UPDATE ... SET status = 'issued', crm.record_payment,
-- a COPY of payments), inside the same transaction: a rollback queues
-- nothing.  Without a contact email, or when the template was deleted, the
-- invoice or payment still goes through and a NOTICE says no email was
-- queued; a suppressed address gets nothing (crm.send_template returns
-- NULL).  Templates are ordinary crm.email_template rows that admins edit;
-- the variables they may use are listed in crm.sales_notice_vars.

INSERT INTO crm.email_template (key, subject, body_text, body_html) VALUES
('invoice_issued',
 'Invoice {{number}}: {{gross_total}} {{currency}} due {{due_date}}',
 E'Dear {{contact}},\n\n'
 || E'here is invoice {{number}} for {{customer}}, issued on {{issue_date}}:\n\n'
 || E'{{lines}}\n\n'
 || E'Net:   {{net_total}} {{currency}}\n'
 || E'Tax:   {{tax_total}} {{currency}}\n'
 || E'Total: {{gross_total}} {{currency}}, due by {{due_date}}\n\n'
 || 'Thank you for your business.',
 '<p>Dear {{contact}},</p>'
 || '<p>here is invoice <b>{{number}}</b> for {{customer}}, issued on {{issue_date}}:</p>'
 || '<pre>{{lines}}</pre>'
 || '<table><tr><td>Net</td><td>{{net_total}} {{currency}}</td></tr>'
 || '<tr><td>Tax</td><td>{{tax_total}} {{currency}}</td></tr>'
 || '<tr><td><b>Total</b></td><td><b>{{gross_total}} {{currency}}</b>, due by {{due_date}}</td></tr></table>'
 || '<p>Thank you for your business.</p>'),
('payment_received',
 'Payment received for invoice {{number}}: {{amount}} {{currency}}',
 E'Dear {{contact}},\n\n'
 || E'we received {{amount}} {{currency}} on {{paid_at}} for invoice {{number}} (method: {{method}}).\n'
 || E'Paid so far: {{amount_paid}} of {{gross_total}} {{currency}}; still due: {{balance}} {{currency}}.\n\n'
 || 'Thank you.',
 '<p>Dear {{contact}},</p>'
 || '<p>we received <b>{{amount}} {{currency}}</b> on {{paid_at}} for invoice {{number}} (method: {{method}}).</p>'
 || '<p>Paid so far: {{amount_paid}} of {{gross_total}} {{currency}}; still due: {{balance}} {{currency}}.</p>'
 || '<p>Thank you.</p>');

-- The variables of an invoice, for its notices.
CREATE FUNCTION crm.sales_notice_vars(invoice_id bigint) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT jsonb_build_object(
               'number', i.number,
               'customer', coalesce(a.name, c.name),
               'contact', c.name,
               'issue_date', to_char(i.issue_date, 'YYYY-MM-DD'),
               'due_date', to_char(i.due_date, 'YYYY-MM-DD'),
               'currency', i.currency,
               'net_total', i.net_total,
               'tax_total', i.tax_total,
               'gross_total', i.gross_total,
               'amount_paid', crm.round_money(i.amount_paid, i.currency),
               'balance', i.gross_total - i.amount_paid,
               'status', i.status,
               'lines', (SELECT string_agg(format('%s × %s: %s %s', l.description, trim_scale(l.quantity),
                                                  l.gross_amount, l.currency), E'\n' ORDER BY l.id)
                           FROM crm.invoice_line l WHERE l.invoice_id = i.id))
      FROM crm.invoice i
      LEFT JOIN crm.account a ON a.id = i.account_id
      LEFT JOIN crm.contact c ON c.id = i.contact_id
     WHERE i.id = sales_notice_vars.invoice_id;
END;
COMMENT ON FUNCTION crm.sales_notice_vars(bigint) IS
    'Template variables of an invoice: number, customer, contact, issue_date, due_date, currency, net_total, '
    'tax_total, gross_total, amount_paid, balance, status, lines (one line per invoice line). payment_received adds '
    'amount, paid_at and method.';

-- Queues one notice about an invoice; NULL when none was queued.
CREATE FUNCTION crm.queue_sales_notice(template_key text, invoice_id bigint, extra_vars jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    recipient text;
BEGIN
    SELECT c.email INTO recipient
      FROM crm.invoice i LEFT JOIN crm.contact c ON c.id = i.contact_id
     WHERE i.id = queue_sales_notice.invoice_id;
    IF recipient IS NULL THEN
        RAISE NOTICE 'no % email queued for invoice %: it has no contact with an email address', template_key, invoice_id
            USING HINT = 'Set the deal''s contact (and its email) before the order is accepted, or the invoice''s contact_id before it is issued.';
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT FROM crm.email_template t WHERE t.key = queue_sales_notice.template_key) THEN
        RAISE NOTICE 'no % email queued for invoice %: the email template does not exist', template_key, invoice_id
            USING HINT = format('Create crm.email_template row %L to send these notices again.', template_key);
        RETURN NULL;
    END IF;
    RETURN crm.send_template(template_key, recipient, crm.sales_notice_vars(invoice_id) || extra_vars);
END
$$;
COMMENT ON FUNCTION crm.queue_sales_notice(text, bigint, jsonb) IS
    'Queues an email from a template to an invoice''s contact with the invoice''s variables (plus extra_vars); '
    'returns the outbox id, or NULL with a NOTICE when there is no address or no such template.';

CREATE FUNCTION crm.invoice_issued_notice() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;            -- restore mode: nothing is sent again
    END IF;
    IF OLD.status = 'draft' AND NEW.status = 'issued' THEN
        PERFORM crm.queue_sales_notice('invoice_issued', NEW.id);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.invoice_issued_notice() IS
    'AFTER UPDATE trigger on crm.invoice: queues the invoice_issued email when an invoice is issued.';
CREATE TRIGGER invoice_notice AFTER UPDATE ON crm.invoice
    FOR EACH ROW EXECUTE FUNCTION crm.invoice_issued_notice();

-- Fires after payment_apply (apply < notice), so the invoice shows the payment.
CREATE FUNCTION crm.payment_received_notice() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;            -- restore mode: nothing is sent again
    END IF;
    PERFORM crm.queue_sales_notice('payment_received', NEW.invoice_id,
        jsonb_build_object('amount', NEW.amount,
                           'paid_at', to_char(NEW.paid_at, 'YYYY-MM-DD HH24:MI'),
                           'method', coalesce(NEW.method, 'not given')));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.payment_received_notice() IS
    'AFTER INSERT trigger on crm.payment: queues the payment_received email.';
CREATE TRIGGER payment_notice AFTER INSERT ON crm.payment
    FOR EACH ROW EXECUTE FUNCTION crm.payment_received_notice();

REVOKE EXECUTE ON FUNCTION crm.invoice_issued_notice(), crm.payment_received_notice() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION crm.queue_sales_notice(text, bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.queue_sales_notice(text, bigint, jsonb) TO crm_user;
-- Trigger functions and SECURITY DEFINER helpers are never executable by PUBLIC.
REVOKE EXECUTE ON FUNCTION crm.invoice_issued_notice(), crm.payment_received_notice() FROM PUBLIC;
