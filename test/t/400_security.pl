# 400_security.pl: teams, row-level security and the audit trail as real
# logins use them, in a cluster with crm preloaded, then through a backup:
#   * alice and bob (team east), carol (team west), a manager of east,
#     crm_admin and a BI reader each log in and see what their visibility
#     allows; a reassignment outside one's teams is refused;
#   * the log names the login (or the role it SET ROLE to) as the actor;
#   * the worker seals the log by itself (a duty of its table of duties);
#   * every sealed hash is recomputed by an independent implementation of
#     the chain (Python's hashlib), from the documented byte layout;
#   * pg_dump | pg_restore (custom format) and pg_dump | psql (plain) into
#     a fresh cluster run without an error with the policies in place;
#     the copy keeps its policies, teams and audit log, verifies against the
#     anchor taken before the dump, and goes on sealing -- also when the
#     dump was taken while a prepared transaction held sealing back (the
#     saved horizon names a transaction of the old cluster), and through a
#     crash, which the prepared transaction survives.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $node = PostgreSQL::Test::Cluster->new('security');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'crm'\nmax_prepared_transactions = 2\ncrm.poll_interval = '1s'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION crm');

sub as
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]);
}

$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN IN ROLE crm_user;
	CREATE ROLE bob LOGIN IN ROLE crm_user;
	CREATE ROLE carol LOGIN IN ROLE crm_user;
	CREATE ROLE manager LOGIN IN ROLE crm_user;
	CREATE ROLE boss LOGIN IN ROLE crm_admin;
	CREATE ROLE bi LOGIN IN ROLE crm_reader;
	CREATE ROLE app LOGIN IN ROLE crm_user;
	GRANT alice TO app;
});
as('boss', q{
	INSERT INTO crm.team (name) VALUES ('east'), ('west');
	INSERT INTO crm.team_member (team_id, member, is_manager) VALUES
	    (1, 'alice', false), (1, 'bob', false), (1, 'manager', true), (2, 'carol', false);
	INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('PY-101', 'Python 入门课', 1000, 'CNY');
});
my %amount = (alice => 1000, bob => 2000, carol => 4000, manager => 8000);
for my $who (sort keys %amount)
{
	as($who, qq{
		INSERT INTO crm.account (name) VALUES ('$who 的客户');
		INSERT INTO crm.deal (name, account_id, currency) SELECT '$who deal', max(id), 'CNY' FROM crm.account;
		INSERT INTO crm.deal_item (deal_id, product_id, quantity) SELECT max(id), 1, $amount{$who} / 1000 FROM crm.deal;
	});
}

# --- what each login sees
my %sees = (
	all => { map { $_ => 'alice bob carol manager' } qw(alice bob carol manager boss bi) },
	team => {
		alice => 'alice bob manager', bob => 'alice bob manager', carol => 'carol',
		manager => 'alice bob manager', boss => 'alice bob carol manager', bi => 'alice bob carol manager'
	},
	owner => {
		alice => 'alice', bob => 'bob', carol => 'carol',
		manager => 'alice bob manager', boss => 'alice bob carol manager', bi => 'alice bob carol manager'
	});
for my $mode (qw(all team owner))
{
	as('boss', "UPDATE crm.setting SET value = '$mode' WHERE key = 'visibility'");
	for my $who (sort keys %{ $sees{$mode} })
	{
		my $owners = as($who, q{
			SELECT string_agg(DISTINCT d.owner, ' ' ORDER BY d.owner) FROM crm.deal d
			  JOIN crm.deal_item i ON i.deal_id = d.id JOIN crm.account a ON a.id = d.account_id});
		my $summary = as($who, 'SELECT sum(amount) FROM crm.pipeline_summary');
		my $want = 0;
		$want += $amount{$_} for split / /, $sees{$mode}{$who};
		is("$owners / $summary", "$sees{$mode}{$who} / $want.00", "$mode: $who sees the deals, items and accounts of $sees{$mode}{$who}");
	}
}
as('boss', "UPDATE crm.setting SET value = 'team' WHERE key = 'visibility'");
my ($rc, $out, $err) = $node->psql('postgres', "UPDATE crm.deal SET owner = 'carol' WHERE name = 'alice deal'",
	extra_params => [ '-U', 'alice' ]);
like($err, qr/new row violates row-level security policy for table "deal"/,
	'alice cannot give her deal to carol, who is not in her team');
is(as('alice', "UPDATE crm.deal SET owner = 'bob' WHERE name = 'alice deal' RETURNING owner"), 'bob',
	'she can give it to bob');
($rc, $out, $err) = $node->psql('postgres', "UPDATE crm.deal SET amount = 0 WHERE name = 'carol deal'",
	extra_params => [ '-U', 'bi' ]);
like($err, qr/permission denied for table deal/, 'the BI reader changes nothing');

# --- the audit log names the login, or the role it SET ROLE to
as('app', "SET ROLE alice; UPDATE crm.deal SET expected_close_date = '2031-01-31' WHERE name = 'bob deal'");
is( $node->safe_psql('postgres', q{
		SELECT string_agg(DISTINCT actor, ' ' ORDER BY actor) FROM crm.audit_log
		 WHERE table_name = 'crm.deal' AND action = 'insert'}),
	'alice bob carol manager', 'each deal insert is logged with its login as the actor');
is( $node->safe_psql('postgres', q{
		SELECT actor || ' ' || (changed -> 'owner' ->> 'new') FROM crm.audit_log
		 WHERE table_name = 'crm.deal' AND action = 'update' AND changed ? 'owner'}),
	'alice bob', "the reassignment is logged as alice's (the refused one is not logged)");
is( $node->safe_psql('postgres', q{
		SELECT actor FROM crm.audit_log WHERE changed ? 'expected_close_date' AND action = 'update'}),
	'alice', 'a login that SET ROLE alice is logged as alice');

# --- sealing (the worker's duty), and the chain recomputed by an independent implementation
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM crm.audit_log WHERE hash IS NULL'),
	'the worker seals the log by itself (its "audit seal" duty)');
is($node->safe_psql('postgres', q{SELECT state FROM crm.worker_duties WHERE duty = 'audit seal'}), 'idle',
	'and shows the duty idle once nothing is left');
as('boss', 'SELECT crm.seal_audit()');
is($node->safe_psql('postgres', 'SELECT count(*) FROM crm.audit_log WHERE hash IS NULL'), '0', 'everything is sealed');

sub python_check
{
	my ($n, $db) = @_;
	my $rows = $n->safe_psql($db, q{
		COPY (SELECT 'R', l.id, (extract(epoch FROM l.at - '2000-01-01 00:00:00+00') * 1000000)::bigint::text,
		             l.actor::text, l.table_name, l.row_id::text, l.action, l.txid::text, encode(l.hash, 'hex')
		        FROM crm.audit_log l WHERE l.hash IS NOT NULL
		      UNION ALL
		      SELECT 'E', l.id, e.ord::text, e.key, jsonb_typeof(e.value), e.value::text, s.ord::text, s.key, s.value::text
		        FROM crm.audit_log l
		       CROSS JOIN LATERAL jsonb_each(l.changed) WITH ORDINALITY AS e(key, value, ord)
		        LEFT JOIN LATERAL jsonb_each(CASE WHEN l.action = 'update' AND jsonb_typeof(e.value) = 'object'
		                                          THEN e.value END) WITH ORDINALITY AS s(key, value, ord) ON true
		       WHERE l.hash IS NOT NULL)
		TO STDOUT WITH (FORMAT csv)});
	my $file = "$tmp/audit.csv";
	open(my $fh, '>:raw', $file) or die;
	print $fh $rows;
	close $fh;
	my $script = <<'PY';
import csv, hashlib, json, re, struct, sys

def blob(tag, data):
    return tag + struct.pack('>I', len(data)) + data

def erased(text):
    try:
        v = json.loads(text)
    except ValueError:
        return None
    if isinstance(v, dict) and list(v) == ['crm_erased_sha256'] and isinstance(v['crm_erased_sha256'], str) \
            and re.fullmatch('[0-9a-fA-F]{64}', v['crm_erased_sha256']):
        return bytes.fromhex(v['crm_erased_sha256'])
    return None

def value_digest(text):
    return erased(text) or hashlib.sha256(text.encode('utf-8')).digest()

rows, entries = {}, {}
for r in csv.reader(open(sys.argv[1], encoding='utf-8', newline='')):
    if r[0] == 'R':
        rows[int(r[1])] = r
    else:
        top = entries.setdefault(int(r[1]), {}).setdefault(int(r[2]), [r[3], r[4], r[5], []])
        if r[6]:
            top[3].append((int(r[6]), r[7], r[8]))

previous, checked = b'', 0
for rid in sorted(rows):
    _, _, at, actor, table, row_id, action, txid, stored = rows[rid][:9]
    d = b'crm.audit_log row v1' + struct.pack('>q', rid) + struct.pack('>q', int(at))
    d += blob(b'A', actor.encode()) + blob(b'T', table.encode())
    d += b'N' if row_id == '' else b'R' + struct.pack('>q', int(row_id))
    d += blob(b'O', action.encode()) + struct.pack('>Q', int(txid))
    for _, (key, kind, text, subs) in sorted(entries.get(rid, {}).items()):
        d += blob(b'K', key.encode())
        if action == 'update' and kind == 'object' and erased(text) is None:
            for _, sub, subtext in sorted(subs):
                d += blob(b'S', sub.encode()) + blob(b'V', value_digest(subtext))
        else:
            d += blob(b'V', value_digest(text))
    h = hashlib.sha256(previous + hashlib.sha256(d).digest()).digest()
    if h.hex() != stored:
        print('mismatch at id %d' % rid)
        sys.exit(1)
    previous, checked = h, checked + 1
print('ok %d' % checked)
PY
	open($fh, '>', "$tmp/chain.py") or die;
	print $fh $script;
	close $fh;
	my $result = `python3 $tmp/chain.py $file`;
	chomp $result;
	return $result;
}
my $logged = $node->safe_psql('postgres', 'SELECT count(*) FROM crm.audit_log');
is(python_check($node, 'postgres'), "ok $logged", "Python's hashlib gives the same $logged hashes from the documented layout");

# --- a backup taken while a prepared transaction holds sealing back
$node->safe_psql('postgres', q{
	BEGIN;
	UPDATE crm.deal SET amount = amount WHERE name = 'carol deal';
	UPDATE crm.account SET phone = '010-1234' WHERE name = 'carol 的客户';
	PREPARE TRANSACTION 'held';});
as('bob', "UPDATE crm.deal SET expected_close_date = '2031-06-30' WHERE name = 'bob deal'");
as('boss', 'SELECT crm.seal_audit()');
is( $node->safe_psql('postgres', q{SELECT count(*) FROM crm.audit_log WHERE hash IS NULL}), '1',
	"bob's change waits while an earlier transaction is prepared");
my $anchor = as('boss', 'SELECT crm.audit_anchor()');
# the old cluster has used more transaction ids than the new one will have
$node->safe_psql('postgres', join('', map { "SELECT txid_current();\n" } 1 .. 1500));
my $policies = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'crm'::regnamespace");
ok($policies >= 19, "$policies policies on crm tables");
my $dumped = $node->safe_psql('postgres', 'SELECT count(*) FROM crm.audit_log');

my $copy = PostgreSQL::Test::Cluster->new('copy');
$copy->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$copy->append_conf('postgresql.conf', "shared_preload_libraries = 'crm'\n");
$copy->start;
my $bindir = $node->config_data('--bindir');
my ($dump_rc, $restore_out, $restore_err);
$dump_rc = system("$bindir/pg_dump", '-Fc', '-h', $node->host, '-p', $node->port, '-d', 'postgres', '-f', "$tmp/crm.dump");
is($dump_rc, 0, 'pg_dump -Fc succeeds');
$copy->safe_psql('postgres', 'CREATE DATABASE restored');
IPC::Run::run([ "$bindir/pg_restore", '--exit-on-error', '-h', $copy->host, '-p', $copy->port, '-d', 'restored',
		"$tmp/crm.dump" ], '>', \$restore_out, '2>', \$restore_err);
is($restore_err, '', 'pg_restore --exit-on-error reports nothing (no "policy already exists")');
$dump_rc = system("$bindir/pg_dump -h " . $node->host . ' -p ' . $node->port . " -d postgres -f $tmp/crm.sql");
$copy->safe_psql('postgres', 'CREATE DATABASE plain');
IPC::Run::run([ "$bindir/psql", '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $copy->host, '-p', $copy->port, '-d', 'plain',
		'-f', "$tmp/crm.sql" ], '>', \$restore_out, '2>', \$restore_err);
is($restore_err, '', 'pg_dump | psql -v ON_ERROR_STOP=1 reports nothing either');

for my $db (qw(restored plain))
{
	is( $copy->safe_psql($db,
			"SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'crm'::regnamespace"),
		$policies, "$db: the policies are there, once");
	is($copy->safe_psql($db, 'SELECT string_agg(member, \' \' ORDER BY member) FROM crm.team_member'),
		'alice bob carol manager', "$db: the teams came back (their roles do not exist here: restore mode let them in)");
	is($copy->safe_psql($db, 'SELECT count(*) FROM crm.audit_log'), $dumped, "$db: every committed log row came back");
	is($copy->safe_psql($db, "SELECT ok FROM crm.verify_audit('$anchor')"), 't', "$db: the log verifies against the anchor taken before the dump");
	is($copy->safe_psql($db, 'SELECT crm.seal_audit()'), '1',
		"$db: the row held back is sealed (the saved horizon belongs to the old cluster's transactions)");
	$copy->safe_psql($db, "INSERT INTO crm.account (name) VALUES ('after restore')");
	is($copy->safe_psql($db, 'SELECT crm.seal_audit()'), '1', "$db: new changes are logged and sealed");
	is($copy->safe_psql($db, "SELECT ok FROM crm.verify_audit('$anchor')"), 't', "$db: and the chain still verifies");
	is(python_check($copy, $db), 'ok ' . $copy->safe_psql($db, 'SELECT count(*) FROM crm.audit_log'),
		"$db: the independent check agrees");
}
# a crash: the prepared transaction survives it, and still holds sealing back
$node->stop('immediate');
$node->start;
as('boss', 'SELECT crm.seal_audit()');
is($node->safe_psql('postgres', 'SELECT count(*) FROM crm.audit_log WHERE hash IS NULL'), '1',
	'after a crash and recovery, the row after the prepared transaction still waits');
$node->safe_psql('postgres', "COMMIT PREPARED 'held'");
as('boss', 'SELECT crm.seal_audit()');
is(as('boss', 'SELECT ok FROM crm.verify_audit()'), 't', 'the source, once the prepared transaction commits, seals and verifies');
is(python_check($node), 'ok ' . $node->safe_psql('postgres', 'SELECT count(*) FROM crm.audit_log'),
	'and passes the independent check');

$copy->stop;
$node->stop;
done_testing();
