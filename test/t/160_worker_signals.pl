# 160_worker_signals.pl: SIGHUP and SIGTERM reach the mail worker while an
# SMTP delivery is stalled (crm.send_timeout is far away):
#  - a reload during the stall takes effect at once: the next message goes
#    out through the newly configured transport;
#  - SIGTERM ends the worker promptly, both while the server withholds its
#    answer to RCPT TO and while it withholds the answer to the end of DATA
#    (where libcurl itself blocks); the postmaster restarts it, the lease of
#    the interrupted message is recovered and the message delivered;
#  - a fast shutdown is not held up by a stalled delivery either.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $smtp = start_smtp(dir => "$tmp/smtp");
my $node = mail_node('signals', conf => [ "crm.send_timeout = '10min'" ]);
use_smtp($node, $smtp, 'crm.smtp_starttls' => 'off');
my $pid = wait_for_worker($node);

sub wait_for_stall
{
	my $n = shift;
	for (1 .. 300)
	{
		return 1 if scalar(smtp_events($smtp, 'stall')) >= $n;
		Time::HiRes::usleep(100_000);
	}
	die "no stall";
}

# --- a stall at RCPT TO, then SIGHUP
$node->safe_psql('postgres', "SELECT crm.send_email('stall1-a\@example.com', '卡住', 'x')");
wait_for_stall(1);
is($node->safe_psql('postgres', "SELECT state, in_flight FROM crm.worker_status"), 'sending|1',
	'the worker is in the middle of a delivery');
set_conf($node, 'crm.mail_transport' => 'file');
$node->safe_psql('postgres', "SELECT crm.send_email('after-reload\@example.com', '重新加载', 'x')");
$node->poll_query_until('postgres',
	"SELECT status = 'sent' FROM crm.email_outbox WHERE to_address = 'after-reload\@example.com'") or die;
like($node->safe_psql('postgres', q{
	SELECT detail FROM crm.email_delivery_log l JOIN crm.email_outbox o ON o.id = l.outbox_id
	 WHERE to_address = 'after-reload@example.com'}),
	qr/^written to /, 'SIGHUP during a stalled send: the next message uses the new transport');
is($node->safe_psql('postgres', "SELECT status FROM crm.email_outbox WHERE to_address = 'stall1-a\@example.com'"),
	'sending', 'while the stalled delivery is still in flight');

# --- SIGTERM during that stall
my $offset = -s $node->logfile;
my $t0 = time;
kill 'TERM', $pid;
$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid") or die;
my $took = time - $t0;
ok($took < 3, sprintf('SIGTERM during a stalled RCPT TO ends the worker in %.2f s', $took));
$node->wait_for_log(qr/terminating background worker "crm worker" due to administrator command/, $offset);
set_conf($node, 'crm.mail_transport' => 'smtp');
my $pid2 = wait_for_worker($node, $pid);
ok($pid2, 'the postmaster restarts it (non-zero exit)');
$node->wait_for_log(qr/crm worker re-queued 1 interrupted mail deliveries/, $offset);
ok(wait_until_final($node), 'the interrupted message is delivered by the new worker');
is($node->safe_psql('postgres', "SELECT status || ':' || attempts FROM crm.email_outbox WHERE to_address = 'stall1-a\@example.com'"),
	'sent:2', 'on its second attempt');

# --- SIGTERM while libcurl waits for the answer to the end of DATA
$node->safe_psql('postgres', "SELECT crm.send_email('stalldata-b\@example.com', '卡在数据', 'x')");
wait_for_stall(2);
$t0 = time;
kill 'TERM', $pid2;
$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid2") or die;
$took = time - $t0;
ok($took < 3, sprintf('SIGTERM while libcurl blocks for the final reply ends the worker in %.2f s', $took));
my $pid3 = wait_for_worker($node, $pid2);
ok($pid3, 'and it is restarted');
wait_for_stall(3);

# --- a fast shutdown with a delivery stalled
$t0 = time;
$node->stop('fast');
$took = time - $t0;
ok($took < 10, sprintf('a fast shutdown with a stalled delivery takes %.2f s', $took));
done_testing();
