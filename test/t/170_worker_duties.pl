# 170_worker_duties.pl: the crm worker's table of duties (src/worker).
#  - without crm installed every duty waits quietly; with crm, the SQL duties
#    whose functions do not exist are "absent", and crm.worker_duties lists
#    every duty in the order the worker runs them;
#  - a SQL duty (here the "segments" line, crm.refresh_due_segments, given a
#    test body) is called with its batch size, as the function's owner, under
#    search_path pg_catalog, pg_temp whatever the role and database settings
#    say, and again at once while it reports more work pending;
#  - a duty that fails is rolled back, shown with its error, retried after a
#    backoff, and never stops the worker or mail delivery;
#  - a duty that overruns crm.duty_timeout is cancelled; a duty that always
#    has more work does not starve mail delivery (round robin); a duty
#    cancelled with pg_cancel_backend is retried by the same worker;
#  - a function of the wrong shape is reported, not called.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = mail_node('duties', no_extension => 1, conf => [ "crm.poll_interval = '1s'" ]);
my $pid = wait_for_worker($node);

# --- no extension: every duty waits, and pg_stat_activity says so
$node->poll_query_until('postgres', qq{
	SELECT query LIKE 'crm worker: restore hold: absent; mail: waiting for extension; segments: absent; audit seal: absent%'
	  FROM pg_stat_activity WHERE pid = $pid}) or die;
pass('without crm the mail duty waits for the extension and the SQL duties are absent');

$node->safe_psql('postgres', 'CREATE EXTENSION crm');
# The test plays the part of the segments and audit seal functions: take the
# extension's own out of it first (they are members of crm).
$node->safe_psql('postgres', q{
	DO $$
	DECLARE f regprocedure;
	BEGIN
	    FOREACH f IN ARRAY ARRAY[to_regprocedure('crm.refresh_due_segments(integer)'),
	                             to_regprocedure('crm.seal_audit(integer)')] LOOP
	        CONTINUE WHEN f IS NULL;
	        EXECUTE format('ALTER EXTENSION crm DROP FUNCTION %s', f);
	        EXECUTE format('DROP FUNCTION %s', f);
	    END LOOP;
	END
	$$});
$node->poll_query_until('postgres', q{
	SELECT string_agg(duty || '=' || state || '=' || coalesce(sql_function, '-'), ' ' ORDER BY ordinality)
	     = 'mail=idle=- segments=absent=crm.refresh_due_segments(integer) audit seal=absent=crm.seal_audit(integer)'
	  FROM crm._worker_duties() WITH ORDINALITY
	 WHERE duty IN ('mail', 'segments', 'audit seal')}) or die;
pass('the duties in table order; SQL duties without their function are absent');
is($node->safe_psql('postgres', 'SELECT count(*) >= 3 FROM crm.worker_duties'), 't',
	'crm.worker_duties shows them');
is($node->safe_psql('postgres', 'SELECT count(DISTINCT worker_pid) = 1 AND min(worker_pid) = ' . $pid
			. ' FROM crm.worker_duties'), 't', 'every duty row names the worker');

# --- a SQL duty: called with its batch size, as the function's owner, with the pinned search_path
$node->safe_psql('postgres', q{
	CREATE ROLE duty_owner IN ROLE crm_reader;
	CREATE SCHEMA trap;
	GRANT USAGE ON SCHEMA trap TO PUBLIC;
	CREATE TABLE trap.calls (at timestamptz DEFAULT clock_timestamp(), max_segments int,
	                         who name, path text, pending int);
	CREATE TABLE trap.plan (pending int, fail text, sleep_s float8);
	INSERT INTO trap.plan VALUES (0, NULL, 0);
	GRANT ALL ON trap.calls, trap.plan TO duty_owner;
	ALTER ROLE CURRENT_USER SET search_path = trap, public;
	ALTER DATABASE postgres SET search_path = trap, public;
	CREATE FUNCTION crm.refresh_due_segments(max_segments int) RETURNS int LANGUAGE plpgsql AS $$
	DECLARE p trap.plan;
	BEGIN
	    SELECT * INTO p FROM trap.plan;
	    INSERT INTO trap.calls (max_segments, who, path, pending)
	         VALUES (max_segments, current_user, current_setting('search_path'), p.pending);
	    IF p.fail IS NOT NULL THEN
	        RAISE EXCEPTION '%', p.fail USING DETAIL = 'Raised by the test.';
	    END IF;
	    PERFORM pg_sleep(p.sleep_s);
	    IF p.pending > 0 THEN
	        UPDATE trap.plan SET pending = pending - 1;
	        RETURN max_segments;
	    END IF;
	    RETURN 0;
	END $$;
	ALTER FUNCTION crm.refresh_due_segments(int) OWNER TO duty_owner;});
# The role's and database's settings apply when the worker connects.
$node->restart;
$pid = wait_for_worker($node);
$node->poll_query_until('postgres', 'SELECT count(*) >= 2 FROM trap.calls') or die;
is($node->safe_psql('postgres', 'SELECT DISTINCT max_segments || ' . "' '" . ' || who || '
			. "' '" . ' || path FROM trap.calls'),
	'1 duty_owner pg_catalog, pg_temp',
	'the SQL duty is called with its batch size (1), as its owner, under search_path pg_catalog, pg_temp');
is($node->safe_psql('postgres', "SELECT state FROM crm.worker_duties WHERE duty = 'segments'"), 'idle',
	'a SQL duty with nothing to do is idle');
ok($node->safe_psql('postgres', q{
	SELECT max(d) BETWEEN interval '0.5 s' AND interval '3 s'
	  FROM (SELECT at - lag(at) OVER (ORDER BY at) AS d FROM trap.calls) s}) eq 't',
	'an idle SQL duty runs again after crm.poll_interval');

# --- more pending: called again at once, not after the poll interval
# (from here on a reload, which makes every duty due, starts each scenario)
$node->safe_psql('postgres', q{
	TRUNCATE trap.calls;
	UPDATE trap.plan SET pending = 20;
	ALTER SYSTEM SET crm.poll_interval = '1h';
	SELECT pg_reload_conf();});
$node->poll_query_until('postgres', 'SELECT count(*) >= 21 FROM trap.calls') or die;
ok($node->safe_psql('postgres', q{
	SELECT max(at) - min(at) < interval '5 s' FROM trap.calls}) eq 't',
	'while it returns its batch size, the duty runs again at the next round');
is($node->safe_psql('postgres', "SELECT done >= 20 FROM crm.worker_duties WHERE duty = 'segments'"), 't',
	'crm.worker_duties counts the items it did');

# --- a failing duty: rolled back, shown, retried with a backoff; mail goes on
my $offset = -s $node->logfile;
my $t0 = time;
$node->safe_psql('postgres', q{
	UPDATE trap.plan SET fail = 'segment definition broken', pending = 1000;
	SELECT pg_reload_conf();});
$node->poll_query_until('postgres', "SELECT errors >= 3 FROM crm.worker_duties WHERE duty = 'segments'")
  or die;
my $took = time - $t0;
is($node->safe_psql('postgres', q{
	SELECT state || ' / ' || last_error FROM crm.worker_duties WHERE duty = 'segments'}),
	'error / segment definition broken', 'the failing duty shows its error');
is($node->safe_psql('postgres', 'SELECT pending FROM trap.plan'), '1000',
	'its transaction was rolled back');
ok($took >= 2.5, sprintf('it is retried after a backoff of 1 s, then 2 s (3 runs in %.1f s)', $took));
$node->wait_for_log(qr/WARNING:  crm worker duty "segments" failed: segment definition broken/, $offset);
pass('the log has a WARNING naming the duty');
$node->safe_psql('postgres', "SELECT crm.send_email('during-errors\@example.com', '错误期间', 'x')");
ok(wait_until_final($node), 'mail is delivered while another duty fails');

# --- a slow duty: cancelled at crm.duty_timeout, mail still goes out meanwhile
$node->safe_psql('postgres', q{
	UPDATE trap.plan SET fail = NULL, sleep_s = 5, pending = 1000;
	ALTER SYSTEM SET crm.duty_timeout = '300ms';
	SELECT pg_reload_conf();});
$node->poll_query_until('postgres', q{
	SELECT last_error = 'canceling statement due to statement timeout'
	  FROM crm.worker_duties WHERE duty = 'segments'}) or die;
pass('a duty that overruns crm.duty_timeout is cancelled');
$t0 = time;
$node->safe_psql('postgres', "SELECT crm.send_email('during-slow\@example.com', '慢任务期间', 'x')");
ok(wait_until_final($node), 'mail is delivered while another duty overruns');
ok(time - $t0 < 5, sprintf('promptly (%.1f s)', time - $t0));

# --- a duty that always has more work does not starve mail (round robin)
$node->safe_psql('postgres', q{
	UPDATE trap.plan SET sleep_s = 0.05, pending = 1000000;
	ALTER SYSTEM SET crm.duty_timeout = '30s';
	SELECT pg_reload_conf();});
sleep(1);
$t0 = time;
$node->safe_psql('postgres', q{
	SELECT count(crm.send_email('busy' || g || '@example.com', '轮流 ' || g, 'x')) FROM generate_series(1, 100) g});
ok(wait_until_final($node), '100 messages delivered while the other duty always has more');
$took = time - $t0;
ok($took < 15, sprintf('in %.1f s', $took));
is($node->safe_psql('postgres', "SELECT state FROM crm.worker_duties WHERE duty = 'segments'"),
	'more pending', 'the busy duty shows more pending');

# --- pg_cancel_backend cancels the running duty's transaction, not the worker
$node->safe_psql('postgres', q{UPDATE trap.plan SET sleep_s = 20, pending = 1000});
$node->poll_query_until('postgres', qq{
	SELECT state = 'active' AND query = 'crm worker: segments' FROM pg_stat_activity WHERE pid = $pid})
  or die;
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid); UPDATE trap.plan SET sleep_s = 0, pending = 0;");
$node->poll_query_until('postgres', q{
	SELECT last_error = 'canceling statement due to user request' FROM crm.worker_duties WHERE duty = 'segments'})
  or die;
pass('pg_cancel_backend cancels the duty');
is(worker_pid($node), $pid, 'and the worker goes on');

# --- a function of the wrong shape is reported, not called
$node->safe_psql('postgres', q{
	DROP FUNCTION crm.refresh_due_segments(int);
	CREATE FUNCTION crm.refresh_due_segments(max_segments int) RETURNS text LANGUAGE sql
	    AS $$ INSERT INTO trap.calls (max_segments) VALUES (-1) RETURNING 'called' $$;
	SELECT pg_reload_conf();});
$node->poll_query_until('postgres', q{
	SELECT last_error = 'function crm.refresh_due_segments(integer) cannot be run as a worker duty'
	  FROM crm.worker_duties WHERE duty = 'segments'}) or die;
pass('a duty function that does not return an integer is an error');
is($node->safe_psql('postgres', 'SELECT count(*) FROM trap.calls WHERE max_segments = -1'), 0,
	'and it is not called');

is(worker_pid($node), $pid, 'the same worker process throughout');
unlike(slurp_file($node->logfile), qr/\[$pid\] (?:ERROR|FATAL|PANIC)/, 'which logged no ERROR or FATAL');
$node->stop;
done_testing();
