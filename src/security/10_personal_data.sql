-- src/security/10_personal_data.sql: the one list of the crm tables that
-- hold personal data or point at a contact or an account.
--
-- Merging duplicates (src/quality) moves every reference it lists; exporting
-- and erasing a person (src/security) read and clear what it lists.  Nothing
-- else may keep its own list.  A feature that adds such a table adds its row
-- here, in the same change; sql/personal_data.sql fails for any crm table
-- with a column referencing crm.contact or crm.account (a foreign key, or a
-- column named contact_id / account_id / *_contact_id / *_account_id) or
-- with an email or phone column that is missing from the list.
--
-- One row per table (a table with two contact columns would get a row for
-- each).  crm.contact and crm.account are in the list too, keyed by their
-- own id, so "the rows about contact 7" is the same question everywhere.
--
-- on_merge, when a contact or account is merged into another:
--   move            the reference is changed to the kept row;
--   move_or_delete  the same, except that a row which would duplicate one
--                   the kept row already has (a unique key with the
--                   reference in it) is deleted: the kept row's stands.
-- erasure, when a person is erased (crm.erase_person):
--   anonymise  the row stays with its personal columns overwritten;
--   delete     the person's rows are deleted;
--   clear      the rows stay, their personal columns emptied;
--   hash       the personal column is replaced by its hash (suppression);
--   keep       nothing personal beyond the reference, which stays (the
--              contact row itself stays, anonymised); legal records such as
--              invoices keep their numbers and amounts.

CREATE VIEW crm.personal_data WITH (security_invoker = true) AS
SELECT v.table_name::regclass AS table_name,
       v.contact_column::name AS contact_column,
       v.account_column::name AS account_column,
       v.email_column::name AS email_column,
       v.personal_columns::name[] AS personal_columns,
       v.on_merge,
       v.erasure,
       v.note
  FROM (VALUES
    ('crm.contact', 'id', 'account_id', 'email', '{name,email,phone,title,attributes,time_zone}', 'move', 'anonymise',
     'The person: the row stays for the records that point at it, with name, email, phone and title replaced.'),
    ('crm.account', NULL, 'id', NULL, '{phone}', 'move', 'keep',
     'Companies: business data (a sole trader''s phone may be a person''s); erasing a person leaves their company.'),
    ('crm.activity', 'contact_id', 'account_id', NULL, '{subject,body,attributes}', 'move', 'delete',
     'Calls, emails, meetings, notes and tasks about the person.'),
    ('crm.deal', 'contact_id', 'account_id', NULL, '{}', 'move', 'keep',
     'Sales opportunities: business records pointing at the (anonymised) contact.'),
    ('crm.quote', 'contact_id', 'account_id', NULL, '{}', 'move', 'keep',
     'Quotes: business records.'),
    ('crm.sales_order', 'contact_id', 'account_id', NULL, '{}', 'move', 'keep',
     'Orders: business records.'),
    ('crm.invoice', 'contact_id', 'account_id', NULL, '{}', 'move', 'keep',
     'Invoices: legal records; number, lines and amounts are kept by law.'),
    ('crm.ticket', 'contact_id', 'account_id', NULL, '{subject,description}', 'move', 'clear',
     'After-sales tickets: what the person wrote is cleared, the ticket and its SLA history stay.'),
    ('crm.email_outbox', 'contact_id', NULL, 'to_address', '{to_address,subject,body_text,body_html}', 'move', 'clear',
     'Queued and sent mail, by contact or by the person''s address: address and bodies are cleared.'),
    ('crm.email_delivery_log', NULL, NULL, NULL, '{detail}', 'move', 'clear',
     'Delivery attempts of the person''s mail (outbox_id): server replies may quote the address.'),
    ('crm.email_suppression', NULL, NULL, 'address', '{address}', 'move', 'hash',
     'Suppressed addresses: an erased person''s address stays suppressed as a hash.'),
    ('crm.event', 'contact_id', NULL, NULL, '{properties,source}', 'move', 'delete',
     'Behaviour events (what the person did and what crm did about them): deleted with the person.'),
    ('crm.consent', 'contact_id', NULL, NULL, '{source,proof}', 'move', 'clear',
     'Consent ledger: the grants and withdrawals stay (they prove what the person agreed to), their source and proof are cleared.'),
    ('crm.segment_member', 'contact_id', NULL, NULL, '{}', 'move_or_delete', 'delete',
     'Segment membership: the kept contact''s own membership stands; an erased person leaves every segment.'),
    ('crm.merge_log', 'contact_id', 'account_id', NULL, '{merged_row}', 'move', 'clear',
     'Rows merged into a contact or account: the copy of the merged row is personal data of the kept person.'),
    ('crm.journey_enrollment', 'contact_id', NULL, NULL, '{end_reason}', 'move_or_delete', 'delete',
     'Journey enrollments: the kept contact''s own active enrollment in a journey stands; an erased person''s '
     'enrollments are deleted, and their journey log with them.'),
    ('crm.campaign_recipient', 'contact_id', NULL, NULL, '{}', 'move_or_delete', 'delete',
     'Campaign audiences: one row per person and campaign; an erased person leaves every audience.')
  ) AS v (table_name, contact_column, account_column, email_column, personal_columns, on_merge, erasure, note);

COMMENT ON VIEW crm.personal_data IS
    'The one list of crm tables holding personal data or a contact or account reference: merging moves what '
    'it lists, export and erasure read and clear it.';
COMMENT ON COLUMN crm.personal_data.table_name IS 'The table.';
COMMENT ON COLUMN crm.personal_data.contact_column IS
    'Column holding the id of the contact a row is about (id for crm.contact itself), or NULL.';
COMMENT ON COLUMN crm.personal_data.account_column IS
    'Column holding the id of the account a row is about (id for crm.account itself), or NULL.';
COMMENT ON COLUMN crm.personal_data.email_column IS
    'Column holding a person''s email address, for rows found by address rather than by contact, or NULL.';
COMMENT ON COLUMN crm.personal_data.personal_columns IS 'Columns holding personal data.';
COMMENT ON COLUMN crm.personal_data.on_merge IS
    'move (the reference goes to the kept row) or move_or_delete (rows that would duplicate one of the kept '
    'row''s under a unique key are deleted instead).';
COMMENT ON COLUMN crm.personal_data.erasure IS
    'What erasing a person does to their rows: anonymise, delete, clear (personal columns emptied), hash or keep.';
COMMENT ON COLUMN crm.personal_data.note IS 'What the rows are and why they are treated so.';

GRANT SELECT ON crm.personal_data TO crm_reader;
