# test/forecast/PythonChecks.pm: the harness of the forecast accuracy TAP
# tests.  It starts a cluster with crm (parallel workers allowed), runs one
# Python check script against it (Debian's /usr/bin/python3 with statsmodels,
# scikit-learn and numpy; the script connects with psql through PGHOST,
# PGPORT and PGDATABASE) and turns what the script prints into tests:
#   "ok <text>" / "not ok <text>"          one test each
#   "CHECK\t<name>\t<measured>\t<tol>"      one test: measured <= tol
#   "NOTE\t<text>"                          a diagnostic
# plus: the script exited 0, wrote nothing to stderr, and made at least
# min_checks checks.
package PythonChecks;
use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use Test::More;

our @EXPORT = qw(run_python_checks);

sub run_python_checks
{
	my ($name, $script, $min_checks) = @_;
	my $src = $ENV{CRM_SRC} or die "CRM_SRC is not set";
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
	$node->append_conf('postgresql.conf', "max_worker_processes = 8\nmax_parallel_workers = 8\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION crm');

	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	local $ENV{PGDATABASE} = 'postgres';
	local $ENV{PYTHONDONTWRITEBYTECODE} = 1;
	my ($out, $err) = ('', '');
	my $ran = IPC::Run::run([ '/usr/bin/python3', "$src/test/forecast/$script" ],
		'>', \$out, '2>', \$err);
	ok($ran, "$script exited with status 0");
	is($err, '', "$script printed no errors");

	my $checks = 0;
	for my $line (split /\n/, $out)
	{
		if ($line =~ /^(ok|not ok) (.*)$/)
		{
			ok($1 eq 'ok', $2);
			$checks++;
			next;
		}
		my ($kind, @f) = split /\t/, $line;
		if ($kind eq 'CHECK')
		{
			my ($check, $measured, $tol) = @f;
			ok($measured <= $tol, "$check: $measured <= $tol");
			$checks++;
		}
		elsif ($kind eq 'NOTE')
		{
			diag($f[0]);
		}
	}
	cmp_ok($checks, '>=', $min_checks, "$script made every comparison");
	$node->stop;
}

1;
