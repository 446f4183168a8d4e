# 140_worker_extension_lifecycle.pl: the crm worker survives crm being
# absent, created, dropped (with deliveries in flight) and created again:
# the same process keeps running, says so once in the log each time (no log
# spam, no crash loop), never records an old delivery into the new outbox,
# and delivers as soon as mail is queued (wake on commit, not the poll).
# DROP DATABASE ... WITH (FORCE) of its database does not hang on it.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $node = mail_node('lifecycle', no_extension => 1, conf => [ "crm.poll_interval = '1s'" ]);
my $pid = wait_for_worker($node);
$node->poll_query_until('postgres',
	"SELECT query LIKE 'crm worker: restore hold: absent; mail: waiting for extension;%' FROM pg_stat_activity WHERE pid = $pid")
  or die;
pass('without the extension the worker waits, and pg_stat_activity says so');
sleep(3);    # three polls
my $waiting = () = slurp_file($node->logfile) =~ /waiting for extension crm/g;
is($waiting, 1, 'it says so in the log once, not at every poll');

# --- created: the first commit wakes it
$node->safe_psql('postgres', "ALTER SYSTEM SET crm.poll_interval = '1h'; SELECT pg_reload_conf();");
$node->safe_psql('postgres', 'CREATE EXTENSION crm');
my $t0 = time;
$node->safe_psql('postgres', "SELECT crm.send_email('first\@example.com', '第一封', 'hello')");
ok(wait_until_final($node), 'mail queued right after CREATE EXTENSION is delivered');
# Without the wake-up, the housekeeping pass (every 10 s) would find it.
ok(time - $t0 < 8, 'promptly, although the poll interval is an hour (wake on commit)');
is($node->safe_psql('postgres', 'SELECT status FROM crm.email_outbox'), 'sent', 'sent (file transport)');

# --- dropped while deliveries are in flight
my $smtp = start_smtp(dir => "$tmp/smtp", delay_rcpt => 300);
use_smtp($node, $smtp, 'crm.smtp_starttls' => 'off');
$node->safe_psql('postgres', q{
	SELECT count(crm.send_email('drop' || g || '@example.com', '删除扩展 ' || g, 'x'))
	  FROM generate_series(1, 30) g});
$node->poll_query_until('postgres', "SELECT count(*) > 0 FROM crm.email_outbox WHERE status = 'sending'")
  or die;
my $offset = -s $node->logfile;
$t0 = time;
$node->safe_psql('postgres', 'DROP EXTENSION crm');
ok(time - $t0 < 10, 'DROP EXTENSION does not wait for the deliveries in flight');
$node->wait_for_log(qr/crm worker is waiting for extension crm/, $offset);
# (the restore hold looks at the poll, an hour here: it may still say idle)
$node->poll_query_until('postgres',
	"SELECT query LIKE 'crm worker: restore hold: %; mail: waiting for extension;%' FROM pg_stat_activity WHERE pid = $pid")
  or die 'the worker shows: ' . $node->safe_psql('postgres', "SELECT query FROM pg_stat_activity WHERE pid = $pid");
pass('after DROP EXTENSION the worker waits again');

# --- created again: sending resumes in the same process
$node->safe_psql('postgres', 'CREATE EXTENSION crm');
$node->safe_psql('postgres', q{
	SELECT count(crm.send_email('again' || g || '@example.com', '重新创建 ' || g, 'x'))
	  FROM generate_series(1, 5) g});
ok(wait_until_final($node), 'after CREATE EXTENSION again the new queue is delivered');
sleep(1);    # deliveries from the dropped outbox finish meanwhile
is($node->safe_psql('postgres', "SELECT status, count(*) FROM crm.email_outbox GROUP BY 1"),
	'sent|5', 'all 5 sent');
is($node->safe_psql('postgres', 'SELECT count(*) FROM crm.email_delivery_log'), 5,
	'no outcome of the dropped outbox leaked into the new one');
is(worker_pid($node), $pid, 'the same worker process throughout');
my $log = slurp_file($node->logfile);
my @errors = $log =~ /^.*\[$pid\] (?:ERROR|FATAL|PANIC).*$/mg;
is_deeply(\@errors, [], 'the worker logged no error');
unlike($log, qr/background worker "crm worker" \(PID \d+\) exited/, 'and never exited');
$waiting = () = $log =~ /waiting for extension crm/g;
is($waiting, 2, 'one log line per disappearance of the extension');

# --- DROP DATABASE ... WITH (FORCE) of the worker's database
$t0 = time;
$node->safe_psql('template1', 'DROP DATABASE postgres WITH (FORCE)');
ok(time - $t0 < 10, 'DROP DATABASE WITH (FORCE) ends the worker instead of waiting for it');
$node->safe_psql('template1', 'CREATE DATABASE postgres');
my $pid2 = wait_for_worker($node, $pid);
ok($pid2, 'a worker serves the database once it exists again');

stop_smtp($smtp);
$node->stop;
done_testing();
