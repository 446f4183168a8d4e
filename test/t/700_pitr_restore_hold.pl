# 700_pitr_restore_hold.pl: backups and point-in-time recovery, and the
# restore hold (src/ops/restore_hold.c).
#  - a primary with WAL archiving and the crm worker; a base backup with
#    pg_basebackup; work after it (deals, quotes, orders, invoices, mail sent);
#  - recovery of the backup to a timestamp in the middle: what was committed
#    before it is there, what came after is not; the new timeline's history
#    file says where archive recovery stopped;
#  - the restored server's worker holds delivery: a message that the primary
#    sent after the recovery point is queued again in the restored outbox, and
#    is not sent while crm.worker_status, crm.worker_duties and crm.health()
#    say why; crm.resume_delivery() (crm_admin) lets it go;
#  - then crash recovery, a normal restart and the promotion of a standby
#    each hold nothing: mail queued after each is delivered.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $conf = join("\n",
	"shared_preload_libraries = 'crm'",
	"lc_messages = 'C'",
	"crm.poll_interval = '1s'",
	"crm.retry_delay = '200ms'") . "\n";

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(has_archiving => 1, allows_streaming => 1, extra => [ '--encoding=UTF8', '--locale=C' ]);
$primary->append_conf('postgresql.conf', $conf);
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION crm');

# sell(NAME): a deal with an item, quoted, accepted (an order) and invoiced.
my $setup = q{
INSERT INTO crm.account (name) VALUES ('星辰科技');
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('PY-1', 'Python 入门课', 1999, 'CNY');
CREATE FUNCTION public.sell(deal_name text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE d bigint; q bigint;
BEGIN
    INSERT INTO crm.deal (name, currency, account_id)
    SELECT deal_name, 'CNY', a.id FROM crm.account a WHERE a.name = '星辰科技' RETURNING id INTO d;
    INSERT INTO crm.deal_item (deal_id, product_id, quantity)
    SELECT d, p.id, 3 FROM crm.product p WHERE p.sku = 'PY-1';
    q := crm.create_quote(d);
    PERFORM crm.send_quote(q);
    RETURN crm.issue_invoice(crm.accept_quote(q));
END $$;
};
$primary->safe_psql('postgres', $setup);

# mail(NODE, SUBJECT): queue a message; wait_sent(NODE, SUBJECT): until it is sent.
sub mail
{
	my ($node, $subject) = @_;
	return $node->safe_psql('postgres',
		"SELECT crm.send_email('wang.fang\@example.com', '$subject', '您好')");
}

sub wait_sent
{
	my ($node, $subject) = @_;
	return $node->poll_query_until('postgres',
		"SELECT status = 'sent' FROM crm.email_outbox WHERE subject = '$subject'");
}

# The worker records the timeline it starts on (a first look holds nothing).
$primary->poll_query_until('postgres', 'SELECT count(*) = 1 FROM crm.timeline_check') or die;
is($primary->safe_psql('postgres', 'SELECT timeline, held FROM crm.timeline_check'), '1|f',
	'the worker recorded timeline 1 without holding anything');

$primary->safe_psql('postgres', "SELECT sell('before the backup')");
mail($primary, 'before the backup');
ok(wait_sent($primary, 'before the backup'), 'mail is delivered on the primary');

$primary->backup('base');
pass('base backup taken with pg_basebackup');

# After the backup: work that the recovery keeps ...
$primary->safe_psql('postgres', "SELECT sell('kept')");
mail($primary, 'kept');
ok(wait_sent($primary, 'kept'), 'mail sent before the recovery point');
# ... a message queued before the recovery point and sent after it ...
$primary->safe_psql('postgres', q{
BEGIN;
SELECT crm.send_email('li.lei@example.com', 'sent after the point', '您好');
UPDATE crm.email_outbox SET next_attempt_at = now() + interval '3 seconds' WHERE subject = 'sent after the point';
COMMIT;});
my $target = $primary->safe_psql('postgres', 'SELECT now()');
usleep(1_100_000);
# ... and work that it drops.
$primary->safe_psql('postgres', "SELECT sell('dropped')");
mail($primary, 'dropped');
ok(wait_sent($primary, 'dropped'), 'mail sent after the recovery point');
ok(wait_sent($primary, 'sent after the point'), 'the delayed message went out after the recovery point');

my $walfile = $primary->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
$primary->safe_psql('postgres', 'SELECT pg_switch_wal()');
$primary->poll_query_until('postgres',
	"SELECT last_archived_wal >= '$walfile' FROM pg_stat_archiver") or die 'WAL not archived';
pass('the WAL is archived');
$primary->stop;

# --- recovery to a point in time
my $pitr = PostgreSQL::Test::Cluster->new('pitr');
$pitr->init_from_backup($primary, 'base', has_restoring => 1);
$pitr->append_conf('postgresql.conf',
	"recovery_target_time = '$target'\nrecovery_target_action = 'promote'\n");
$pitr->start;
$pitr->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'recovery did not end';
# Done: the target settings go, or a standby made from this server would stop there too.
$pitr->adjust_conf('postgresql.conf', $_, undef) for qw(recovery_target_time recovery_target_action);

is($pitr->safe_psql('postgres', 'SELECT string_agg(name, \', \' ORDER BY id) FROM crm.deal'),
	'before the backup, kept', 'the deals committed before the recovery point are there, the later one is not');
is($pitr->safe_psql('postgres', q{
	SELECT string_agg(i.number || ' ' || i.gross_total, ', ' ORDER BY i.id) FROM crm.invoice i}),
	'INV-' . $pitr->safe_psql('postgres', q{SELECT extract(year FROM now())}) . '-000001 5997.00, INV-'
	  . $pitr->safe_psql('postgres', q{SELECT extract(year FROM now())}) . '-000002 5997.00',
	'so are their invoices, with their numbers and amounts');
is($pitr->safe_psql('postgres', q{
	SELECT string_agg(subject || ':' || status, ', ' ORDER BY id) FROM crm.email_outbox}),
	'before the backup:sent, kept:sent, sent after the point:queued',
	'the outbox as it was at the recovery point: the message sent after it is queued again');

my $history = slurp_file($pitr->data_dir . '/pg_wal/00000002.history');
like($history, qr/^1\t[0-9A-F]+\/[0-9A-F]+\tbefore \d{4}-/m,
	'the history file of timeline 2 says archive recovery stopped before the target time');

# --- the hold
$pitr->poll_query_until('postgres', 'SELECT count(*) = 2 FROM crm.timeline_check') or die;
like($pitr->safe_psql('postgres', q{
	SELECT timeline || ' ' || held || ' ' || began || ' / ' || hold_reason
	  FROM crm.timeline_check ORDER BY id DESC LIMIT 1}),
	qr/^2 true before \d{4}-.* \/ restored to a point in time: archive recovery stopped before \d{4}-.* and timeline 2 began/,
	'the worker recorded timeline 2 and why it holds delivery');
$pitr->poll_query_until('postgres', q{
	SELECT state = 'held' AND hold_reason LIKE 'restored to a point in time: %' FROM crm.worker_status})
  or die 'crm.worker_status does not show the hold';
pass('crm.worker_status shows the mail duty held and why');
is($pitr->safe_psql('postgres', q{
	SELECT string_agg(duty || '=' || state, ' ' ORDER BY duty) FROM crm.worker_duties
	 WHERE duty IN ('mail', 'restore hold')}),
	'mail=held restore hold=holding delivery', 'crm.worker_duties: mail held, the restore hold holding');
like($pitr->safe_psql('postgres', q{SELECT status || ': ' || detail FROM crm.health() WHERE check_name = 'restore_hold'}),
	qr/^critical: delivery held since .*: restored to a point in time: .* call crm\.resume_delivery\(\)$/,
	'crm.health() says delivery is held, why, and what to do');
sleep(3);
is($pitr->safe_psql('postgres', q{SELECT status FROM crm.email_outbox WHERE subject = 'sent after the point'}),
	'queued', 'the message the primary sent after the recovery point is not sent again while held');
mail($pitr, 'queued while held');
sleep(2);
is($pitr->safe_psql('postgres', q{SELECT status FROM crm.email_outbox WHERE subject = 'queued while held'}),
	'queued', 'nor is new mail');

$pitr->restart;
$pitr->poll_query_until('postgres', q{SELECT state = 'held' FROM crm.worker_status}) or die;
pass('the hold survives a restart');

$pitr->safe_psql('postgres', 'SET ROLE crm_admin; SELECT crm.resume_delivery()');
ok(wait_sent($pitr, 'sent after the point') && wait_sent($pitr, 'queued while held'),
	'after crm.resume_delivery() the held mail is delivered');
is($pitr->safe_psql('postgres', q{
	SELECT resumed_by || ' ' || (resumed_at IS NOT NULL) FROM crm.timeline_check WHERE held}),
	'crm_admin true', 'crm.timeline_check records who resumed delivery');
is($pitr->safe_psql('postgres', q{SELECT status FROM crm.health() WHERE check_name = 'restore_hold'}),
	'ok', 'crm.health() no longer reports the hold');
is($pitr->safe_psql('postgres', q{SELECT hold_reason IS NULL FROM crm.worker_status}), 't',
	'nor does crm.worker_status');

# --- crash recovery holds nothing
$pitr->stop('immediate');
$pitr->start;
mail($pitr, 'after crash recovery');
ok(wait_sent($pitr, 'after crash recovery'), 'after crash recovery mail is delivered');
is($pitr->safe_psql('postgres',
		q{SELECT count(*) || ' ' || count(*) FILTER (WHERE held AND resumed_at IS NULL) FROM crm.timeline_check}),
	'2 0', 'crash recovery starts no timeline and holds nothing');

# --- a normal restart holds nothing
$pitr->restart;
mail($pitr, 'after a restart');
ok(wait_sent($pitr, 'after a restart'), 'after a restart mail is delivered');
is($pitr->safe_psql('postgres', 'SELECT count(*) FROM crm.timeline_check WHERE held AND resumed_at IS NULL'),
	'0', 'a restart holds nothing');

# --- standby promotion holds nothing
$pitr->backup('pitr_base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($pitr, 'pitr_base', has_streaming => 1);
$standby->start;
$pitr->safe_psql('postgres', "SELECT sell('on the old primary')");
$pitr->wait_for_catchup($standby);
$pitr->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die;
$standby->poll_query_until('postgres', 'SELECT count(*) = 3 FROM crm.timeline_check') or die;
is($standby->safe_psql('postgres', q{
	SELECT timeline || ' ' || held || ' ' || began FROM crm.timeline_check ORDER BY id DESC LIMIT 1}),
	'3 false no recovery target specified', 'the promoted standby recorded timeline 3: a promotion, no hold');
mail($standby, 'after promotion');
ok(wait_sent($standby, 'after promotion'), 'after the promotion mail is delivered');
is($standby->safe_psql('postgres', q{SELECT string_agg(check_name, ',') FROM crm.health() WHERE check_name = 'restore_hold' AND status = 'ok'}),
	'restore_hold', 'crm.health() reports no hold on the promoted standby');

$standby->stop;
done_testing();
