/*-------------------------------------------------------------------------
 * settings.c
 *	  Settings of the sales process and the SQL functions that read them for
 *	  column defaults and for dating invoices.
 *
 *	  crm.quote_valid_days	   GUC: days a new quote stays valid (valid_until)
 *	  crm.default_tax_rate	   GUC: tax rate of new quote lines that name none
 *	  crm.invoice_payment_days GUC: payment terms, due date = issue date + days
 *	  time_zone				   crm.setting row: the company's time zone, whose
 *							   calendar dates invoices (and so decides the year
 *							   of an invoice number)
 *
 * Dates are the company's, never the session's: two clerks in sessions set
 * to Etc/GMT-14 and Etc/GMT+12 issuing at the same instant date their
 * invoices the same day.  The time zone is read through the settings cache
 * (src/core/setting_cache.c), so dating an invoice runs no query.  The SQL
 * side calls these C functions rather than current_setting(), because
 * calling a C function loads the library (and so defines the GUCs) even in
 * a session that has not used crm yet.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(crm_quote_default_valid_until);
PG_FUNCTION_INFO_V1(crm_default_tax_rate);
PG_FUNCTION_INFO_V1(crm_invoice_default_due_date);
PG_FUNCTION_INFO_V1(crm_invoice_calendar_date);

static int	quote_valid_days = 30;
static double default_tax_rate = 0.0;
static int	invoice_payment_days = 30;

/* The company's time zone, from the time_zone setting (UTC without one). */
static pg_tz *
company_time_zone(void)
{
	char	   *name = crm_setting_value("time_zone");
	pg_tz	   *tz = pg_tzset(name != NULL ? name : "UTC");

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("company time zone \"%s\" is not recognized", name),
				 errhint("Set a known time zone: UPDATE crm.setting SET value = 'Asia/Shanghai' WHERE key = 'time_zone';")));
	return tz;
}

/* The date of a moment in the company's time zone. */
static DateADT
company_date(TimestampTz at)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz_offset;

	if (TIMESTAMP_NOT_FINITE(at))
		return DatumGetDateADT(DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(at)));
	if (timestamp2tm(at, &tz_offset, &tm, &fsec, NULL, company_time_zone()) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
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
 * in the company's time zone (the time_zone setting).
 */
Datum
crm_invoice_calendar_date(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATEADT(company_date(PG_GETARG_TIMESTAMPTZ(0)));
}
