# 311_marketing_rules.pl: crm.association_rules against a brute-force count
# in Python (support, confidence, lift, counts; repeated items; NULLs; both
# pair-counting paths).  The checks live in test/marketing/rules_check.py;
# the harness is test/forecast/PythonChecks.pm.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/forecast";
use PythonChecks;
use Test::More;

run_python_checks('marketing_rules', '../marketing/rules_check.py', 20);
done_testing();
