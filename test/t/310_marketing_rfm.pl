# 310_marketing_rfm.pl: crm.customer_value (RFM scores with ties, segments)
# against pandas on a few thousand generated orders.  The checks live in
# test/marketing/rfm_check.py; the harness is test/forecast/PythonChecks.pm.
use strict;
use warnings;
use lib "$ENV{CRM_SRC}/test/forecast";
use PythonChecks;
use Test::More;

run_python_checks('marketing_rfm', '../marketing/rfm_check.py', 12);
done_testing();
