# 200_regression_accuracy.pl: crm.linreg and crm.logreg against statsmodels
# and scikit-learn, serial and through the parallel combine path.
# The checks and their tolerances live in test/forecast/regression_accuracy.py; the harness is
# test/forecast/PythonChecks.pm.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/forecast";
use PythonChecks;
use Test::More;

run_python_checks('regression_accuracy', 'regression_accuracy.py', 40);
done_testing();
