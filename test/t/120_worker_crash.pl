# 120_worker_crash.pl: at-least-once delivery across crashes.  The SMTP
# server answers RCPT TO after 100 ms, so batches are in flight when
#  (1) the mail worker is killed with SIGKILL (the postmaster then restarts
#      the whole cluster: crash recovery), and
#  (2) the server is stopped in immediate mode and started again.
# Afterwards every message is sent (none lost, none failed), every delivered
# message matches its row, and a message delivered twice is one the worker
# had in flight at the crash (its delivery log says "interrupted") and
# carries the same Message-ID both times.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $smtp = start_smtp(dir => "$tmp/smtp", delay_rcpt => 100);
my $node = mail_node('crash', conf => [ 'restart_after_crash = on', 'crm.max_in_flight = 16', 'crm.max_attempts = 50' ]);
use_smtp($node, $smtp, 'crm.smtp_starttls' => 'off');
my $pid = wait_for_worker($node);

sub enqueue
{
	my ($tag, $n) = @_;
	$node->safe_psql('postgres', qq{
		SELECT count(crm.send_email('$tag' || g || '\@example.com', '崩溃测试 $tag ' || g,
		                            'body ' || g, '<p>正文 ' || g || '</p>'))
		  FROM generate_series(1, $n) g});
}

# Wait until some of the batch is sent and some is still in flight.
sub wait_mid_batch
{
	my $tag = shift;
	$node->poll_query_until('postgres', qq{
		SELECT count(*) FILTER (WHERE status = 'sent') >= 60
		   AND count(*) FILTER (WHERE status = 'sending') > 0
		  FROM crm.email_outbox WHERE to_address LIKE '$tag%'}) or die "batch not in flight";
}

sub interrupted
{
	my $tag = shift;
	return $node->safe_psql('postgres', qq{
		SELECT count(DISTINCT outbox_id) FROM crm.email_delivery_log l
		  JOIN crm.email_outbox o ON o.id = l.outbox_id
		 WHERE l.detail LIKE 'interrupted%' AND o.to_address LIKE '$tag%'});
}

# --- (1) kill -9 of the worker in the middle of a batch
enqueue('k', 400);
wait_mid_batch('k');
my $log_offset = -s $node->logfile;
kill 'KILL', $pid;
$node->wait_for_log(qr/terminated by signal 9: Killed/, $log_offset);
my $pid2 = wait_for_worker($node, $pid);
isnt($pid2, $pid, 'a new worker runs after the crash');
$node->wait_for_log(qr/crm worker re-queued (\d+) interrupted mail deliveries/, $log_offset);
ok(wait_until_final($node, "to_address LIKE 'k%'"), 'the batch finishes after the kill');
is($node->safe_psql('postgres', "SELECT status, count(*) FROM crm.email_outbox WHERE to_address LIKE 'k%' GROUP BY 1"),
	'sent|400', 'all 400 sent, none lost');
my $k_interrupted = interrupted('k');
ok($k_interrupted > 0 && $k_interrupted <= 16,
	"the deliveries in flight at the kill were re-queued ($k_interrupted, at most crm.max_in_flight)");

# --- (2) immediate shutdown and restart in the middle of a batch
enqueue('i', 400);
wait_mid_batch('i');
$node->stop('immediate');
$log_offset = -s $node->logfile;
$node->start;
$node->wait_for_log(qr/crm worker re-queued (\d+) interrupted mail deliveries/, $log_offset);
ok(wait_until_final($node, "to_address LIKE 'i%'"), 'the batch finishes after the restart');
is($node->safe_psql('postgres', "SELECT status, count(*) FROM crm.email_outbox WHERE to_address LIKE 'i%' GROUP BY 1"),
	'sent|400', 'all 400 sent, none lost');
my $i_interrupted = interrupted('i');
ok($i_interrupted > 0 && $i_interrupted <= 16,
	"the deliveries in flight at the stop were re-queued ($i_interrupted, at most crm.max_in_flight)");

# --- what arrived
check_delivery_after_crash($node, $smtp->{msgs}, 'true', 800, 'at a crash');

$node->stop;
done_testing();
