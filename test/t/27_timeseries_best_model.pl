# 27_timeseries_best_model.pl: crm.best_model -- every candidate's AICc on
# the common data recomputed with statsmodels, the choice on series of known
# structure, and the chosen model's forecasts.
# The checks live in test/forecast/timeseries_best_model_check.py (Debian's
# /usr/bin/python3 with statsmodels 0.13.5); each line it prints, "ok ..." or
# "not ok ..." with the tolerance and both values, becomes one test here.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{CRM_SRC} or die "CRM_SRC is not set";
my $node = PostgreSQL::Test::Cluster->new('best_model');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION crm');

local $ENV{PGHOST} = $node->host;
local $ENV{PGPORT} = $node->port;
local $ENV{PGDATABASE} = 'postgres';
local $ENV{PYTHONDONTWRITEBYTECODE} = 1;
my ($out, $err) = ('', '');
IPC::Run::run([ '/usr/bin/python3', "$src/test/forecast/timeseries_best_model_check.py" ],
	'>', \$out, '2>', \$err);
my $checks = 0;
for my $line (split /\n/, $out)
{
	next unless $line =~ /^(ok|not ok) (.*)$/;
	ok($1 eq 'ok', $2);
	$checks++;
}
ok($checks > 20, "the helper ran its checks ($checks)");
is($err, '', 'the helper printed no errors');

$node->stop;
done_testing();
