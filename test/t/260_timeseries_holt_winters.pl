# 260_timeseries_holt_winters.pl: crm.holt_winters and crm.forecast against
# statsmodels: fixed parameters at relative 1e-9 (SSE, states, forecasts,
# class-1 intervals), estimated ones by SSE against statsmodels' own fit, on
# generated series, co2 and sunspots.
# The checks and their tolerances live in test/forecast/timeseries_holt_winters_check.py; the harness is
# test/forecast/PythonChecks.pm.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/forecast";
use PythonChecks;
use Test::More;

run_python_checks('holt_winters', 'timeseries_holt_winters_check.py', 21);
done_testing();
