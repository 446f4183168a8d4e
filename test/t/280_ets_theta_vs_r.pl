# 280_ets_theta_vs_r.pl: crm.ets and crm.theta against R's forecast package
# (Debian r-cran-forecast) on series of R's datasets: for fixed ETS models,
# R's log-likelihood, forecasts and intervals at crm's estimate (exact), and
# crm's estimate against R's; the Theta method's drift, alpha, forecasts and
# intervals; AirPassengers with the full ETS family.
# The checks and their tolerances live in test/forecast/ets_theta_r_check.py
# (the R side in test/forecast/ets_theta_reference.R); the harness is
# test/forecast/PythonChecks.pm.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/forecast";
use PythonChecks;
use Test::More;

run_python_checks('ets_theta_r', 'ets_theta_r_check.py', 120);
done_testing();
