# 27_timeseries_best_model.pl: crm.best_model -- every candidate's AICc on
# the common data recomputed with statsmodels, the choice on series of known
# structure, and the chosen model's forecasts.
# The checks and their tolerances live in test/forecast/timeseries_best_model_check.py; the harness is
# test/forecast/PythonChecks.pm.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/forecast";
use PythonChecks;
use Test::More;

run_python_checks('best_model', 'timeseries_best_model_check.py', 21);
done_testing();
