# 190_worker_search_path.pl: nothing in the search_path of the worker's role
# or database steers mail delivery.  Schema "trap" shadows what the
# delivery SQL uses (=, <=, <, +, || on the types involved, now(), lower(),
# count(), a table named like crm's), and both ALTER ROLE ... SET search_path
# and ALTER DATABASE ... SET search_path put pg_temp and trap before
# pg_catalog.  With the worker restarted under those settings:
#  - the trap works in an ordinary session (so the test could fail);
#  - the worker claims, sends, retries (backoff in the future, not in 2000),
#    fails and suppresses a hard bounce exactly as without the trap;
#  - crm._claim_emails, run by a superuser under the trap, claims correctly.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $smtp = start_smtp(dir => "$tmp/smtp");
my $node = mail_node('search_path', conf => [ 'crm.max_attempts = 5' ]);
use_smtp($node, $smtp, 'crm.smtp_starttls' => 'off');

$node->safe_psql('postgres', q{
	CREATE SCHEMA trap;
	GRANT USAGE ON SCHEMA trap TO PUBLIC;
	CREATE FUNCTION trap.no(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
	CREATE FUNCTION trap.no(bigint, bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
	CREATE FUNCTION trap.no(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
	CREATE FUNCTION trap.yes(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
	CREATE FUNCTION trap.no(integer, integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
	CREATE FUNCTION trap.plus(integer, integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 1000';
	CREATE FUNCTION trap.plus(timestamptz, interval) RETURNS timestamptz LANGUAGE sql IMMUTABLE
	    AS $$SELECT '2000-01-01'::pg_catalog.timestamptz$$;
	CREATE FUNCTION trap.cat(text, text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'trapped'$$;
	CREATE OPERATOR trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.no);
	CREATE OPERATOR trap.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = trap.no);
	CREATE OPERATOR trap.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = trap.no);
	CREATE OPERATOR trap.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = trap.no);
	CREATE OPERATOR trap.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = trap.yes);
	CREATE OPERATOR trap.>= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = trap.no);
	CREATE OPERATOR trap.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = trap.plus);
	CREATE OPERATOR trap.+ (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = trap.plus);
	CREATE OPERATOR trap.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.cat);
	CREATE FUNCTION trap.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT '2000-01-01'::pg_catalog.timestamptz$$;
	CREATE FUNCTION trap.lower(text) RETURNS text LANGUAGE sql AS $$SELECT 'trapped'$$;
	CREATE FUNCTION trap.count(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
	CREATE TABLE trap.email_outbox (id bigint, status text);
	ALTER ROLE CURRENT_USER SET search_path = pg_temp, trap, pg_catalog;
	ALTER DATABASE postgres SET search_path = pg_temp, trap, pg_catalog;});

# The trap works in an ordinary session of that role and database.
is($node->safe_psql('postgres', q{
	SELECT current_setting('search_path'), 'queued'::text = 'queued', 1::bigint = 1::bigint,
	       now() < '2001-01-01', lower('X'), 'a'::text || 'b'}),
	'pg_temp, trap, pg_catalog|f|f|t|trapped|trapped', 'the shadowing objects win in a plain session');

# From here on the test's own sessions ignore the trap; the worker does not
# get PGOPTIONS and connects with the role's and database's settings.
$ENV{PGOPTIONS} = '-c search_path=pg_catalog';
$node->restart;
my $pid = wait_for_worker($node);

$node->safe_psql('postgres', q{
	SELECT count(crm.send_email('trap' || g || '@example.com', '陷阱 ' || g, 'body ' || g))
	  FROM generate_series(1, 30) g;
	SELECT crm.send_email('retry1-r@example.com', '重试', 'once 451');
	SELECT crm.send_email('Bounce-B@example.com', '退信', 'no such user');});
ok(wait_until_final($node), 'every message reaches a final state');
is($node->safe_psql('postgres', q{
	SELECT string_agg(status || ':' || n, ' ' ORDER BY status)
	  FROM (SELECT status, count(*) AS n FROM crm.email_outbox GROUP BY status) s}),
	'failed:1 sent:31', 'sent and failed as without the trap');
my $r = check_delivery($node, $smtp->{msgs}, "status = 'sent'");
is($r->{delivered}, 31, 'each sent message arrived');
is($r->{files}, 31, 'once');
is($node->safe_psql('postgres', q{
	SELECT attempts FROM crm.email_outbox WHERE to_address = 'retry1-r@example.com'}), 2,
	'the 451 was retried once (attempts counted with pg_catalog.+)');
ok($node->safe_psql('postgres', q{
	SELECT l2.started_at - l1.finished_at >= interval '90 ms'
	  FROM crm.email_delivery_log l1 JOIN crm.email_delivery_log l2 USING (outbox_id)
	  JOIN crm.email_outbox o ON o.id = l1.outbox_id
	 WHERE o.to_address = 'retry1-r@example.com' AND l1.attempt = 1 AND l2.attempt = 2}) eq 't',
	'the retry waited for its backoff (pg_catalog.now() and +, not the trap\'s year 2000)');
is($node->safe_psql('postgres', 'SELECT address || \' / \' || reason FROM crm.email_suppression'),
	'bounce-b@example.com / hard bounce: RCPT TO refused: 550 5.1.1 no such user',
	'the hard bounce is suppressed with pg_catalog.lower and ||');
is($node->safe_psql('postgres', 'SELECT count(*) FROM crm.email_delivery_log'), 33,
	'one delivery-log row per attempt');
is($node->safe_psql('postgres', 'SELECT count(*) FROM trap.email_outbox'), 0,
	'the table named like the outbox was never touched');

# crm._claim_emails under the trap, in a session that has it
{
	local $ENV{PGOPTIONS} = '';
	is($node->safe_psql('postgres', q{
		BEGIN;
		SELECT pg_catalog.count(crm.send_email(pg_catalog.format('claim%s@example.com', g), 'c', 'b'))
		  FROM pg_catalog.generate_series(1, 3) g;
		SELECT pg_catalog.format('%s %s', pg_catalog.count(*), pg_catalog.min(c.attempts))
		  FROM crm._claim_emails(10) c;
		ROLLBACK;}),
		"3\n3 1", 'crm._claim_emails claims the due rows under a shadowing search_path');
}

is(worker_pid($node), $pid, 'the same worker did all of this');
unlike(slurp_file($node->logfile), qr/\[$pid\] (?:ERROR|FATAL|WARNING)/, 'and logged no error');
$node->stop;
done_testing();
