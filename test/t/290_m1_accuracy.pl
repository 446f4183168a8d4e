# 290_m1_accuracy.pl: crm.best_model + crm.forecast on the 617 monthly series
# of the M1 competition, 18 months ahead: prints the table crm vs R's ets,
# auto.arima and thetaf (mean sMAPE and MASE), and fails when crm gets worse
# than the figures recorded in test/forecast/data/m1_crm_recorded.csv or
# than any of R's methods.
# The checks live in test/forecast/m1_accuracy_check.py; the harness is
# test/forecast/PythonChecks.pm.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/forecast";
use PythonChecks;
use Test::More;

run_python_checks('m1_accuracy', 'm1_accuracy_check.py', 12);
done_testing();
