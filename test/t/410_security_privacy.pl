# 410_security_privacy.pl: a person asks for their data, then to be
# forgotten.  crm.export_person holds everything; after crm.erase_person a
# pg_dump of the whole database holds none of their name, email, phone or
# event properties, while their invoice and payment keep numbers and
# amounts; the audit chain still verifies against the anchor taken before;
# their address stays suppressed; and a new crm.track with that address
# starts a new, unrelated contact.  The person is also in a journey (with its
# welcome mail queued) and in a campaign's audience: both go with them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $node = PostgreSQL::Test::Cluster->new('privacy');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'crm'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION crm');

# someone else's data, to see it survive
my %person = (name => '欧阳娜娜', email => 'Nana.Ouyang@mail.example.cn', phone => '+86 139 1234 5678',
	title => '教务主任', property => 'utm_campaign_nana_spring', note => '住在杭州西湖区');
my %other = (name => '李雷', email => 'li.lei@example.cn');
$node->safe_psql('postgres', qq{
	SET client_min_messages = warning;
	INSERT INTO crm.account (name) VALUES ('智学在线');
	INSERT INTO crm.contact (account_id, name, email, phone, title)
	VALUES (1, '$person{name}', '$person{email}', '$person{phone}', '$person{title}'),
	       (1, '$other{name}', '$other{email}', NULL, NULL);
	INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('PY-101', 'Python 入门课', 1999, 'CNY');
	INSERT INTO crm.deal (name, account_id, contact_id, currency) VALUES ('春季团购', 1, 1, 'CNY');
	INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (1, 1, 2);
	SELECT crm.accept_quote(q) FROM (SELECT crm.create_quote(1) AS q) s, LATERAL crm.send_quote(s.q);
	SELECT crm.issue_invoice(1);
	SELECT crm.record_payment(1, 1000);
	INSERT INTO crm.activity (kind, subject, body, contact_id) VALUES ('note', '回访', '$person{note}', 1);
	INSERT INTO crm.ticket (subject, description, contact_id, account_id) VALUES ('无法登录', '$person{name} 的账号', 1, 1);
	SELECT crm.track('$person{email}', 'page_view', '{"campaign": "$person{property}"}');
	SELECT crm.grant_consent(1, 'marketing', 'web form', '{"ip": "203.0.113.7", "name": "$person{name}"}');
	SELECT crm.send_email('$person{email}', '$person{name}，您好', '课程提醒');
	SELECT crm.track('$other{email}', 'page_view', '{"campaign": "other"}');
	-- a journey and a campaign: an enrollment with its log and mail, a campaign recipient
	INSERT INTO crm.email_template (key, subject, body_text, category)
	VALUES ('welcome', '{{name}}，欢迎试学', '{{name}}，欢迎！', 'marketing');
	SELECT crm.create_journey('welcome', '试学欢迎', 'trial_signup',
	    '[{"kind": "send", "template_key": "welcome"}, {"kind": "wait", "delay": "30 days"}]',
	    '{"send_days": [1, 2, 3, 4, 5, 6, 7]}');
	SELECT crm.activate_journey('welcome');
	SELECT crm.track('$person{email}', 'trial_signup');
	SELECT crm.run_journey_steps(10);
	SELECT crm.create_segment('everyone', '所有人', 'true');
	SELECT crm.refresh_segment('everyone');
	SELECT crm.create_campaign('spring', '春季', 'everyone', 'welcome');
	SELECT crm.schedule_campaign('spring', now());
	SELECT crm.run_campaigns(100);
	SELECT crm.seal_audit();});
is($node->safe_psql('postgres', q{SELECT (SELECT count(*) FROM crm.journey_enrollment WHERE contact_id = 1)
	|| ' ' || (SELECT count(*) FROM crm.campaign_recipient WHERE contact_id = 1)
	|| ' ' || (SELECT count(*) FROM crm.email_outbox WHERE idempotency_key LIKE 'journey:%')}),
	'1 1 1', 'the person is enrolled in a journey (its welcome mail queued) and a campaign recipient');
my $anchor = $node->safe_psql('postgres', 'SELECT crm.audit_anchor()');
my $invoice_before = $node->safe_psql('postgres', 'SELECT number, gross_total, amount_paid FROM crm.invoice');

sub dump_text
{
	my $bindir = $node->config_data('--bindir');
	my ($out, $err);
	IPC::Run::run([ "$bindir/pg_dump", '-h', $node->host, '-p', $node->port, '-d', 'postgres' ], '>', \$out, '2>', \$err);
	return $out;
}
sub traces
{
	my ($text) = @_;
	return join ', ', grep { index(lc $text, lc $person{$_}) >= 0 } sort keys %person;
}

my $export = $node->safe_psql('postgres', 'SELECT crm.export_person(1)');
is(traces($export), 'email, name, note, phone, property, title', 'the export holds every kind of data about the person');
like($export, qr/"crm\.invoice"/, 'and their invoice');
like($export, qr/"crm\.journey_enrollment"/, 'their journey enrollment');
like($export, qr/"crm\.campaign_recipient"/, 'and their campaign audience');
is(traces(dump_text()), 'email, name, note, phone, property, title', 'so does a dump, before the erasure');

my $done = $node->safe_psql('postgres', "SELECT crm.erase_person(1, 'request 2026-04')");
like($done, qr/"crm\.activity": \{"delete": 1\}/, 'the erasure says what it did');
like($done, qr/"crm\.journey_enrollment": \{"delete": 1\}/, 'the enrollment is deleted');
like($done, qr/"crm\.campaign_recipient": \{"delete": 1\}/, 'and the campaign recipient');
is($node->safe_psql('postgres', q{SELECT (SELECT count(*) FROM crm.journey_enrollment WHERE contact_id = 1)
	+ (SELECT count(*) FROM crm.journey_log l WHERE NOT EXISTS (SELECT FROM crm.journey_enrollment e WHERE e.id = l.enrollment_id))
	+ (SELECT count(*) FROM crm.campaign_recipient WHERE contact_id = 1)}), '0',
	'nothing of them is left in the journeys and campaigns (nor a log row without its enrollment)');
is(traces(dump_text()), '', 'after it, a pg_dump of the whole database holds none of it');
like(dump_text(), qr/\Q$other{name}\E/, 'someone else is still there');
is($node->safe_psql('postgres', 'SELECT number, gross_total, amount_paid FROM crm.invoice'), $invoice_before,
	'the invoice keeps its number and amounts');
is($node->safe_psql('postgres', 'SELECT count(*) FROM crm.payment'), '1', 'the payment stays');
$node->safe_psql('postgres', 'SELECT crm.seal_audit()');    # (the worker may have been first)
is($node->safe_psql('postgres', "SELECT count(*) FROM crm.audit_log WHERE hash IS NULL OR (action = 'erase' AND hash IS NULL)"),
	'0', 'the erasure is logged and sealed');
is($node->safe_psql('postgres', "SELECT ok FROM crm.verify_audit('$anchor')"), 't',
	'the audit chain still verifies against the anchor taken before');
is($node->safe_psql('postgres', "SELECT changed - 'rows' FROM crm.audit_log WHERE action = 'erase'"),
	'{"reason": "request 2026-04", "audit_log_rows_erased": ' . $node->safe_psql('postgres',
		"SELECT changed ->> 'audit_log_rows_erased' FROM crm.audit_log WHERE action = 'erase'") . '}',
	'the erasure is recorded with its reason and counts only');
is($node->safe_psql('postgres', "SELECT crm.send_email('$person{email}', 'again', 'x') IS NULL"), 't',
	'the address stays suppressed (as a hash)');
my $event = $node->safe_psql('postgres', "SELECT crm.track('$person{email}', 'page_view')");
my $new = $node->safe_psql('postgres', "SELECT contact_id FROM crm.event WHERE id = $event");
isnt($new, '1', 'a new crm.track with the address starts a new contact');
is($node->safe_psql('postgres', "SELECT name FROM crm.contact WHERE id = $new"), $person{email},
	'named after the address, unrelated to the erased one');
my ($rc, $out, $err) = $node->psql('postgres', "SELECT crm.erase_person(1, 'again')");
like($err, qr/contact 1 is already erased/, 'erasing twice is refused');

$node->stop;
done_testing();
