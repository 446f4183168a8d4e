/*-------------------------------------------------------------------------
 * settings.c
 *	  Settings of the sales process (GUCs) and the SQL functions that read
 *	  them for column defaults and invoice dating.
 *
 *	  crm.quote_valid_days	   days a new quote stays valid (valid_until)
 *	  crm.default_tax_rate	   tax rate of new quote lines that name none
 *	  crm.invoice_payment_days payment terms: due date = issue date + days
 *	  crm.invoice_time_zone	   time zone whose calendar dates invoices, and so
 *							   decides the year of an invoice number
 *
 * The SQL side reads them through these C functions rather than
 * current_setting(), because calling a C function loads the library (and so
 * defines the settings) even in a session that has not used crm yet.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(crm_quote_default_valid_until);
PG_FUNCTION_INFO_V1(crm_default_tax_rate);
PG_FUNCTION_INFO_V1(crm_invoice_default_due_date);
PG_FUNCTION_INFO_V1(crm_invoice_calendar_date);

static int	quote_valid_days = 30;
static double default_tax_rate = 0.0;
static int	invoice_payment_days = 30;
static char *invoice_time_zone = NULL;

/* An empty value means "the session's TimeZone"; anything else must be known. */
static bool
check_invoice_time_zone(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (pg_tzset(*newval) == NULL)
	{
		GUC_check_errdetail("Time zone \"%s\" is not recognized.", *newval);
		return false;
	}
	return true;
}

void
crm_sales_init(void)
{
	DefineCustomIntVariable("crm.quote_valid_days",
							"Number of days a new quote stays valid.",
							"crm.create_quote and INSERT INTO crm.quote set valid_until to the "
							"current date plus this many days unless it is given.",
							&quote_valid_days,
							30, 1, 3650,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomRealVariable("crm.default_tax_rate",
							 "Tax rate of new quote lines that do not give one.",
							 "A fraction between 0 and 1, such as 0.06 for 6% VAT.",
							 &default_tax_rate,
							 0.0, 0.0, 1.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("crm.invoice_payment_days",
							"Payment terms of new invoices, in days after the issue date.",
							"An invoice issued without a due date is due this many days after it is issued.",
							&invoice_payment_days,
							30, 0, 3650,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("crm.invoice_time_zone",
							   "Time zone whose calendar gives invoices their issue date.",
							   "The issue date also decides the year in the invoice number. "
							   "Empty means the session's TimeZone.",
							   &invoice_time_zone,
							   "",
							   PGC_SUSET, 0,
							   check_invoice_time_zone, NULL, NULL);
}

/* crm.quote_default_valid_until() → date: today plus crm.quote_valid_days. */
Datum
crm_quote_default_valid_until(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATEADT(GetSQLCurrentDate() + quote_valid_days);
}

/* crm.default_tax_rate() → numeric: crm.default_tax_rate. */
Datum
crm_default_tax_rate(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall1(float8_numeric, Float8GetDatum(default_tax_rate));
}

/* crm.invoice_default_due_date(issue_date date) → date: plus the payment terms. */
Datum
crm_invoice_default_due_date(PG_FUNCTION_ARGS)
{
	DateADT		issued = PG_GETARG_DATEADT(0);

	if (DATE_NOT_FINITE(issued))
		PG_RETURN_DATEADT(issued);
	PG_RETURN_DATEADT(issued + invoice_payment_days);
}

/*
 * crm.invoice_calendar_date(at timestamptz) → date: the date of that moment
 * in crm.invoice_time_zone, or in the session's TimeZone when it is empty.
 */
Datum
crm_invoice_calendar_date(PG_FUNCTION_ARGS)
{
	Datum		at = PG_GETARG_DATUM(0);
	Datum		local;

	if (invoice_time_zone == NULL || invoice_time_zone[0] == '\0')
		return DirectFunctionCall1(timestamptz_date, at);
	local = DirectFunctionCall2(timestamptz_zone, CStringGetTextDatum(invoice_time_zone), at);
	return DirectFunctionCall1(timestamp_date, local);
}
