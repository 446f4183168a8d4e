# 202_revenue_range.pl: crm.revenue_range against the exact distribution
# of won revenue and a Monte Carlo sample, with the measured error of its
# approximation (printed as diagnostics).
# The checks and their tolerances live in test/forecast/regression_revenue.py; the harness is
# test/forecast/PythonChecks.pm.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/forecast";
use PythonChecks;
use Test::More;

run_python_checks('revenue_range', 'regression_revenue.py', 20);
done_testing();
