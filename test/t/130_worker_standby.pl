# 130_worker_standby.pl: the mail worker sends nothing on a hot standby.
# The primary's SMTP server is down, so queued mail stays queued there and
# replicates.  A streaming standby, configured to send to a live server,
# runs no worker and sends nothing while in recovery; once promoted, its
# worker starts, re-queues what the primary left in 'sending', and delivers
# every message.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $smtp = start_smtp(dir => "$tmp/smtp");
my $dead_port = PostgreSQL::Test::Cluster::get_free_port();

my $primary = mail_node('primary', allows_streaming => 1, conf => [
		"crm.mail_transport = 'smtp'", "crm.smtp_url = 'smtp://127.0.0.1:$dead_port'",
		"crm.smtp_starttls = 'off'", "crm.max_attempts = 1000" ]);
wait_for_worker($primary);
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', "crm.smtp_url = 'smtp://127.0.0.1:$smtp->{port}'\n");
$standby->start;

$primary->safe_psql('postgres', q{
	SELECT count(crm.send_email('replica' || g || '@example.com', '备库测试 ' || g, 'body', '<p>b</p>'))
	  FROM generate_series(1, 20) g});
$primary->poll_query_until('postgres',
	"SELECT min(attempts) >= 1 FROM crm.email_outbox") or die;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM crm.email_outbox'), 20,
	'the queue replicated to the standby');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'crm worker'"),
	0, 'no crm worker runs on the standby');
is($standby->safe_psql('postgres', 'SELECT pid IS NULL AND state = \'not started\' FROM crm.worker_status'),
	't', 'crm.worker_status on the standby says so');
sleep(3);
is(scalar(smtp_events($smtp, 'accepted')), 0, 'the standby sent nothing');
ok(!$standby->log_contains('crm worker started'), 'no worker started there');

$standby->promote;
my $pid = wait_for_worker($standby);
ok($pid, 'after promotion the worker starts');
ok(wait_until_final($standby), 'and drains the queue');
is($standby->safe_psql('postgres', "SELECT status, count(*) FROM crm.email_outbox GROUP BY 1"),
	'sent|20', 'every message sent from the promoted standby');
my $r = check_delivery($standby, $smtp->{msgs}, 'true');
is($r->{delivered}, 20, 'all 20 arrived');
is_deeply([ $r->{missing}, $r->{unexpected}, $r->{mismatches} ], [ [], [], [] ],
	'and match their rows');

$standby->stop;
$primary->stop;
done_testing();
