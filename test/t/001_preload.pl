# 001_preload.pl: the pg_regress and isolation suites again, in a cluster
# with crm in shared_preload_libraries (so _PG_init runs in the postmaster
# and every backend inherits the library, the way production runs it).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{CRM_SRC} or die "CRM_SRC is not set";
my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'crm'\nmax_prepared_transactions = 4\n");
$node->start;

is($node->safe_psql('postgres', "SHOW shared_preload_libraries"), 'crm', 'crm is preloaded');

my $pgbin = $node->config_data('--bindir');
my $outdir = "${PostgreSQL::Test::Utils::tmp_check}/preload_results";
my @regress = map { m{sql/(.*)\.sql$} ? $1 : () } sort glob("$src/sql/*.sql");
my @isolation = map { m{specs/(.*)\.spec$} ? $1 : () } sort glob("$src/test/isolation/specs/*.spec");

sub run_suite
{
	my ($binary, $inputdir, $name, @tests) = @_;
	return unless @tests;
	my $out = "$outdir/$name";
	mkdir $outdir;
	mkdir $out;
	my $rc = system($binary, '--host=' . $node->host, '--port=' . $node->port,
		"--bindir=$pgbin", "--inputdir=$inputdir", "--outputdir=$out",
		'--load-extension=crm', '--encoding=UTF8', @tests);
	is($rc, 0, "$name suite passes with crm preloaded (" . scalar(@tests) . " tests)");
	if ($rc != 0 && -f "$out/regression.diffs")
	{
		diag(slurp_file("$out/regression.diffs"));
	}
}

my $pgxs = `pg_config --pgxs`;
$pgxs =~ s{/src/makefiles/pgxs\.mk\s*$}{};
run_suite($ENV{PG_REGRESS}, $src, 'regress', @regress);
run_suite("$pgxs/src/test/isolation/pg_isolation_regress", "$src/test/isolation", 'isolation', @isolation);

$node->stop;
done_testing();
