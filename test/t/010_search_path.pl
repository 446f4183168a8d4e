# 010_search_path.pl: no client crashes the server or steers the extension
# through its search_path (README, "Security model"), with crm preloaded as in
# production.  A login with CREATE on the database puts look-alikes ahead of
# pg_catalog (an = that is never true, a < that always is, a count that
# counts nothing, a lower and a now that lie) and creates pg_temp tables named
# like crm's.  Then every C entry point runs under that search_path, as
# crm_user and as crm_reader, and gives what the same steps give under the
# default search_path:
#   triggers     enforce_transition (and the rule loader), record_transition,
#                set_updated_at, rules_changed
#   enqueue      crm.send_email, crm.send_template
#   aggregates   crm.linreg, logreg, arima, holt_winters, best_model,
#                revenue_range, and crm.forecast / crm.predict of their models
#   worker       the mail worker's claim and outcome queries, with the
#                database's own search_path set to the look-alikes
# and the 0.1.0 crash repro runs as written.  The server stays up throughout:
# a session opened at the start still answers at the end from the same
# backend, and no backend was terminated by a signal.  (pg_postmaster_start_time()
# cannot tell: the postmaster survives the crash and only restarts its
# backends.)
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/mail";
use MailTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = mail_node('search_path');
my $witness = $node->background_psql('postgres');
my $witness_pid = $witness->query_safe('SELECT pg_backend_pid()');

$node->safe_psql('postgres', q{
	CREATE ROLE sp_reader LOGIN IN ROLE crm_reader;
	CREATE ROLE sp_user LOGIN IN ROLE crm_user;
	CREATE ROLE sp_admin LOGIN IN ROLE crm_admin;
	GRANT CREATE ON DATABASE postgres TO sp_reader, sp_user;
	INSERT INTO crm.account (name) VALUES ('Acme');
	INSERT INTO crm.email_template (key, subject, body_text) VALUES ('welcome', 'Hello {{name}}', 'Welcome, {{name}}.');
});

# The look-alikes, made by the read-only login.
$node->safe_psql('postgres', slurp_file("$ENV{CRM_SRC}/test/search_path_lookalikes.sql"),
	extra_params => [ '-U', 'sp_reader' ]);

my $shadowed = 'SET search_path = pg_temp, shadow, pg_catalog;';
is($node->safe_psql('postgres', "$shadowed SELECT 1::bigint = 1::bigint, 2::bigint < 1::bigint, lower('A'),
	(SELECT count(*) FROM generate_series(1, 3))"), 'f|t|shadow|0', 'the look-alikes are live under that search_path');

# pg_temp tables named like crm's, with rows that would mislead the C code,
# and the series the aggregates fit.
my $decoys = slurp_file("$ENV{CRM_SRC}/test/search_path_decoys.sql") . q{
	CREATE TEMP TABLE series AS
	SELECT g AS t, (100 + 2 * g + (g % 4) * 5 + (g * 7919) % 13)::float8 AS y,
	       (g * 37) % 11 > 5 AS won FROM generate_series(1, 36) g;
};

# Every aggregate, printed; run after the session's search_path is set.
my $aggregates = q{
	SELECT crm.linreg(y, ARRAY[t::float8]) FROM series;
	SELECT crm.logreg(won, ARRAY[t::float8]) FROM series;
	SELECT crm.arima(y, 1, 1, 0 ORDER BY t) FROM series;
	SELECT crm.holt_winters(y, 4, 'multiplicative' ORDER BY t) FROM series;
	SELECT crm.revenue_range(y * 100, (t % 10) / 10.0) FROM series;
	SELECT f.step, f.yhat, f.lo, f.hi
	  FROM (SELECT crm.best_model(y, 4 ORDER BY t) AS m FROM series) b, crm.forecast(b.m, 3) f ORDER BY f.step;
	SELECT crm.predict((SELECT crm.linreg(y, ARRAY[t::float8]) FROM series), ARRAY[40::float8]);
};

# What crm_user does with a deal, a template, an account and the aggregates;
# $tag names what it creates, $path is '' or the shadowed search_path.  Each
# run is a new session, so the rules are loaded under that search_path.
sub user_steps
{
	my ($tag, $path) = @_;
	return $node->safe_psql('postgres', qq{
		$decoys
		$path
		INSERT INTO crm.deal (name, amount, account_id) VALUES ('$tag', 10, 1);
		UPDATE crm.deal SET stage = 'qualified' WHERE name OPERATOR(pg_catalog.=) '$tag';
		UPDATE crm.deal SET closed_at = '2001-01-01', stage_entered_at = '2001-01-01'
		 WHERE name OPERATOR(pg_catalog.=) '$tag';
		UPDATE crm.deal SET stage = 'lost', lost_reason = 'test' WHERE name OPERATOR(pg_catalog.=) '$tag';
		UPDATE crm.deal SET probability = 0.5 WHERE name OPERATOR(pg_catalog.=) '$tag';
		SELECT crm.send_email('$tag\@example.com', '$tag', 'body') IS NOT NULL;
		SELECT crm.send_template('welcome', '$tag\@example.com', '{"name": "$tag"}') IS NOT NULL;
		UPDATE crm.account SET industry = '$tag' WHERE name OPERATOR(pg_catalog.=) 'Acme';
		$aggregates
	}, extra_params => [ '-U', 'sp_user' ]);
}

# What is stored for a run, with its tag replaced.
sub stored
{
	my $tag = shift;
	return $node->safe_psql('postgres', qq{
		SELECT d.stage, d.probability, d.closed_at IS NOT NULL, d.stage_entered_at > '2001-01-02',
		       (SELECT string_agg(coalesce(h.from_stage, '-') || '>' || h.to_stage, ' ' ORDER BY h.id)
		          FROM crm.deal_stage_history h WHERE h.deal_id = d.id)
		  FROM crm.deal d WHERE d.name = '$tag';
		SELECT replace(subject, '$tag', 'TAG') FROM crm.email_outbox
		 WHERE to_address = '$tag\@example.com' ORDER BY id;
		SELECT updated_at > now() - interval '1 hour' FROM crm.account WHERE industry = '$tag';
	});
}

my $plain_user = user_steps('plain', '');
my $plain_stored = stored('plain');
my $shadowed_user = user_steps('shadow', $shadowed);
my $shadowed_stored = stored('shadow');
like($plain_user, qr/^t\nt\n\{/, 'crm_user: the plain run queued both messages and fitted the models');
is($shadowed_user, $plain_user, 'crm_user: enqueue and every aggregate give the same results shadowed');
is($shadowed_stored, $plain_stored,
	'crm_user: the shadowed deal moved the same way, with the same history, stamps, mail and updated_at');
like($plain_stored, qr/^lost\|0\|t\|t\|->lead lead>qualified qualified>lost\nTAG\nHello TAG\nt$/,
	'which is the engine at work: lost, probability 0, history written, stamps kept, updated_at stamped');

# crm_reader: the aggregates, and the API it may not call.
sub reader_steps
{
	my $path = shift;
	return $node->safe_psql('postgres', "$decoys $path $aggregates", extra_params => [ '-U', 'sp_reader' ]);
}
is(reader_steps($shadowed), reader_steps(''), 'crm_reader: every aggregate gives the same results shadowed');
my ($rc, $out, $err) = $node->psql('postgres', "$shadowed SELECT crm.send_email('r\@example.com', 's', 'b')",
	extra_params => [ '-U', 'sp_reader' ]);
like($err, qr/permission denied for function send_email/, 'crm_reader: enqueue is refused cleanly');

# crm_admin edits a rule under the look-alikes (rules_changed), then a deal
# moves by the new rule in the same session.
is($node->safe_psql('postgres', qq{
	$decoys
	$shadowed
	INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
	SELECT p.id, 'lead', 'won' FROM crm.pipeline p WHERE p.name OPERATOR(pg_catalog.=) 'default';
	INSERT INTO crm.deal (name, amount) VALUES ('admin deal', 5);
	UPDATE crm.deal SET stage = 'won' WHERE name OPERATOR(pg_catalog.=) 'admin deal';
	RESET search_path;
	SELECT stage, probability, closed_at IS NOT NULL FROM crm.deal WHERE name = 'admin deal';
}, extra_params => [ '-U', 'sp_admin' ]), 'won|1|t', 'crm_admin: a rule added under the look-alikes is used at once');

# The 0.1.0 repro, as written.
is($node->safe_psql('postgres', q{
	CREATE SCHEMA s;
	CREATE FUNCTION s.never(bigint,bigint) RETURNS bool LANGUAGE sql AS 'SELECT false';
	CREATE OPERATOR s.= (LEFTARG=bigint, RIGHTARG=bigint, FUNCTION=s.never);
	SET search_path = s, pg_catalog;
	INSERT INTO crm.deal(name, account_id) VALUES ('x', 1);
	RESET search_path;
	SELECT stage FROM crm.deal WHERE name = 'x';
}, extra_params => [ '-U', 'sp_user' ]), 'lead', 'the 0.1.0 crash repro inserts the deal');

# The worker, with the database's search_path set to the look-alikes (as its
# owner could) and a table named like the outbox in front.  The test's own
# sessions keep the default search_path.
{
	local $ENV{PGOPTIONS} = '-c search_path=public';
	$node->safe_psql('postgres', q{
		CREATE TABLE shadow.email_outbox (id bigint, status text);
		INSERT INTO shadow.email_outbox VALUES (1, 'queued');
		ALTER DATABASE postgres SET search_path = shadow, pg_catalog;
	});
	my $pid = wait_for_worker($node);
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
	wait_for_worker($node, $pid);
	$node->safe_psql('postgres', q{
		SELECT crm.send_email('worker' || g || '@example.com', 'worker ' || g, 'body') FROM generate_series(1, 5) g;
	});
	ok(wait_until_final($node, "to_address LIKE 'worker%'"), 'worker: the queue drains under the look-alikes');
	is($node->safe_psql('postgres', q{
		SELECT status, count(*), min(attempts), max(attempts) FROM crm.email_outbox
		 WHERE to_address LIKE 'worker%' GROUP BY status}), 'sent|5|1|1', 'worker: each message sent once');
	is($node->safe_psql('postgres', 'SELECT status FROM shadow.email_outbox'), 'queued',
		'worker: the look-alike outbox was not touched');
	$node->safe_psql('postgres', 'ALTER DATABASE postgres RESET search_path');
}

# Still the same server.
my $still = eval { $witness->query_safe('SELECT pg_backend_pid()') };
is($still, $witness_pid, 'the session opened at the start still answers from the same backend');
$witness->quit;
ok(!$node->log_contains(qr/terminated by signal|terminating any other active server processes/),
	'no backend was terminated by a signal');

$node->stop;
done_testing();
