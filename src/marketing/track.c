/*-------------------------------------------------------------------------
 * track.c
 *	  crm.track(email, kind, properties, occurred_at): record what a person
 *	  did, by email address, creating the contact on first sight.
 *
 * The common case (a known address) is one statement through a plan kept
 * for the backend's life: INSERT INTO crm.event ... SELECT the contact by
 * lower(email), which the unique index contact_email_key answers.  When no
 * row comes back the address is new: the contact is inserted (named after
 * the address) with ON CONFLICT DO NOTHING on that same unique index, so two
 * sessions tracking the same new address concurrently end with one contact,
 * and the event insert is tried again.  The function is SECURITY DEFINER
 * (apps track people whatever row-level visibility they have), so the new
 * contact's owner is set explicitly to the session's role.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "spi_util.h"
#include "marketing/printable.h"

PG_FUNCTION_INFO_V1(crm_track);

/* Parameters of the event insert, in $n order. */
typedef enum TrackArg
{
	TRACK_LOWER_EMAIL,			/* $1 */
	TRACK_KIND,					/* $2 */
	TRACK_PROPERTIES,			/* $3 */
	TRACK_OCCURRED_AT,			/* $4 */
	TRACK_NARGS
} TrackArg;

static const Oid track_types[TRACK_NARGS] = {
	[TRACK_LOWER_EMAIL] = TEXTOID,
	[TRACK_KIND] = TEXTOID,
	[TRACK_PROPERTIES] = JSONBOID,
	[TRACK_OCCURRED_AT] = TIMESTAMPTZOID,
};

/* The event of the person with this address (contact_email_key: at most one). */
static CrmSpiQuery event_query = {
	"INSERT INTO crm.event (contact_id, kind, properties, occurred_at, source)"
	" SELECT c.id, $2, $3, $4, 'track' FROM crm.contact c"
	" WHERE pg_catalog.lower(c.email) OPERATOR(pg_catalog.=) $1"
	" RETURNING id",
	TRACK_NARGS, track_types};

/* Parameters of the contact insert. */
typedef enum ContactArg
{
	CONTACT_EMAIL,				/* $1: as given; also the name */
	CONTACT_OWNER,				/* $2 */
	CONTACT_NARGS
} ContactArg;

static const Oid contact_types[CONTACT_NARGS] = {
	[CONTACT_EMAIL] = TEXTOID,
	[CONTACT_OWNER] = NAMEOID,
};

static CrmSpiQuery contact_query = {
	"INSERT INTO crm.contact (name, email, owner) VALUES ($1, $1, $2)"
	" ON CONFLICT ((pg_catalog.lower(email))) DO NOTHING",
	CONTACT_NARGS, contact_types};

/* Runs the query; the int8 first column of its first row, or -1 for no row. */
static int64
run_query(CrmSpiQuery *query, const Datum *values)
{
	bool		isnull;

	if (crm_spi_execute(query, values, NULL, false, 0) == 0 || SPI_tuptable == NULL)
		return -1;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * crm.track(email, kind, properties, occurred_at) returns the new event's id
 * (see the file comment).
 */
Datum
crm_track(PG_FUNCTION_ARGS)
{
	char	   *email;
	char	   *lower_email;
	char	   *kind;
	const char *problem;
	Jsonb	   *properties;
	Datum		args[TRACK_NARGS];
	Datum		contact_args[CONTACT_NARGS];
	int64		id;
	int			attempt;
	char	   *p;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be null", PG_ARGISNULL(0) ? "email" : "kind"),
				 errhint("Only properties and occurred_at may be null (meaning {} and now).")));
	email = text_to_cstring(PG_GETARG_TEXT_PP(0));
	problem = crm_email_address_problem(email);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid email address \"%s\"", email),
				 errdetail("%s", problem),
				 errhint("Track people by a well-formed address such as \"wang.fang@example.com\".")));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	crm_check_printable_name(kind, "event kind", 200, "course_view");
	if (PG_ARGISNULL(2))
		properties = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	else
	{
		properties = PG_GETARG_JSONB_P(2);
		if (!JB_ROOT_IS_OBJECT(properties))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event properties must be a JSON object"),
					 errhint("Pass something like '{\"sku\": \"PY-101\"}'::jsonb.")));
	}

	lower_email = pstrdup(email);
	for (p = lower_email; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);

	args[TRACK_LOWER_EMAIL] = CStringGetTextDatum(lower_email);
	args[TRACK_KIND] = CStringGetTextDatum(kind);
	args[TRACK_PROPERTIES] = JsonbPGetDatum(properties);
	args[TRACK_OCCURRED_AT] = PG_ARGISNULL(3) ? TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())
		: PG_GETARG_DATUM(3);
	crm_spi_connect();
	/*
	 * A known address (contact_email_key makes it at most one contact); else
	 * create the contact, or see the one a concurrent session made, and retry.
	 */
	id = run_query(&event_query, args);
	for (attempt = 0; id < 0 && attempt < 3; attempt++)
	{
		if (attempt == 0)
		{
			contact_args[CONTACT_EMAIL] = CStringGetTextDatum(email);
			contact_args[CONTACT_OWNER] =
				DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false)));
		}
		run_query(&contact_query, contact_args);
		id = run_query(&event_query, args);
	}
	if (id < 0)
		elog(ERROR, "contact for \"%s\" vanished while its event was recorded", email);
	SPI_finish();
	PG_RETURN_INT64(id);
}
