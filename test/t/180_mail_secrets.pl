# 180_mail_secrets.pl: SMTP credentials never cross an unencrypted connection.
#  - a server that offers no STARTTLS but would take AUTH in clear text: with
#    crm.smtp_user set and crm.smtp_starttls = try (the default) the worker
#    sends no AUTH and no message; the delivery is retried (a setting, not
#    the message, is wrong), never failed;
#  - with crm.smtp_starttls = off and credentials, it refuses to connect;
#  - without credentials, try still delivers over a plain connection;
#  - a server that offers STARTTLS: try with credentials upgrades and
#    authenticates;
#  - URLs with credentials in them are refused by crm.smtp_url and
#    crm.http_url (the settings keep their value), for every way of setting
#    them.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $clear = start_smtp(dir => "$tmp/clear", auth => 'alice:s3cret', auth_without_tls => 1);
my $node = mail_node('secrets', conf => [ 'crm.max_attempts = 100' ]);
wait_for_worker($node);

# --- no STARTTLS offered, credentials set, try: no AUTH, retried
use_smtp($node, $clear, 'crm.smtp_user' => 'alice', 'crm.smtp_password' => 's3cret');
is($node->safe_psql('postgres', 'SHOW crm.smtp_starttls'), 'try', 'crm.smtp_starttls is try (the default)');
$node->safe_psql('postgres', "SELECT crm.send_email('clear\@example.com', '明文', 'x')");
$node->poll_query_until('postgres', q{
	SELECT attempts >= 3 AND status = 'queued' FROM crm.email_outbox WHERE to_address = 'clear@example.com'})
  or die;
pass('the message is retried, not failed');
like($node->safe_psql('postgres', "SELECT last_error FROM crm.email_outbox WHERE to_address = 'clear\@example.com'"),
	qr/STARTTLS|SSL/i, 'the error says TLS could not be had');
is(scalar(smtp_events($clear, 'auth')), 0, 'the server never saw AUTH');
is(scalar(smtp_events($clear, 'accepted')), 0, 'nor the message');
ok(scalar(smtp_events($clear, 'rcpt')) == 0, 'nor a recipient');

# --- off with credentials: refused before connecting
set_conf($node, 'crm.smtp_starttls' => 'off');
$node->poll_query_until('postgres', q{
	SELECT last_error LIKE '%credentials are never sent over an unencrypted connection%'
	  FROM crm.email_outbox WHERE to_address = 'clear@example.com'}) or die;
pass('crm.smtp_starttls = off with credentials: refused, and the error says why');
is(scalar(smtp_events($clear, 'auth')), 0, 'still no AUTH seen');
is($node->safe_psql('postgres', "SELECT status FROM crm.email_outbox WHERE to_address = 'clear\@example.com'"),
	'queued', 'the message waits for the settings to be fixed');

# --- without credentials, try still delivers in clear
my $open = start_smtp(dir => "$tmp/open");
use_smtp($node, $open, 'crm.smtp_starttls' => 'try', 'crm.smtp_user' => '', 'crm.smtp_password' => '');
ok(wait_until_final($node), 'without credentials the queue drains over a plain connection');
my @accepted = smtp_events($open, 'accepted');
is(scalar(@accepted), 1, 'the waiting message arrived once');
ok(!$accepted[0]{tls} && !defined $accepted[0]{auth}, 'over a plain connection, without AUTH');
is(scalar(smtp_events($clear, 'auth')), 0, 'the clear-text server never saw AUTH at all');

# --- a server that offers STARTTLS: try + credentials upgrades, then authenticates
my ($cert, $key) = make_cert("$tmp/cert");
my $tls = start_smtp(dir => "$tmp/tls", cert => $cert, key => $key, auth => 'alice:s3cret');
use_smtp($node, $tls, 'crm.smtp_ca_file' => $cert, 'crm.smtp_user' => 'alice', 'crm.smtp_password' => 's3cret');
$node->safe_psql('postgres', "SELECT crm.send_email('tls\@example.com', '加密', 'x')");
ok(wait_until_final($node), 'delivered through the STARTTLS server');
@accepted = smtp_events($tls, 'accepted');
ok(@accepted == 1 && $accepted[0]{tls} && $accepted[0]{auth} eq 'alice',
	'over TLS, authenticated as alice');

# --- URLs with credentials are refused, however they are set
my @bad = (
	[ 'crm.smtp_url', 'smtp://alice:s3cret@127.0.0.1:25' ],
	[ 'crm.http_url', 'https://api.example.com/send?api_key=KEY' ],
	[ 'crm.http_url', 'https://api.example.com/send?x=1&token=T' ]);
for my $b (@bad)
{
	my ($name, $url) = @$b;
	my ($rc, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET $name = '$url'");
	isnt($rc, 0, "ALTER SYSTEM SET $name refuses $url");
	like($err, qr/DETAIL:  The URL.* every role can read \Q$name\E\./, '... saying why');
}
# in the configuration files: a reload keeps the old value and says why in the log
my $before = $node->safe_psql('postgres', 'SHOW crm.smtp_url');
my $offset = -s $node->logfile;
$node->append_conf('postgresql.auto.conf', "crm.smtp_url = 'smtp://bob:pw\@127.0.0.1:25'\n");
$node->reload;
$node->wait_for_log(qr/invalid value for parameter "crm.smtp_url"/, $offset);
is($node->safe_psql('postgres', 'SHOW crm.smtp_url'), $before, 'a reload keeps the previous crm.smtp_url');

$node->stop;
done_testing();
