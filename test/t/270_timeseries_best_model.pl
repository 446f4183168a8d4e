# 270_timeseries_best_model.pl: crm.best_model -- the combination of ETS,
# Theta and ARIMA: the seasonality test that picks the ARIMA member's family
# and every ARIMA candidate's AICc recomputed with statsmodels (SARIMAX for
# the seasonal ones), and the forecasts as the mean of the members fitted
# directly.
# The checks and their tolerances live in test/forecast/timeseries_best_model_check.py; the harness is
# test/forecast/PythonChecks.pm.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/forecast";
use PythonChecks;
use Test::More;

run_python_checks('best_model', 'timeseries_best_model_check.py', 110);
done_testing();
