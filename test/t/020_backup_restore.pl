# 020_backup_restore.pl: the README's backup and restore commands give back
# every crm row.  A database using every crm table (test/fixtures/
# fill_all.sql: a user pipeline, deals won and lost, edited and deleted
# seeded rows, invoices, payments, mail queued and sent by the worker,
# history, settings) is saved with pg_dump -Fc and restored with createdb +
# pg_restore into a fresh cluster, and saved with pg_dumpall and loaded with
# psql into another; every command exits 0 and reports no error (but the
# one pg_dumpall always causes, below).  Then every crm table holds the same
# rows (all columns) as the source, every identity sequence the same
# position, and one more invoice issued on each of the three gets the same
# next number, with its history written once.  The source is checked to be
# unchanged while it was saved (its mail worker runs), and to use every
# table, so a table added without rows in the fixture fails here.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fixture = "$ENV{CRM_SRC}/test/fixtures/fill_all.sql";
my $tmp = PostgreSQL::Test::Utils::tempdir();

# run_on(NODE, COMMAND...): one of the README's commands against NODE's
# server; passes when it exits 0 and writes no error or warning.  Returns
# what it wrote on stderr.
sub run_on
{
	my ($node, @cmd) = @_;
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
	my $status = $? >> 8;
	my $name = join(' ', map { m{^/} ? (split m{/})[-1] : $_ } @cmd);
	is($status, 0, "$name: exit status 0") or diag($err);
	return $err;
}

sub no_errors
{
	my ($err, $name) = @_;
	unlike($err, qr/error|warning/i, "$name: no error or warning") or diag($err);
}

sub new_node
{
	my ($name, @conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
	$node->append_conf('postgresql.conf', join("\n", "lc_messages = 'C'", @conf) . "\n");
	$node->start;
	return $node;
}

# The crm tables and identity sequences, by name.
sub crm_relations
{
	my ($node, $db, $kinds) = @_;
	return split /\n/, $node->safe_psql($db, qq{
		SELECT c.oid::regclass::text
		  FROM pg_depend d
		  JOIN pg_extension e ON e.oid = d.refobjid
		  JOIN pg_class c ON c.oid = d.objid
		 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
		   AND d.deptype = 'e' AND e.extname = 'crm' AND c.relkind IN ($kinds)
		 ORDER BY 1});
}

# Every row of every crm table as text (all columns), and every identity
# sequence's position: table or sequence => text.
sub contents
{
	my ($node, $db) = @_;
	my %c;
	for my $t (crm_relations($node, $db, q{'r', 'p'}))
	{
		$c{$t} = $node->safe_psql($db, "SELECT string_agg(t::text, E'\\n' ORDER BY t::text) FROM $t t");
	}
	for my $s (crm_relations($node, $db, q{'S'}))
	{
		$c{$s} = $node->safe_psql($db, "SELECT last_value || ' ' || is_called FROM $s");
	}
	return \%c;
}

sub same_contents
{
	my ($got, $want, $what) = @_;
	is_deeply([ sort keys %$got ], [ sort keys %$want ], "$what: the same crm tables and sequences");
	my @differ = grep { ($got->{$_} // '') ne ($want->{$_} // '') } sort keys %$want;
	is_deeply(\@differ, [], "$what: every table's rows and every sequence's position equal the source's");
	for my $t (@differ)
	{
		diag("$t in the source:\n" . ($want->{$t} // '') . "\n$t after the restore:\n" . ($got->{$t} // ''));
	}
}

# --- the source: crm preloaded, its worker delivering database sales's mail
my $source = new_node('source', "shared_preload_libraries = 'crm'", "crm.database = 'sales'",
	"crm.poll_interval = '1s'");
$source->safe_psql('postgres', 'CREATE DATABASE sales');
$source->safe_psql('sales', 'CREATE EXTENSION crm');
my ($rc, $out, $err) = $source->psql('sales', undef, extra_params => [ '-f', $fixture ]);
is($rc, 0, 'the fixture loads') or diag($err);
$source->poll_query_until('sales', q{
	SELECT count(*) = 0 FROM crm.email_outbox
	 WHERE status IN ('queued', 'sending') AND next_attempt_at <= now()})
  or die 'the worker did not deliver the mail';

my @tables = crm_relations($source, 'sales', q{'r', 'p'});
my @empty = grep { $source->safe_psql('sales', "SELECT count(*) FROM $_") == 0 } @tables;
is_deeply(\@empty, [], 'every crm table has rows (a new table needs rows in test/fixtures/fill_all.sql)');
is($source->safe_psql('sales', q{
	SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM crm.email_outbox}),
	'queued,sent', 'the outbox holds mail sent by the worker and mail still queued');
is($source->safe_psql('sales', q{
	SELECT string_agg(DISTINCT s.kind, ',' ORDER BY s.kind)
	  FROM crm.deal d JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage}),
	'lost,open,won', 'deals are open, won and lost');

# --- the README's commands
my $before = contents($source, 'sales');
no_errors(run_on($source, 'pg_dump', '-Fc', '-f', "$tmp/sales.dump", 'sales'), 'pg_dump');
no_errors(run_on($source, 'pg_dumpall', '-f', "$tmp/cluster.sql"), 'pg_dumpall');
same_contents(contents($source, 'sales'), $before, 'the source, unchanged while it was saved');

my $restored = new_node('restored');
no_errors(run_on($restored, 'createdb', 'sales'), 'createdb');
no_errors(run_on($restored, 'pg_restore', '-d', 'sales', "$tmp/sales.dump"), 'pg_restore');

# pg_dumpall writes CREATE ROLE for the role it ran as, which exists in the
# new cluster too ("it won't hurt for the CREATE to fail", says pg_dumpall's
# source); that one error is expected, anything else fails the test.
my $loaded = new_node('loaded');
my $superuser = $loaded->safe_psql('postgres', 'SELECT current_user');
my $loaded_err = run_on($loaded, 'psql', '-X', '-q', '-f', "$tmp/cluster.sql", 'postgres');
my @errors = grep { !/^psql:\S+:\d+: ERROR:  role "\Q$superuser\E" already exists$/ } split /\n/, $loaded_err;
is(scalar(() = $loaded_err =~ /ERROR:  role "\Q$superuser\E" already exists/g), 1,
	'psql -f cluster.sql: the expected "role already exists" for the role that ran pg_dumpall');
no_errors(join("\n", @errors), 'psql -f cluster.sql, apart from it');

same_contents(contents($restored, 'sales'), $before, 'pg_dump -Fc + pg_restore');
same_contents(contents($loaded, 'sales'), $before, 'pg_dumpall + psql');

# --- life goes on: the next invoice gets the next number everywhere, once
my $order = $source->safe_psql('sales', "SELECT id FROM crm.sales_order WHERE status = 'confirmed'");
my $next = $source->safe_psql('sales', q{
	SELECT format('INV-%s-%s', t.year, lpad((coalesce(c.last_number, 0) + 1)::text, 6, '0'))
	  FROM (SELECT extract(year FROM crm.invoice_calendar_date(now()))::int AS year) AS t
	  LEFT JOIN crm.invoice_number_counter c ON c.year = t.year});
like($next, qr/^INV-\d{4}-0000\d\d$/, "the next number is $next");
my ($last_id) = split / /, $before->{'crm.invoice_id_seq'};
my $next_id = $last_id + 1;
for my $node ($source, $restored, $loaded)
{
	my $id = $node->safe_psql('sales', "SELECT crm.issue_invoice($order)");
	is( $node->safe_psql('sales', qq{
			SELECT i.number || ' ' || i.id || ' ' ||
			       (SELECT count(*) FROM crm.invoice_status_history h WHERE h.invoice_id = i.id) || ' ' ||
			       (SELECT count(*) FROM crm.invoice o WHERE o.number = i.number)
			  FROM crm.invoice i WHERE i.id = $id}),
		"$next $next_id 2 1",
		$node->name . ": one more invoice gets $next and id $next_id, with its history written once");
}

done_testing();
