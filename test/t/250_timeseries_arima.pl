# 250_timeseries_arima.pl: crm.arima and crm.forecast (ARIMA) against
# statsmodels: coefficients, log-likelihood, information criteria and
# forecasts with intervals, on generated series and statsmodels' sunspots,
# nile and macrodata datasets; seasonal ARIMA against SARIMAX.
# The checks and their tolerances live in test/forecast/timeseries_arima_check.py; the harness is
# test/forecast/PythonChecks.pm.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/forecast";
use PythonChecks;
use Test::More;

run_python_checks('arima', 'timeseries_arima_check.py', 21);
done_testing();
