# 150_worker_http_file.pl: the http and file transports, the send-rate cap
# and retention.
#  - http: a loopback HTTP server (test/mail/http_server.py) receives one
#    JSON POST per message with the configured auth header and an
#    Idempotency-Key; a wrong header (401) and 503 are retried, 422 fails;
#  - file: one .eml per message in crm.mail_dir under the data directory
#    (or an absolute directory), named by Message-ID, parseable, no
#    temporary files left; a retry replaces the file instead of adding one;
#  - crm.send_rate spaces deliveries out;
#  - crm.mail_retention deletes old finished messages with their log.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $token = 'Bearer t0ken-abc.def';
my $http = start_http(dir => "$tmp/http", auth_header => "Authorization: $token");
my $node = mail_node('transports', conf => [ 'crm.max_attempts = 3' ]);
wait_for_worker($node);

# --- http
set_conf($node, 'crm.mail_transport' => 'http',
	'crm.http_url' => "http://127.0.0.1:$http->{port}/v1/send",
	'crm.http_auth_header' => $token);
$node->safe_psql('postgres', q{
	SELECT count(crm.send_email('web' || g || '@example.com', 'HTTP 接口 ' || g,
	                            'text ' || g, CASE WHEN g % 2 = 0 THEN '<b>' || g || '</b>' END))
	  FROM generate_series(1, 20) g});
ok(wait_until_final($node), 'http: 20 messages final');
is($node->safe_psql('postgres', "SELECT status, count(*) FROM crm.email_outbox GROUP BY 1"),
	'sent|20', 'http: all sent');
my $r = check_delivery($node, $http->{msgs}, 'true', http => 1);
is($r->{delivered}, 20, 'http: every message posted once');
is_deeply([ $r->{missing}, $r->{unexpected}, $r->{mismatches}, $r->{duplicates} ], [ [], [], [], [] ],
	'http: JSON fields and the raw message match each row');
my @posts = grep { $_->{status} == 200 } http_events($http);
is(scalar(grep { $_->{auth_ok} && $_->{path} eq '/v1/send' && $_->{content_type} =~ m{^application/json} } @posts),
	20, 'http: every request carried the auth header, to the configured path, as JSON');
my %keys = map { $_->{idempotency_key} => 1 } @posts;
is($node->safe_psql('postgres', "SELECT count(*) FROM crm.email_outbox WHERE message_id = ANY ('{"
		  . join(',', map { qq{"$_"} } keys %keys) . "}')"),
	20, 'http: the Idempotency-Key header is the Message-ID');

$node->safe_psql('postgres', q{
	SELECT crm.send_email('temp-x@example.com', '503', 'x');
	SELECT crm.send_email('perm-y@example.com', '422', 'x');});
ok(wait_until_final($node, "to_address IN ('temp-x\@example.com', 'perm-y\@example.com')"),
	'http: error cases final');
is($node->safe_psql('postgres', q{
	SELECT string_agg(split_part(to_address, '@', 1) || ':' || status || ':' || attempts, ' ' ORDER BY to_address)
	  FROM crm.email_outbox WHERE to_address IN ('temp-x@example.com', 'perm-y@example.com')}),
	'perm-y:failed:1 temp-x:failed:3', 'http: 503 retried up to crm.max_attempts, 422 failed at once');
is($node->safe_psql('postgres',
		"SELECT response_code || ' ' || left(detail, 8) FROM crm.email_delivery_log l JOIN crm.email_outbox o ON o.id = l.outbox_id WHERE to_address = 'perm-y\@example.com'"),
	'422 HTTP 422', 'http: the delivery log keeps the status');
is($node->safe_psql('postgres', "SELECT count(*) FROM crm.email_suppression"), 0,
	'http: no suppression (HTTP says nothing about the address)');

set_conf($node, 'crm.http_auth_header' => 'Authorization: Bearer wrong', 'crm.max_attempts' => 100);
$node->safe_psql('postgres', "SELECT crm.send_email('auth\@example.com', 'auth', 'x')");
$node->poll_query_until('postgres',
	"SELECT attempts >= 2 AND status = 'queued' FROM crm.email_outbox WHERE to_address = 'auth\@example.com'") or die;
like($node->safe_psql('postgres', "SELECT last_error FROM crm.email_outbox WHERE to_address = 'auth\@example.com'"),
	qr/^HTTP 401/, 'http: a rejected auth header is retried');
set_conf($node, 'crm.http_auth_header' => $token);
ok(wait_until_final($node), 'http: delivered once the header is fixed');
is($node->safe_psql('postgres', "SELECT status FROM crm.email_outbox WHERE to_address = 'auth\@example.com'"),
	'sent', 'http: sent');

# --- file, relative to the data directory
set_conf($node, 'crm.mail_transport' => 'file', 'crm.mail_dir' => 'outgoing/mail');
$node->safe_psql('postgres', q{
	SELECT count(crm.send_email('file' || g || '@example.com', '文件 ' || g, 'text ' || g, '<i>' || g || '</i>'))
	  FROM generate_series(1, 10) g});
ok(wait_until_final($node), 'file: 10 messages final');
my $dir = $node->data_dir . '/outgoing/mail';
$r = check_delivery($node, $dir, "to_address LIKE 'file%'");
is($r->{delivered}, 10, 'file: one file per message under the data directory');
is_deeply([ $r->{missing}, $r->{unexpected}, $r->{mismatches} ], [ [], [], [] ],
	'file: each file parses and matches its row');
opendir(my $dh, $dir) or die;
my @all = grep { !/^\.\.?$/ } readdir($dh);
closedir($dh);
is(scalar(grep { /^\./ } @all), 0, 'file: no temporary file left behind');
my @expected = split /\n/, $node->safe_psql('postgres',
	"SELECT regexp_replace(message_id, '^<(.*)>\$', '\\1') || '.eml' FROM crm.email_outbox WHERE to_address LIKE 'file%' ORDER BY 1");
is_deeply([ sort @all ], \@expected, 'file: files are named by Message-ID');
like($node->safe_psql('postgres', "SELECT detail FROM crm.email_delivery_log l JOIN crm.email_outbox o ON o.id = l.outbox_id WHERE to_address = 'file1\@example.com'"),
	qr{^written to outgoing/mail/.*\.eml$}, 'file: the delivery log says where');

# a retry of the same message replaces its file
$node->safe_psql('postgres', q{
	UPDATE crm.email_outbox SET status = 'queued', next_attempt_at = now() WHERE to_address = 'file1@example.com'});
ok(wait_until_final($node), 'file: re-queued message delivered again');
opendir($dh, $dir) or die;
is(scalar(grep { !/^\.\.?$/ } readdir($dh)), 10, 'file: still one file per message');
closedir($dh);

# an absolute directory that cannot be written: retried, then written once fixed
set_conf($node, 'crm.mail_dir' => '/proc/crm-cannot-write-here');
$node->safe_psql('postgres', "SELECT crm.send_email('nodir\@example.com', 'x', 'x')");
$node->poll_query_until('postgres',
	"SELECT attempts >= 2 FROM crm.email_outbox WHERE to_address = 'nodir\@example.com'") or die;
like($node->safe_psql('postgres', "SELECT last_error FROM crm.email_outbox WHERE to_address = 'nodir\@example.com'"),
	qr/^could not create directory/, 'file: an unwritable directory is retried with the reason');
set_conf($node, 'crm.mail_dir' => "$tmp/abs");
ok(wait_until_final($node), 'file: absolute crm.mail_dir works');
$r = check_delivery($node, "$tmp/abs", "to_address = 'nodir\@example.com'");
is($r->{delivered}, 1, 'file: written there');

# --- send rate
set_conf($node, 'crm.send_rate' => '5');
$node->safe_psql('postgres', q{
	SELECT count(crm.send_email('rate' || g || '@example.com', 'rate', 'x')) FROM generate_series(1, 16) g});
ok(wait_until_final($node), 'rate: 16 messages final');
my $span = $node->safe_psql('postgres', q{
	SELECT extract(epoch FROM max(started_at) - min(started_at))
	  FROM crm.email_delivery_log l JOIN crm.email_outbox o ON o.id = l.outbox_id
	 WHERE to_address LIKE 'rate%'});
ok($span >= 2.0, "rate: crm.send_rate = 5 spreads 16 messages over ${span}s (at least 2 s after a burst of 5)");
set_conf($node, 'crm.send_rate' => '0');

# --- retention
$node->safe_psql('postgres', q{
	UPDATE crm.email_outbox SET sent_at = now() - interval '40 days' WHERE to_address LIKE 'web%';});
my $old_log = $node->safe_psql('postgres', q{
	SELECT count(*) FROM crm.email_delivery_log l JOIN crm.email_outbox o ON o.id = l.outbox_id WHERE to_address LIKE 'web%'});
ok($old_log > 0, 'retention: the old messages have delivery-log rows');
set_conf($node, 'crm.mail_retention' => '30d');
$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM crm.email_outbox WHERE to_address LIKE 'web%'")
  or die;
pass('retention: messages finished more than crm.mail_retention ago are deleted');
is($node->safe_psql('postgres', "SELECT count(*) FROM crm.email_delivery_log l WHERE NOT EXISTS (SELECT FROM crm.email_outbox o WHERE o.id = l.outbox_id)"),
	0, 'retention: with their delivery log');
ok($node->safe_psql('postgres', "SELECT count(*) FROM crm.email_outbox") >= 30, 'retention: newer messages stay');

stop_http($http);
$node->stop;
done_testing();
