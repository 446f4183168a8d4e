# 110_worker_smtp.pl: the mail worker delivering over SMTP to a real server
# on loopback (test/mail/smtp_server.py) with STARTTLS and AUTH.
#  - the worker is visible in pg_stat_activity and crm.worker_status;
#  - 1,000 messages with Chinese subjects and HTML: exactly that set arrives,
#    each parsed and equal to its outbox row, over TLS, authenticated, with
#    connections reused;
#  - 4xx retried with backoff then delivered, a dropped connection retried,
#    5xx failed, a 5xx to RCPT suppressed as a hard bounce, retries capped by
#    crm.max_attempts;
#  - AUTH LOGIN on a restarted server (pooled connections the server
#    closed cost no attempt), a wrong password (retried, not failed),
#    smtps://;
#  - the server down for a while: the queue waits, then drains;
#  - a plain role cannot read the secrets.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $tmp = PostgreSQL::Test::Utils::tempdir();
my ($cert, $key) = make_cert("$tmp/cert");
my $smtp = start_smtp(dir => "$tmp/smtp", cert => $cert, key => $key,
	auth => 'alice:s3cret', auth_mechs => 'PLAIN');

my $node = mail_node('smtp', conf => [ "crm.max_in_flight = 16", "crm.max_attempts = 4" ]);
use_smtp($node, $smtp, 'crm.smtp_starttls' => 'require', 'crm.smtp_ca_file' => $cert,
	'crm.smtp_user' => 'alice', 'crm.smtp_password' => 's3cret');

# --- the worker is there, named, and reports itself
my $pid = wait_for_worker($node);
is($node->safe_psql('postgres',
		"SELECT application_name FROM pg_stat_activity WHERE pid = $pid"),
	'crm worker', 'worker has application_name "crm worker"');
is($node->safe_psql('postgres', "SELECT pid FROM crm.worker_status"), $pid,
	'crm.worker_status shows the worker pid');
is($node->safe_psql('postgres', "SELECT database FROM crm.worker_status"), 'postgres',
	'crm.worker_status shows the database it serves');

# --- 1,000 messages, Chinese subjects, HTML
my $t0 = time;
$node->safe_psql('postgres', q{
	SELECT count(crm.send_email(
	         'user' || g || '@example.com',
	         '第 ' || g || ' 号：欢迎参加 Python 数据分析课程 — 限时优惠 ' || repeat('好', g % 40),
	         'Hello ' || g || E'\n你好，世界。\nA line that is long enough to be folded by any encoder that keeps lines short: ' || repeat('x', 120),
	         '<html><body><h1>课程 ' || g || '</h1><p>点击 <a href="https://example.com/c/' || g || '">这里</a></p></body></html>'))
	  FROM generate_series(1, 1000) g});
ok(wait_until_final($node), '1,000 messages reach a final state');
my $secs = time - $t0;
diag(sprintf("1,000 messages over STARTTLS+AUTH in %.1f s", $secs));
is($node->safe_psql('postgres', "SELECT status, count(*) FROM crm.email_outbox GROUP BY status"),
	'sent|1000', 'all 1,000 sent');
my $r = check_delivery($node, $smtp->{msgs}, 'true');
is($r->{delivered}, 1000, 'every message arrived');
is($r->{files}, 1000, 'no message arrived twice');
is_deeply([ $r->{missing}, $r->{unexpected}, $r->{mismatches} ], [ [], [], [] ],
	'each message parses and matches its row (subject, To, text and HTML parts, Message-ID)');
my @accepted = smtp_events($smtp, 'accepted');
is(scalar(grep { $_->{tls} && ($_->{auth} // '') eq 'alice' } @accepted), 1000,
	'every message went over TLS, authenticated as alice');
my @auths = smtp_events($smtp, 'auth');
ok(@auths <= 32, 'connections are reused (' . scalar(@auths) . ' logins for 1,000 messages)');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM crm.email_delivery_log WHERE outcome = 'sent' AND transport = 'smtp' AND response_code = 250"),
	1000, 'one delivery-log row per message, with the SMTP code');
is($node->safe_psql('postgres', "SELECT sent_since_start, sending, queued FROM crm.worker_status"),
	'1000|0|0', 'crm.worker_status counts the deliveries');

# --- temporary and permanent failures
$node->safe_psql('postgres', q{
	SELECT crm.send_email('retry2-a@example.com', '重试', 'twice 451, then accepted');
	SELECT crm.send_email('drop1-b@example.com', '断开', 'connection dropped in DATA once');
	SELECT crm.send_email('bounce-c@example.com', '退信', 'no such user');
	SELECT crm.send_email('dataperm-d@example.com', '拒收', '554 after DATA');
	SELECT crm.send_email('temp-e@example.com', '一直忙', 'always 451');});
ok(wait_until_final($node), 'the failure cases reach a final state');
is($node->safe_psql('postgres', q{
	SELECT string_agg(split_part(to_address, '@', 1) || ':' || status || ':' || attempts, ' ' ORDER BY to_address)
	  FROM crm.email_outbox WHERE to_address NOT LIKE 'user%'}),
	'bounce-c:failed:1 dataperm-d:failed:1 drop1-b:sent:2 retry2-a:sent:3 temp-e:failed:4',
	'4xx and a dropped connection retried, 5xx failed, retries stop at crm.max_attempts');
is($node->safe_psql('postgres', q{
	SELECT string_agg(outcome || ':' || coalesce(response_code::text, '-'), ' ' ORDER BY attempt)
	  FROM crm.email_delivery_log l JOIN crm.email_outbox o ON o.id = l.outbox_id
	 WHERE o.to_address = 'retry2-a@example.com'}),
	'retry:451 retry:451 sent:250', 'the delivery log has one row per attempt');
ok($node->safe_psql('postgres', q{
	SELECT bool_and(gap >= interval '90 ms') AND max(gap) > min(gap)
	  FROM (SELECT started_at - lag(finished_at) OVER (ORDER BY attempt) AS gap
	          FROM crm.email_delivery_log l JOIN crm.email_outbox o ON o.id = l.outbox_id
	         WHERE o.to_address = 'temp-e@example.com') s WHERE gap IS NOT NULL}) eq 't',
	'retries wait (exponential backoff with jitter from crm.retry_delay)');
like($node->safe_psql('postgres',
		"SELECT last_error FROM crm.email_outbox WHERE to_address = 'bounce-c\@example.com'"),
	qr/^RCPT TO refused: 550 5\.1\.1 no such user/, 'the failure keeps the server reply');
is($node->safe_psql('postgres', "SELECT address FROM crm.email_suppression ORDER BY 1"),
	'bounce-c@example.com', 'only the hard bounce (5xx to RCPT) is suppressed');
is($node->safe_psql('postgres', "SELECT crm.send_email('Bounce-C\@example.com', 'again', 'x') IS NULL"),
	't', 'a suppressed address is not queued again');
like($node->safe_psql('postgres', "SELECT last_error FROM crm.worker_status"),
	qr/^message \d+ \(smtp\): /, 'crm.worker_status shows the last error');

# --- AUTH LOGIN, then a wrong password: retried, not failed
stop_smtp($smtp);
$smtp = start_smtp(dir => "$tmp/smtp", port => $smtp->{port}, cert => $cert, key => $key,
	auth => 'alice:s3cret', auth_mechs => 'LOGIN');
$node->safe_psql('postgres', "SELECT crm.send_email('login\@example.com', 'LOGIN', 'x')");
ok(wait_until_final($node), 'delivered with AUTH LOGIN');
is($node->safe_psql('postgres', "SELECT status || ':' || attempts FROM crm.email_outbox WHERE to_address = 'login\@example.com'"),
	'sent:1', 'the dead pooled connections to the old server cost no attempt');
is((grep { $_->{mechanism} eq 'LOGIN' && $_->{ok} } smtp_events($smtp, 'auth')) > 0, 1,
	'the server saw AUTH LOGIN');
set_conf($node, 'crm.smtp_password' => 'wrong', 'crm.max_attempts' => 100);
$node->safe_psql('postgres', "SELECT crm.send_email('badpass\@example.com', 'auth', 'x')");
$node->poll_query_until('postgres', q{
	SELECT attempts >= 2 AND status = 'queued' FROM crm.email_outbox WHERE to_address = 'badpass@example.com'})
  or die;
like($node->safe_psql('postgres',
		"SELECT last_error FROM crm.email_outbox WHERE to_address = 'badpass\@example.com'"),
	qr/^session: 535/, 'a refused login is retried (a setting, not the message, is wrong)');
set_conf($node, 'crm.smtp_password' => 's3cret');
ok(wait_until_final($node), 'delivered once the password is fixed (SIGHUP)');
is($node->safe_psql('postgres', "SELECT status FROM crm.email_outbox WHERE to_address = 'badpass\@example.com'"),
	'sent', 'message sent after the reload');

# --- smtps:// (TLS from the first byte)
my $smtps = start_smtp(dir => "$tmp/smtps", cert => $cert, key => $key, implicit_tls => 1,
	auth => 'alice:s3cret');
set_conf($node, 'crm.smtp_url' => "smtps://127.0.0.1:$smtps->{port}");
$node->safe_psql('postgres', "SELECT crm.send_email('tls\@example.com', 'smtps', 'x', '<p>x</p>')");
ok(wait_until_final($node), 'delivered over smtps://');
$r = check_delivery($node, $smtps->{msgs}, "to_address = 'tls\@example.com'");
is($r->{delivered}, 1, 'the smtps message arrived and matches');
stop_smtp($smtps);
set_conf($node, 'crm.smtp_url' => "smtp://127.0.0.1:$smtp->{port}");

# --- the server is down for a while: the queue waits, then drains
stop_smtp($smtp);
$node->safe_psql('postgres', q{
	SELECT count(crm.send_email('down' || g || '@example.com', '服务器停机 ' || g, 'x'))
	  FROM generate_series(1, 50) g});
$node->poll_query_until('postgres', q{
	SELECT min(attempts) >= 2 FROM crm.email_outbox WHERE to_address LIKE 'down%'}) or die;
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT status, ',') FROM crm.email_outbox WHERE to_address LIKE 'down%'}),
	'queued', 'while the server is down the messages wait in the queue');
like($node->safe_psql('postgres',
		"SELECT last_error FROM crm.email_outbox WHERE to_address = 'down1\@example.com'"),
	qr/Couldn't connect to server|Connection refused/i, 'the error says the server is unreachable');
$smtp = start_smtp(dir => "$tmp/smtp", port => $smtp->{port}, cert => $cert, key => $key,
	auth => 'alice:s3cret');
ok(wait_until_final($node), 'the queue drains once the server is back');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM crm.email_outbox WHERE to_address LIKE 'down%' AND status = 'sent'}),
	50, 'all 50 delivered');

# --- secrets
$node->safe_psql('postgres', q{
	CREATE ROLE plain LOGIN;
	GRANT crm_user TO plain;});
for my $secret ('crm.smtp_password', 'crm.http_auth_header')
{
	my ($rc, $out, $err) = $node->psql('postgres', "SHOW $secret", extra_params => [ '-U', 'plain' ]);
	isnt($rc, 0, "a plain role cannot SHOW $secret");
	like($err, qr/must be superuser or have privileges of pg_read_all_settings/, "... with the reason");
	($rc, $out, $err) = $node->psql('postgres', "SELECT current_setting('$secret')",
		extra_params => [ '-U', 'plain' ]);
	isnt($rc, 0, "... nor read it with current_setting()");
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_settings WHERE name = '$secret'",
			extra_params => [ '-U', 'plain' ]), 0, "... nor see it in pg_settings");
}
is($node->safe_psql('postgres', 'SHOW crm.smtp_password'), 's3cret', 'a superuser can');
is($node->safe_psql('postgres', 'SHOW crm.smtp_user', extra_params => [ '-U', 'plain' ]), 'alice',
	'non-secret settings stay readable');
is($node->safe_psql('postgres', 'SELECT state FROM crm.worker_status', extra_params => [ '-U', 'plain' ]),
	'idle', 'crm_user (through crm_reader) can read crm.worker_status');

is(worker_pid($node), $pid, 'the same worker did all of this (it never crashed)');
$node->stop;
done_testing();
