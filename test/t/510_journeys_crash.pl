# 510_journeys_crash.pl: kill -9 of the crm worker while it runs a burst of
# 5,000 due journey steps (and delivers their mail over SMTP).  The worker
# is killed inside a transaction of its journeys duty; the postmaster
# restarts the cluster (crash recovery) and a new worker finishes the
# burst.  Afterwards every step was queued exactly once -- one outbox row
# per enrollment under journey:<enrollment>:1:1, one "sent" log row with it,
# none missing -- and every message arrived, matching its row; a message
# that arrived twice is one the worker had in flight at the kill (its
# delivery log says "interrupted"), under the same Message-ID.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $smtp = start_smtp(dir => "$tmp/smtp");
my $node = mail_node('journey_crash',
	conf => [ 'restart_after_crash = on', 'crm.max_attempts = 50', "crm.poll_interval = '1s'" ]);
use_smtp($node, $smtp, 'crm.smtp_starttls' => 'off');
my $pid = wait_for_worker($node);

# Each step renders vars that take a moment, so the burst lasts several batches.
$node->safe_psql('postgres', q{
	INSERT INTO crm.email_template (key, subject, body_text, body_html, category)
	VALUES ('burst', '第 {{n}} 号通知', '{{name}}：{{n}}', '<p>{{name}}</p>', 'marketing');
	INSERT INTO crm.contact (name, email) SELECT '学员 ' || g, 'burst' || g || '@example.cn' FROM generate_series(1, 5000) g;
	SELECT count(crm.grant_consent(id)) FROM crm.contact;
	SELECT crm.create_journey('burst', 'Burst', NULL, $$[
	    {"kind": "send", "template_key": "burst",
	     "vars": "(SELECT jsonb_build_object('n', count(*) + en.id) FROM generate_series(1, 20000))"},
	    {"kind": "wait", "delay": "1 day"}]$$);
	SELECT crm.activate_journey('burst');
});
$node->safe_psql('postgres', q{SELECT count(crm.enroll('burst', id)) FROM crm.contact});

# kill it inside a transaction of the journeys duty, part-way through the burst
$node->poll_query_until('postgres', qq{
	SELECT (SELECT count(*) FROM crm.journey_log WHERE outcome = 'sent') BETWEEN 500 AND 4000
	   AND EXISTS (SELECT FROM pg_stat_activity
	                WHERE pid = $pid AND state = 'active' AND query = 'crm worker: journeys')})
  or die 'the burst was not caught in flight';
my $log_offset = -s $node->logfile;
kill 'KILL', $pid;
$node->wait_for_log(qr/terminated by signal 9: Killed/, $log_offset);
$node->wait_for_log(qr/database system is ready to accept connections/, $log_offset);
my $pid2 = wait_for_worker($node, $pid);
isnt($pid2, $pid, 'a new worker runs after the crash (and crash recovery)');

$node->poll_query_until('postgres', q{
	SELECT count(*) = 5000 FROM crm.journey_enrollment WHERE position = 2 AND waiting_since IS NOT NULL})
  or die 'the burst did not finish';
ok(wait_until_final($node, "idempotency_key LIKE 'journey:%'"), 'and its mail is delivered');

# each step queued exactly once
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || count(DISTINCT idempotency_key) FROM crm.email_outbox WHERE idempotency_key LIKE 'journey:%'}),
	'5000 5000', 'one outbox row per step, 5,000 keys');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM crm.journey_enrollment e
	 WHERE (SELECT count(*) FROM crm.journey_log l WHERE l.enrollment_id = e.id AND l.outcome = 'sent') <> 1
	    OR NOT EXISTS (SELECT FROM crm.email_outbox o WHERE o.idempotency_key = 'journey:' || e.id || ':1:1')}),
	0, 'every enrollment has exactly one send logged and its mail queued: none missing, none twice');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM crm.journey_log l JOIN crm.email_outbox o ON o.id = l.email_id
	 WHERE l.outcome = 'sent' AND o.idempotency_key <> 'journey:' || l.enrollment_id || ':1:1'}),
	0, 'each log row names the message of its own step');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT status, ',') FROM crm.email_outbox WHERE idempotency_key LIKE 'journey:%'}),
	'sent', 'all sent');

# what arrived
check_delivery_after_crash($node, $smtp->{msgs}, "idempotency_key LIKE 'journey:%'", 5000, 'at the kill');

$node->stop;
done_testing();
