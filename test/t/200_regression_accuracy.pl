# 200_regression_accuracy.pl: crm.linreg and crm.logreg against statsmodels
# and scikit-learn, serial and through the parallel combine path.
#
# The references and tolerances live in test/forecast/regression_accuracy.py
# (Debian's /usr/bin/python3 with python3-statsmodels and python3-sklearn);
# it talks to this cluster with psql and prints one CHECK line per
# comparison, which becomes one test here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{CRM_SRC} or die "CRM_SRC is not set";
my $node = PostgreSQL::Test::Cluster->new('regression_accuracy');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', "max_worker_processes = 8\nmax_parallel_workers = 8\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION crm');

local $ENV{PGHOST} = $node->host;
local $ENV{PGPORT} = $node->port;
local $ENV{PGDATABASE} = 'postgres';
my $out = `/usr/bin/python3 $src/test/forecast/regression_accuracy.py`;
is($?, 0, 'regression_accuracy.py ran');

my $checks = 0;
for my $line (split /\n/, $out)
{
	my ($kind, @f) = split /\t/, $line;
	if ($kind eq 'CHECK')
	{
		my ($name, $measured, $tol) = @f;
		ok($measured <= $tol, "$name: $measured <= $tol");
		$checks++;
	}
	elsif ($kind eq 'NOTE')
	{
		diag($f[0]);
	}
}
cmp_ok($checks, '>=', 40, 'every comparison was made');

$node->stop;
done_testing();
