# 030_upgrade.pl: ALTER EXTENSION crm UPDATE takes a 0.1.0 database in use
# to exactly the schema of a fresh 1.0.0 install, keeps its data, and the
# result works.
#
# A server runs the 1.0.0 library (preloaded, its worker serving database
# sales) with what a 0.1.0 installation had configured: crm.invoice_time_zone
# in postgresql.conf and, for sales, by ALTER DATABASE.  Sales is created at
# 0.1.0 from 0.1.0's own install script (test/upgrade/crm--0.1.0.sql, which
# also proves the library still has every C function 0.1.0 names) and
# filled through 0.1.0's API (test/upgrade/fill-0.1.0.sql); the worker sends
# its mail.  Then:
#   - ALTER EXTENSION crm UPDATE succeeds, warning only about the
#     crm.invoice_time_zone line left in postgresql.conf;
#   - test/upgrade/describe.sql (the catalogs: members, columns, defaults,
#     constraints, indexes, triggers, functions, views, comments, grants,
#     policies, config-dump registrations, ...) prints the same for sales
#     as for a fresh CREATE EXTENSION crm, and a fresh install prints the
#     same twice, and the same as another fresh install (determinism); so
#     does an empty database made at each released version and upgraded;
#   - every row of every 0.1.0 table is still there with the same values;
#     the only rows added are the seeds 1.0.0 has beyond 0.1.0's (identity
#     sequences move for those alone); the outbox's new contact_id links
#     mail to its contact, and the company time zone comes from
#     crm.invoice_time_zone (the database's value first, the file's
#     otherwise: the empty 0.1.0 database shows that);
#   - in another 0.1.0 database, a NaN price and a tab in a stage label
#     stop the update, which names them and leaves the database at 0.1.0;
#   - the upgraded database works: a deal moves (history written once),
#     the confirmed order is invoiced with the next number of the year, its
#     notice and a new message are queued and sent by the worker, a payment
#     is recorded, an event tracked, and the backup test's fixture
#     (test/fixtures/fill_all.sql, every 1.0.0 feature) runs on it.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{CRM_SRC};

# The schema of crm in database DB, one record per fact (NUL-separated
# records, since functions and views span lines).
sub describe
{
	my ($node, $db) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-XAtq0', '-v', 'ON_ERROR_STOP=1', '-h', $node->host, '-p', $node->port,
			'-d', $db, '-f', "$src/test/upgrade/describe.sql" ],
		'>', \$out, '2>', \$err)
	  or die "describe.sql failed on $db: $err";
	return [ split /\0/, $out ];
}

# Passes when two descriptions are equal; otherwise lists what differs.
sub same_schema
{
	my ($got, $want, $name) = @_;
	my (%in_got, %in_want);
	$in_got{$_}++ for @$got;
	$in_want{$_}++ for @$want;
	my @only_got = grep { ($in_want{$_} // 0) < $in_got{$_} } sort keys %in_got;
	my @only_want = grep { ($in_got{$_} // 0) < $in_want{$_} } sort keys %in_want;
	ok(@$want > 1000 && !@only_got && !@only_want, $name)
	  or diag(join("\n", (map { "only in the first: $_" } @only_got),
			(map { "only in the second: $_" } @only_want)));
}

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', qq{
lc_messages = 'C'
crm.database = 'sales'
crm.poll_interval = '1s'
crm.invoice_time_zone = 'America/New_York'
});
$node->start;
# Every released version (test/upgrade/crm--V.sql) gets an empty database
# too, upgraded below; the one of 0.1.0 also has no time zone of its own.
my @released = map { m{/crm--([0-9.]+)\.sql$} ? $1 : () } glob("$src/test/upgrade/crm--*.sql");
my %empty = map { my $v = $_; $v =~ tr/./_/; ($_ => "empty_$v") } @released;
for my $db (qw(sales refused fresh fresh2), values %empty)
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
}
# 0.1.0 took this GUC from the database too; a session that has not loaded
# the 1.0.0 library (which reserves the crm prefix) can still set it.
$node->safe_psql('postgres', q{ALTER DATABASE sales SET crm.invoice_time_zone = 'Asia/Shanghai'});
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'crm'\n");
$node->restart;

# --- a 0.1.0 database in use
$node->safe_psql('sales', q{CREATE EXTENSION crm VERSION '0.1.0'});
$node->safe_psql($empty{$_}, qq{CREATE EXTENSION crm VERSION '$_'}) for @released;
is($node->safe_psql('sales', q{SELECT extversion FROM pg_extension WHERE extname = 'crm'}),
	'0.1.0', "0.1.0's install script runs with the 1.0.0 library");
my ($rc, $out, $err) = $node->psql('sales', undef,
	extra_params => [ '-f', "$src/test/upgrade/fill-0.1.0.sql" ]);
is($rc, 0, 'the 0.1.0 fixture loads') or diag($err);
{
	# until the upgrade, every session of sales warns that the 1.0.0 library
	# does not know the database's crm.invoice_time_zone; polling wants silence
	local $ENV{PGOPTIONS} = '-c client_min_messages=error';
	$node->poll_query_until('sales', q{
		SELECT count(*) = 0 FROM crm.email_outbox WHERE status IN ('queued', 'sending') AND next_attempt_at <= now()})
	  or die 'the worker did not deliver the 0.1.0 database\'s mail';
}

my @tables = split /\n/, $node->safe_psql('sales', q{
	SELECT c.oid::regclass FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
	 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'crm') AND d.deptype = 'e'
	   AND d.classid = 'pg_class'::regclass AND c.relkind = 'r'
	 ORDER BY 1});
my @sequences = split /\n/, $node->safe_psql('sales', q{
	SELECT c.oid::regclass FROM pg_class c
	 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'S' ORDER BY 1});
is(scalar(@tables), 28, "0.1.0 has 28 tables");
my @no_rows = grep { $node->safe_psql('sales', "SELECT count(*) FROM $_") == 0 } @tables;
is_deeply(\@no_rows, [], 'every 0.1.0 table has rows');
is($node->safe_psql('sales', q{SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM crm.email_outbox}),
	'cancelled,failed,queued,sent', 'mail was sent, failed, cancelled, and one waits for a retry');
is($node->safe_psql('sales', q{
	SELECT string_agg(DISTINCT s.kind, ',' ORDER BY s.kind)
	  FROM crm.deal d JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage}),
	'lost,open,won', 'deals are open, won and lost');

# The rows of every 0.1.0 table in database DB: table => [ [row, seed] ],
# row as jsonb of the 0.1.0 columns (by name: columns added since may sit
# elsewhere in the table), seed the same without id, created_at and
# updated_at, which differ between databases.  Sequences: their place.
my %columns;
for my $t (@tables)
{
	$columns{$t} = $node->safe_psql('sales', qq{
		SELECT string_agg(quote_literal(attname), ',' ORDER BY attnum)
		  FROM pg_attribute WHERE attrelid = '$t'::regclass AND attnum > 0 AND NOT attisdropped});
}
sub contents
{
	my ($db) = @_;
	my %c;
	for my $t (@tables)
	{
		$c{$t} = [ map { [ split /\t/ ] } split /\n/, $node->safe_psql($db, qq{
			SELECT r::text || E'\\t' || (r - 'id' - 'created_at' - 'updated_at')::text
			  FROM (SELECT (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(to_jsonb(t)) AS e
			                 WHERE e.key IN ($columns{$t})) AS r
			          FROM $t t) AS rows
			 ORDER BY 1}) ];
	}
	for my $s (@sequences)
	{
		$c{$s} = $node->safe_psql($db, "SELECT last_value || ' ' || is_called FROM $s");
	}
	return \%c;
}

# minus(A, B): the items of list A not matched by one of list B
sub minus
{
	my ($a, $b) = @_;
	my %count;
	$count{$_}++ for @$b;
	return [ grep { !($count{$_} && $count{$_}--) } @$a ];
}
my $before = contents('sales');
my $seeds_0_1_0 = contents($empty{'0.1.0'});
my $mail_count = $node->safe_psql('sales', 'SELECT count(*) FROM crm.email_outbox');

# --- before the update, the new library's mail queries meet the old outbox: an error that says so
my $library = $node->safe_psql('sales', q{SELECT default_version FROM pg_available_extensions WHERE name = 'crm'});
($rc, $out, $err) = $node->psql('sales', q{SELECT crm.send_email('lin.xiao@lanhai.example.cn', '升级前', '尚未升级。')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000: crm in this database is version 0\.1\.0, older than the loaded library \(\Q$library\E\)\n.*DETAIL:  column "category" of relation "email_outbox" does not exist\n.*HINT:  Run ALTER EXTENSION crm UPDATE as a superuser\./s,
	'a 0.1.0 database cannot queue mail before the update, and is told why (55000, with the command)');
is($node->safe_psql('sales', 'SELECT count(*) FROM crm.email_outbox'), $mail_count, 'and nothing was queued');

# --- the upgrade
($rc, $out, $err) = $node->psql('sales', 'ALTER EXTENSION crm UPDATE');
is($rc, 0, 'ALTER EXTENSION crm UPDATE') or diag($err);
my @warnings = grep { /^psql:.*(WARNING|ERROR)/ } split /\n/, $err;	# not the connection's, above
is_deeply(\@warnings,
	[ 'psql:<stdin>:1: WARNING:  crm.invoice_time_zone is no longer used: remove it from '
	  . $node->data_dir . '/postgresql.conf' ],
	'the one warning: the crm.invoice_time_zone line to remove from postgresql.conf');
my $current = $node->safe_psql('sales', q{SELECT default_version FROM pg_available_extensions WHERE name = 'crm'});
is($node->safe_psql('sales', q{SELECT extversion FROM pg_extension WHERE extname = 'crm'}), $current,
	"sales is at $current, the version crm.control installs");

# --- the same schema as a fresh install
$node->safe_psql($_, 'CREATE EXTENSION crm') for qw(fresh fresh2);
my $fresh = describe($node, 'fresh');
same_schema(describe($node, 'fresh'), $fresh, 'a fresh install describes the same twice');
same_schema(describe($node, 'fresh2'), $fresh, 'two fresh installs describe the same');
same_schema(describe($node, 'sales'), $fresh, 'the upgraded database has the schema of a fresh install');

# --- the data
my $after = contents('sales');
my $seeds_1_0_0 = contents('fresh');
my (@lost, @not_seeds, @sequences_moved);
for my $t (@tables)
{
	my @rows = map { $_->[0] } @{ $before->{$t} };
	my @rows_after = map { $_->[0] } @{ $after->{$t} };
	my $missing = minus(\@rows, \@rows_after);
	push @lost, map { "$t: $_" } @$missing;
	# rows the upgrade added: the seeds 1.0.0 adds to 0.1.0's, nothing else
	my %was = map { $_ => 1 } @rows;
	my @added = map { $_->[1] } grep { !$was{ $_->[0] } } @{ $after->{$t} };
	my @new_seeds = @{ minus([ map { $_->[1] } @{ $seeds_1_0_0->{$t} } ], [ map { $_->[1] } @{ $seeds_0_1_0->{$t} } ]) };
	push @not_seeds, map { "$t: added $_" } @{ minus(\@added, \@new_seeds) };
	push @not_seeds, map { "$t: not added $_" } @{ minus(\@new_seeds, \@added) };
	(my $s = $t) =~ s/\z/_id_seq/;
	if (exists $before->{$s})
	{
		my ($last, $called) = split / /, $before->{$s};
		my $expected = @added ? ($last + @added) . ' true' : $before->{$s};
		push @sequences_moved, "$s: $before->{$s} -> $after->{$s}, expected $expected" if $after->{$s} ne $expected;
	}
}
is_deeply(\@lost, [], 'every row of every 0.1.0 table is still there, unchanged');
is_deeply(\@not_seeds, [], 'the upgrade added rows only where 1.0.0 seeds more than 0.1.0 did, exactly those');
is_deeply(\@sequences_moved, [], 'the identity sequences moved only for the added seeds');
is($node->safe_psql('sales', q{
	SELECT count(*) FILTER (WHERE o.contact_id IS NOT DISTINCT FROM c.id) || '/' || count(*)
	  FROM crm.email_outbox o LEFT JOIN crm.contact c ON lower(c.email) = lower(o.to_address)}),
	"$mail_count/$mail_count", 'each message is linked to the contact whose address it went to (case aside), if any');
is($node->safe_psql('sales', q{
	SELECT string_agg(DISTINCT category, ',') FROM crm.email_outbox}) . ' '
	. $node->safe_psql('sales', q{SELECT string_agg(DISTINCT category, ',') FROM crm.email_template}),
	'transactional transactional', '0.1.0 mail and templates are transactional');
is($node->safe_psql('sales', q{SELECT crm.setting_value('time_zone')}), 'Asia/Shanghai',
	'the time zone is the one 0.1.0 had for this database');
is($node->safe_psql('sales', q{
	SELECT count(*) FROM pg_db_role_setting s, unnest(s.setconfig) c
	 WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = 'sales')}),
	'0', 'and the database no longer sets crm.invoice_time_zone');
($rc, $out, $err) = $node->psql('sales', 'SELECT 1');
is($err, '', 'so its sessions start without a warning');
for my $v (@released)
{
	$node->safe_psql($empty{$v}, 'ALTER EXTENSION crm UPDATE');
	same_schema(describe($node, $empty{$v}), $fresh, "an empty database made at $v upgrades to a fresh install's schema");
}
# values 0.1.0 let in and 1.0.0 refuses stop the update before it changes anything
$node->safe_psql('refused', q{
	CREATE EXTENSION crm VERSION '0.1.0';
	INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('A', 'a', 'NaN', 'CNY'), ('B', 'b', 1, 'CNY');
	UPDATE crm.stage SET label = E'Lead\tweb' WHERE key = 'lead';});
($rc, $out, $err) = $node->psql('refused', 'ALTER EXTENSION crm UPDATE');
like($err, qr/ERROR:  crm 1.0.0 refuses values this database holds\n.*DETAIL:  Not finite \(NaN or Infinity\) or holding control characters: crm.product.unit_price of id 1; crm.stage.label of id \d+(, \d+)*\./s,
	'NaN and control characters stop the update, which names the rows');
is($node->safe_psql('refused', q{SELECT extversion FROM pg_extension WHERE extname = 'crm'}), '0.1.0',
	'and the database stays at 0.1.0');

is($node->safe_psql($empty{'0.1.0'}, q{SELECT crm.setting_value('time_zone')}), 'America/New_York',
	'without one of its own, a database takes the time zone of postgresql.conf\'s crm.invoice_time_zone');

# --- it works
my $deal = $node->safe_psql('sales', q{SELECT id FROM crm.deal WHERE name = '新员工培训'});
$node->safe_psql('sales', qq{UPDATE crm.deal SET stage = '谈判中' WHERE id = $deal});
is($node->safe_psql('sales', qq{
	SELECT string_agg(coalesce(from_stage, '-') || '>' || to_stage, ' ' ORDER BY id)
	  FROM crm.deal_stage_history WHERE deal_id = $deal}),
	'->新线索 新线索>潜在客户 潜在客户>谈判中', 'a deal moves, its history written once');

my $order = $node->safe_psql('sales', q{SELECT id FROM crm.sales_order WHERE status = 'confirmed'});
my $year = $node->safe_psql('sales', q{SELECT extract(year FROM crm.invoice_calendar_date(now()))});
my $last_number = $node->safe_psql('sales', "SELECT last_number FROM crm.invoice_number_counter WHERE year = $year");
ok($last_number >= 2, "0.1.0 numbered invoices this year ($last_number)");
my $invoice = $node->safe_psql('sales', "SELECT crm.issue_invoice($order)");
is($node->safe_psql('sales', "SELECT number FROM crm.invoice WHERE id = $invoice"),
	sprintf('INV-%d-%06d', $year, $last_number + 1), 'the next invoice takes the next number of the year');
$node->safe_psql('sales', qq{SELECT crm.record_payment($invoice, 100, now(), '现金')});
my $mail = $node->safe_psql('sales', q{SELECT crm.send_email('lin.xiao@lanhai.example.cn', '升级完成', '系统已升级。')});
$node->poll_query_until('sales', qq{
	SELECT count(*) = 0 FROM crm.email_outbox WHERE id > $mail_count AND status <> 'sent'})
  or die 'the worker did not send the new mail';
is($node->safe_psql('sales', qq{
	SELECT string_agg(coalesce(template_key, 'plain') || ':' || category || ':' || (contact_id IS NOT NULL), ' '
	                  ORDER BY id)
	  FROM crm.email_outbox WHERE id > $mail_count}),
	'invoice_issued:transactional:true payment_received:transactional:true plain:transactional:true',
	'the invoice and payment notices and a message are queued with their category and contact, and sent');
$node->safe_psql('sales', q{SELECT crm.track('wu.tong@qinghe.example.cn', 'course_view', '{"sku": "ML-300"}')});
is($node->safe_psql('sales', q{
	SELECT count(*) FROM crm.event e JOIN crm.contact c ON c.id = e.contact_id
	 WHERE c.email = 'wu.tong@qinghe.example.cn' AND e.kind = 'course_view'}),
	'1', 'an event is tracked');
($rc, $out, $err) = $node->psql('sales', undef,
	extra_params => [ '-f', "$src/test/fixtures/fill_all.sql" ]);
is($rc, 0, 'every 1.0.0 feature works on the upgraded database (test/fixtures/fill_all.sql)') or diag($err);

done_testing();
