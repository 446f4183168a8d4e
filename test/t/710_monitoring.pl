# 710_monitoring.pl: crm.health(), bin/check_crm, crm.prometheus_metrics()
# and the postgres_exporter queries file against a server with the worker.
#  - every check ok, check_crm exit 0 with performance data;
#  - each state provoked one by one and seen by crm.health() and check_crm:
#    a queued message left due (the worker's claim skips it while another
#    transaction holds a lock on it): warning, then critical; mail failing
#    (an SMTP server that is not there): critical, then ok again once
#    enough mail goes out; an SLA breached: warning; the worker stopped:
#    critical; a journey step the worker cannot claim (another transaction
#    holds its enrollment): critical; an audit row left unsealed (a prepared
#    transaction holds sealing back): warning;
#  - check_crm: exit 0/1/2/3, -C with -w/-c, UNKNOWN when it cannot connect,
#    when crm is missing or for bad options; a pg_monitor role is enough;
#  - the Prometheus text passes prometheus_client's parser and the format's
#    line grammar (test/ops/prometheus_check.py);
#  - every query of contrib/postgres_exporter/crm_queries.yaml runs as
#    pg_monitor and yields the metric names crm.prometheus_metrics() uses.
use strict;
use warnings FATAL => 'all';
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;

my $src = $ENV{CRM_SRC};
my $node = mail_node('monitoring', conf => [ "crm.poll_interval = '1s'", 'max_prepared_transactions = 2' ]);
my $pid = wait_for_worker($node);
$node->safe_psql('postgres', 'CREATE ROLE nagios LOGIN IN ROLE pg_monitor');
$node->poll_query_until('postgres', q{SELECT state = 'idle' FROM crm.worker_duties WHERE duty = 'restore hold'})
  or die;

sub health
{
	my $check = shift;
	return $node->safe_psql('postgres',
		"SELECT status || ': ' || detail FROM crm.health() WHERE check_name = '$check'");
}

# check_crm(ARGS...): (exit status, output) of bin/check_crm as role nagios.
sub check_crm
{
	my @args = @_;
	my ($stdout, $stderr);
	my $rc = IPC::Run::run([ "$src/bin/check_crm", '-h', $node->host, '-p', $node->port,
			'-U', 'nagios', '-d', 'postgres', @args ], '>', \$stdout, '2>', \$stderr);
	return ($? >> 8, $stdout . $stderr);
}

# --- all well
is($node->safe_psql('postgres', q{SELECT string_agg(check_name || '=' || status, ' ') FROM crm.health()}),
	'worker=ok restore_hold=ok mail_queue=ok mail_failures=ok journeys=ok sla=ok audit=ok',
	'every check is ok');
my ($rc, $out) = check_crm();
is($rc, 0, 'check_crm exits 0 when all is well');
like($out, qr/^CRM OK - 7 checks ok \| worker=1;;;0 restore_hold=0;;;0 mail_queue=0s;;;0 mail_failures=0;;;0 journeys=0s;;;0 sla=0;;;0 audit=0s;;;0\n/,
	'one status line with performance data after "|"');
like($out, qr/^worker OK: running \(pid $pid\) since /m, 'then one line per check');

# --- a queued message left due: the worker's claim skips rows another transaction has locked
my $late = $node->safe_psql('postgres', q{
	BEGIN;
	SELECT crm.send_email('wang.fang@example.com', 'late', 'x');
	UPDATE crm.email_outbox SET next_attempt_at = now() + interval '1 hour' WHERE subject = 'late';
	COMMIT});
$node->safe_psql('postgres', qq{
	BEGIN; SELECT 1 FROM crm.email_outbox WHERE id = $late FOR KEY SHARE; PREPARE TRANSACTION 'pin'});
$node->safe_psql('postgres',
	"UPDATE crm.email_outbox SET next_attempt_at = now() - interval '10 minutes' WHERE id = $late");
like(health('mail_queue'), qr/^warning: message $late has waited 00:10:\d\d for delivery/,
	'a message due for 10 minutes: warning');
($rc, $out) = check_crm();
is($rc, 1, 'check_crm exits 1 on a warning');
like($out, qr/^CRM WARNING - mail_queue: message $late has waited 00:10:\d\d for delivery.* \| .*mail_queue=60\d(\.\d+)?s;;;0/,
	'the status line names the problem; the measure is in the performance data');
($rc, $out) = check_crm('-C', 'mail_queue', '-w', '1000', '-c', '2000');
is($rc, 0, 'with -w/-c above the measure, the check is ok');
like($out, qr/^CRM OK - 1 checks ok \| mail_queue=60\d(\.\d+)?s;1000;2000;0\n/, 'and the thresholds are in the performance data');
($rc, $out) = check_crm('-C', 'mail_queue', '-w', '60', '-c', '300');
is($rc, 2, 'with -c below the measure, critical');
$node->safe_psql('postgres',
	"UPDATE crm.email_outbox SET next_attempt_at = now() - interval '2 hours' WHERE id = $late");
like(health('mail_queue'), qr/^critical: /, 'due for 2 hours: critical');
$node->safe_psql('postgres', "ROLLBACK PREPARED 'pin'");
$node->poll_query_until('postgres', "SELECT status = 'sent' FROM crm.email_outbox WHERE id = $late") or die;
like(health('mail_queue'), qr/^ok: no message is waiting/, 'once it is sent: ok');

# --- mail failing: nothing listens on the SMTP port
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET crm.mail_transport = 'smtp';
	ALTER SYSTEM SET crm.smtp_url = 'smtp://127.0.0.1:9';
	ALTER SYSTEM SET crm.max_attempts = 1;
	SELECT pg_reload_conf()});
$node->safe_psql('postgres', q{SELECT crm.send_email('f' || g || '@example.com', 'fails', 'x') FROM generate_series(1, 3) g});
$node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM crm.email_outbox WHERE subject = 'fails' AND status = 'failed'})
  or die;
like(health('mail_failures'), qr/^critical: 3 of 4 delivery attempts in the last hour failed \(75\.0%\)$/,
	'3 failed attempts out of 4: critical');
($rc, $out) = check_crm('-C', 'mail_failures');
is($rc, 2, 'check_crm exits 2 on a critical check');
like($out, qr/^CRM CRITICAL - mail_failures: 3 of 4 .* \| mail_failures=0\.75;;;0\n/, 'and says which');
$node->safe_psql('postgres', q{
	ALTER SYSTEM RESET crm.mail_transport; ALTER SYSTEM RESET crm.smtp_url; ALTER SYSTEM RESET crm.max_attempts;
	SELECT pg_reload_conf()});
$node->safe_psql('postgres', q{SELECT crm.send_email('ok' || g || '@example.com', 'works', 'x') FROM generate_series(1, 40) g});
$node->poll_query_until('postgres', q{SELECT count(*) = 40 FROM crm.email_outbox WHERE subject = 'works' AND status = 'sent'})
  or die;
like(health('mail_failures'), qr/^ok: 3 of 44 delivery attempts/, 'once mail flows again: ok');

# --- an SLA breached
$node->safe_psql('postgres', q{
	INSERT INTO crm.account (name) VALUES ('云途物流');
	INSERT INTO crm.ticket (subject, account_id, priority) SELECT '无法登录', a.id, 'urgent' FROM crm.account a;
	UPDATE crm.ticket SET response_due_at = now() - interval '1 minute'});
is(health('sla'), 'warning: 1 unresolved tickets are past a service-level target', 'a breached ticket: warning');
($rc, $out) = check_crm();
is($rc, 1, 'check_crm: warning');
$node->safe_psql('postgres', q{UPDATE crm.setting SET value = '5, 20' WHERE key = 'health_sla_breaches'});
like(health('sla'), qr/^ok: /, 'the thresholds are settings');

# --- the worker stopped (it is restarted after 5 s)
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$node->poll_query_until('postgres', q{SELECT status = 'critical' FROM crm.health() WHERE check_name = 'worker'})
  or die 'the stopped worker is not reported';
($rc, $out) = check_crm('-C', 'worker');
like($out, qr/^CRM (CRITICAL - worker: the crm worker is not running \(stopped\)|OK - 1 checks ok)/,
	'check_crm reports the stopped worker (unless it is already back)');
wait_for_worker($node, $pid);
$node->poll_query_until('postgres', q{SELECT status = 'ok' FROM crm.health() WHERE check_name = 'worker'}) or die;
pass('the restarted worker is ok again');

# --- check_crm's UNKNOWN cases
($rc, $out) = check_crm('-p', '1');
is($rc, 3, 'cannot connect: UNKNOWN');
like($out, qr/^CRM UNKNOWN - .*(connection|connect)/, 'saying why');
$node->safe_psql('postgres', 'CREATE DATABASE nocrm');
($rc, $out) = check_crm('-d', 'nocrm');
is($rc, 3, 'crm not installed: UNKNOWN');
($rc, $out) = check_crm('-C', 'worker', '-w', '5');
is($rc, 3, '-w without a number for -c: UNKNOWN');
($rc, $out) = check_crm('--frobnicate');
is($rc, 3, 'an unknown option: UNKNOWN');
($rc, $out) = check_crm('-C', 'nonesuch');
is($rc, 3, 'an unknown check: UNKNOWN');

# --- a journey step overdue: the worker's claim skips an enrollment another transaction has locked
$node->safe_psql('postgres', q{
	SELECT crm.create_journey('late', 'Late', NULL, '[{"kind": "wait", "delay": "1 day"}]');
	SELECT crm.activate_journey('late');});
my $enrollment = $node->safe_psql('postgres', q{
	INSERT INTO crm.contact (name, email) VALUES ('晚到', 'late@example.com');
	INSERT INTO crm.journey_enrollment (journey_id, version, contact_id, position, next_run_at)
	SELECT j.id, 1, c.id, 1, now() + interval '1 day' FROM crm.journey j, crm.contact c
	 WHERE j.key = 'late' AND c.email = 'late@example.com' RETURNING id});
$node->safe_psql('postgres', qq{
	BEGIN; SELECT 1 FROM crm.journey_enrollment WHERE id = $enrollment FOR KEY SHARE; PREPARE TRANSACTION 'late'});
$node->safe_psql('postgres', "UPDATE crm.journey_enrollment SET next_run_at = now() - interval '2 hours' WHERE id = $enrollment");
like(health('journeys'), qr/^critical: enrollment $enrollment is 02:00:\d\d behind schedule$/, 'a journey step 2 hours late: critical');
my $journeys_backlog = q{SELECT d->>'backlog' FROM crm.worker_status, jsonb_array_elements(duties) AS d
	WHERE d->>'duty' = 'journeys'};
$node->poll_query_until('postgres', $journeys_backlog, '1')
  or die 'crm.worker_status never showed the step due';
pass('crm.worker_status shows the journeys duty with one step due');
$node->safe_psql('postgres', "ROLLBACK PREPARED 'late'");
$node->poll_query_until('postgres', q{SELECT status = 'ok' FROM crm.health() WHERE check_name = 'journeys'})
  or die 'the journey step was not run';
pass('once the worker can run it: ok');
$node->poll_query_until('postgres', $journeys_backlog, '0')
  or die 'the journeys backlog did not go back to 0';
pass('and its backlog in crm.worker_status is back to 0');

# --- audit: a prepared transaction that wrote a log row keeps later rows from being sealed (by
# the worker or anyone); first the worker seals what the steps above wrote
$node->poll_query_until('postgres', q{SELECT detail LIKE 'every audit row is sealed%' FROM crm.health() WHERE check_name = 'audit'})
  or die 'the worker did not seal the audit log';
$node->safe_psql('postgres', q{
	BEGIN; INSERT INTO crm.account (name) VALUES ('held'); PREPARE TRANSACTION 'audit_hold';});
$node->safe_psql('postgres', q{
	INSERT INTO crm.audit_log (at, actor, table_name, action, changed, txid)
	VALUES (now() - interval '20 minutes', current_user, 'crm.account', 'update', '{}', pg_current_xact_id())});
like(health('audit'), qr/^warning: audit row \d+ has waited 00:20:\d\d to be sealed$/, 'an audit row unsealed for 20 minutes: warning');
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'audit_hold'});

# --- Prometheus: a strict parser, and the same names as the exporter's queries
$node->safe_psql('postgres', 'ANALYZE');
my ($metrics_out, $metrics_err);
IPC::Run::run([ 'psql', '-X', '-A', '-t', '-h', $node->host, '-p', $node->port,
		'-U', 'nagios', '-d', 'postgres', '-c', 'SELECT crm.prometheus_metrics()' ],
	'|', [ '/usr/bin/python3', "$src/test/ops/prometheus_check.py" ], '>', \$metrics_out, '2>', \$metrics_err);
is($?, 0, 'the Prometheus text passes prometheus_client and the line grammar') or diag($metrics_out . $metrics_err);
my %families = map { (split / /)[0] => 1 } split /\n/, $metrics_out;
for my $name (qw(crm_worker_up crm_delivery_held crm_mail_oldest_due_seconds crm_mail_failure_ratio
	crm_sla_breached_tickets crm_health_status crm_duty_done_total crm_duty_errors_total crm_table_rows_estimate))
{
	ok($families{$name}, "family $name is exposed");
}
like($metrics_out, qr/^crm_duty_done_total counter 6$/m, 'a counter per duty');

my $queries = decode_json(`/usr/bin/python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)' $src/contrib/postgres_exporter/crm_queries.yaml`);
my %seen;
for my $namespace (sort keys %$queries)
{
	my $q = $queries->{$namespace};
	my ($stdout, $stderr) = ('', '');
	my @columns = map { (keys %$_)[0] } @{ $q->{metrics} };
	my $ok = $node->psql('postgres', "SELECT * FROM ($q->{query}) AS q",
		stdout => \$stdout, stderr => \$stderr, extra_params => [ '-U', 'nagios', '-P', 'tuples_only=off', '-P', 'footer=off' ]);
	is($ok, 0, "exporter query $namespace runs as pg_monitor") or diag($stderr);
	my ($header) = split /\n/, $stdout;
	is($header // '', join('|', @columns), "exporter query $namespace returns the columns it declares");
	my $rows = () = $stdout =~ /\n/g;
	for my $m (@{ $q->{metrics} })
	{
		my ($column, $spec) = %$m;
		next if $spec->{usage} eq 'LABEL';
		$seen{"${namespace}_$column"} = 1 if $rows > 0;
	}
}
for my $name (sort keys %seen)
{
	ok($families{$name}, "exporter metric $name has the name crm.prometheus_metrics() gives it");
}

done_testing();
