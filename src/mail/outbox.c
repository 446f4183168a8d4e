/*-------------------------------------------------------------------------
 * outbox.c
 *	  The mail queue's settings and its C entry points: crm.send_email
 *	  (validate and enqueue) and crm.render_message (the message the worker
 *	  would send for an outbox row).
 *
 * Enqueue is one INSERT ... WHERE NOT EXISTS (suppressed) through an SPI
 * plan kept for the backend's life (spi_util.h) (plus a key lookup when an idempotency
 * key is given), so queuing costs little more than a plain INSERT
 * (test/bench/mail_enqueue.bench.sh).  The
 * size check needs no rendering unless the message is near the limit: the
 * rendered size is below three times the raw text plus 4 kB of headers
 * (the shorter of quoted-printable and base64 never exceeds 2.75 times the
 * text, counting line-break expansion), so only messages whose bound passes
 * crm.max_message_size are rendered and measured exactly.
 *
 * The SQL declarations make send_email SECURITY DEFINER with a pinned
 * search_path; inside it the session's role (which SET ROLE changes and
 * SECURITY DEFINER does not) is recorded as created_by.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "common/pg_prng.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "spi_util.h"
#include "mail/mime.h"
#include "mail/outbox.h"

PG_FUNCTION_INFO_V1(crm_send_email);
PG_FUNCTION_INFO_V1(crm_render_message);

/* Longest idempotency key (bytes). */
#define IDEMPOTENCY_KEY_MAX 255
/* Longest crm.unsubscribe_url, so the List-Unsubscribe line stays < 998 octets. */
#define UNSUBSCRIBE_URL_MAX 200
/* Longest crm.mail_from_name (bytes). */
#define FROM_NAME_MAX 64
/* Headers never take more than this (see the file comment). */
#define HEADER_BOUND 4096

char	   *crm_mail_from;
char	   *crm_mail_from_name;
char	   *crm_unsubscribe_url;
static char *crm_message_id_domain;
int			crm_max_message_size;


static bool
is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s >= 0x80)
			return false;
	return true;
}

static bool
check_mail_from(char **newval, void **extra, GucSource source)
{
	const char *problem = crm_email_address_problem(*newval);

	if (problem == NULL && !is_ascii(*newval))
		problem = "The sender address must be written in ASCII.";
	if (problem != NULL)
	{
		GUC_check_errdetail("%s", problem);
		return false;
	}
	return true;
}

static bool
check_mail_from_name(char **newval, void **extra, GucSource source)
{
	const char *p;

	if (strlen(*newval) > FROM_NAME_MAX)
	{
		GUC_check_errdetail("The display name is limited to %d bytes.", FROM_NAME_MAX);
		return false;
	}
	for (p = *newval; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
		{
			GUC_check_errdetail("The display name cannot contain control characters.");
			return false;
		}
	if (!pg_verify_mbstr(PG_UTF8, *newval, (int) strlen(*newval), true))
	{
		GUC_check_errdetail("The display name must be valid UTF-8.");
		return false;
	}
	return true;
}

static bool
check_message_id_domain(char **newval, void **extra, GucSource source)
{
	char	   *address;
	const char *problem;

	if ((*newval)[0] == '\0')
		return true;
	address = psprintf("x@%s", *newval);
	problem = crm_email_address_problem(address);
	pfree(address);
	if (problem == NULL && !is_ascii(*newval))
		problem = "The domain must be written in ASCII.";
	if (problem != NULL)
	{
		GUC_check_errdetail("%s", problem);
		return false;
	}
	return true;
}

static bool
check_unsubscribe_url(char **newval, void **extra, GucSource source)
{
	const char *url = *newval;
	const char *p;
	const char *mark;

	if (url[0] == '\0')
		return true;
	if (strncmp(url, "https://", 8) != 0 || url[8] == '\0')
	{
		GUC_check_errdetail("One-click unsubscription (RFC 8058) needs an https:// URL.");
		return false;
	}
	if (strlen(url) > UNSUBSCRIBE_URL_MAX)
	{
		GUC_check_errdetail("The URL is limited to %d bytes.", UNSUBSCRIBE_URL_MAX);
		return false;
	}
	for (p = url; *p; p++)
		if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f || strchr("<>\"#\\", *p))
		{
			GUC_check_errdetail("The URL may contain only printable ASCII, without spaces, quotes, angle brackets, backslashes or a fragment (#).");
			return false;
		}
	mark = strstr(url, "{{address}}");
	if (mark != NULL && strstr(mark + 1, "{{address}}") != NULL)
	{
		GUC_check_errdetail("The URL may contain {{address}} only once.");
		return false;
	}
	return true;
}

void
crm_mail_queue_init(void)
{
	DefineCustomStringVariable("crm.mail_from",
							   "Sender address of the email crm sends.",
							   "Used in the From header and as the SMTP envelope sender; "
							   "its domain also ends every Message-ID unless "
							   "crm.message_id_domain is set.",
							   &crm_mail_from,
							   "crm@localhost.localdomain",
							   PGC_SUSET, 0,
							   check_mail_from, NULL, NULL);
	DefineCustomStringVariable("crm.mail_from_name",
							   "Display name shown before crm.mail_from in the From header.",
							   "Empty for none; UTF-8 names are sent as RFC 2047 encoded-words.",
							   &crm_mail_from_name,
							   "",
							   PGC_SUSET, 0,
							   check_mail_from_name, NULL, NULL);
	DefineCustomStringVariable("crm.message_id_domain",
							   "Domain after the \"@\" of the Message-ID given to each queued email.",
							   "Empty means the domain of crm.mail_from.",
							   &crm_message_id_domain,
							   "",
							   PGC_SUSET, 0,
							   check_message_id_domain, NULL, NULL);
	DefineCustomStringVariable("crm.unsubscribe_url",
							   "HTTPS URL for one-click unsubscription, announced in every email.",
							   "When set, messages carry List-Unsubscribe and "
							   "List-Unsubscribe-Post (RFC 8058).  {{address}} in the URL is "
							   "replaced by the percent-encoded recipient; without it an "
							   "\"address\" query parameter is added.",
							   &crm_unsubscribe_url,
							   "",
							   PGC_SUSET, 0,
							   check_unsubscribe_url, NULL, NULL);
	DefineCustomIntVariable("crm.max_message_size",
							"Largest email, as sent with headers and encoding, that crm.send_email queues.",
							"Valid range is 1kB to 256MB.",
							&crm_max_message_size,
							10 * 1024 * 1024, 1024, 256 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
}

/* The domain of Message-IDs: crm.message_id_domain or the domain of crm.mail_from. */
static const char *
message_id_domain(void)
{
	if (crm_message_id_domain != NULL && crm_message_id_domain[0] != '\0')
		return crm_message_id_domain;
	return strrchr(crm_mail_from, '@') + 1;
}

static void
check_not_blank(const char *value, const char *what, const char *hint)
{
	const char *p;

	for (p = value; *p; p++)
		if (!(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
			return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("email %s is empty", what),
			 errdetail("An email needs a subject and a plain-text body with more than whitespace in them."),
			 errhint("%s", hint)));
}

/* The text must be UTF-8: checked here only where the server does not guarantee it. */
static void
check_utf8(const char *value, const char *what)
{
	int			encoding = GetDatabaseEncoding();

	if (encoding == PG_UTF8)
		return;
	if (encoding != PG_SQL_ASCII)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("crm email needs a database with encoding UTF8"),
				 errdetail("This database uses encoding %s.", GetDatabaseEncodingName()),
				 errhint("Create the database with ENCODING 'UTF8'.")));
	if (!pg_verify_mbstr(PG_UTF8, value, (int) strlen(value), true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("email %s is not valid UTF-8", what),
				 errdetail("Email is sent with charset UTF-8, and this SQL_ASCII database stores bytes unchecked."),
				 errhint("Pass the text as UTF-8.")));
}

static void
check_size(const CrmOutboxRequest *req)
{
	size_t		raw = strlen(req->subject) + strlen(req->body_text) +
		(req->body_html ? strlen(req->body_html) : 0);
	size_t		size;
	CrmMailMessage msg;
	char	   *rendered;

	if (raw <= (size_t) crm_max_message_size &&
		3 * raw + HEADER_BOUND <= (size_t) crm_max_message_size)
		return;
	if (raw > (size_t) crm_max_message_size)
		size = raw;				/* the rendered message is larger still */
	else
	{
		memset(&msg, 0, sizeof(msg));
		msg.from = crm_mail_from;
		msg.to = req->to_address;
		msg.subject = req->subject;
		msg.body_text = req->body_text;
		msg.body_html = req->body_html;
		msg.message_id = "<000000000000000000000000.9223372036854775807@domain>";
		msg.date = GetCurrentTimestamp();
		msg.unsubscribe_url = crm_unsubscribe_url;
		rendered = crm_mime_build(&msg, &size);
		pfree(rendered);
		if (size <= (size_t) crm_max_message_size)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("email to \"%s\" is too large", req->to_address),
			 errdetail("The message would be %s%zu bytes as sent, and crm.max_message_size is %d bytes.",
					   size == raw ? "more than " : "", size, crm_max_message_size),
			 errhint("Send a shorter message, or ask a superuser to raise crm.max_message_size.")));
}

/* Every check of a message: nothing is queued unless all pass. */
static void
validate_request(const CrmOutboxRequest *req)
{
	const char *problem = crm_email_address_problem(req->to_address);
	const char *p;

	if (problem == NULL && !is_ascii(req->to_address))
		problem = "Only addresses written in ASCII can be sent to; give an internationalised domain in its ASCII (\"xn--\") form.";
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid email address \"%s\"", req->to_address),
				 errdetail("%s", problem),
				 errhint("Correct the recipient address.")));

	for (p = req->subject; *p; p++)
	{
		if (*p == '\r' || *p == '\n')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("email subject contains a line break"),
					 errdetail("A line break in a header would end it and let the rest of the text add headers of its own."),
					 errhint("Put the subject on one line.")));
		if ((unsigned char) *p < 0x20 && *p != '\t')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("email subject contains a control character"),
					 errdetail("Byte 0x%02X is not allowed in a header.", (unsigned char) *p),
					 errhint("Remove control characters from the subject.")));
	}
	check_not_blank(req->subject, "subject", "Give the email a subject.");
	check_not_blank(req->body_text, "text body",
					"Every email needs a plain-text body; body_html is optional.");
	if (req->body_html != NULL)
		check_not_blank(req->body_html, "HTML body", "Pass NULL for an email without an HTML part.");
	if (req->idempotency_key != NULL &&
		(req->idempotency_key[0] == '\0' || strlen(req->idempotency_key) > IDEMPOTENCY_KEY_MAX))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency key must have 1 to %d bytes", IDEMPOTENCY_KEY_MAX),
				 errdetail("The key given has %zu bytes.", strlen(req->idempotency_key)),
				 errhint("Pass NULL for no key, or a short identifier such as \"invoice-42-issued\".")));

	check_utf8(req->subject, "subject");
	check_utf8(req->body_text, "text body");
	if (req->body_html != NULL)
		check_utf8(req->body_html, "HTML body");
	check_size(req);
}

/*
 * The parameters of the enqueue INSERT, in $n order: the arrays passed to
 * SPI are sized by ENQUEUE_NARGS, and ENQUEUE_SQL below numbers them the
 * same way.
 */
typedef enum EnqueueArg
{
	ARG_TO_ADDRESS,				/* $1 */
	ARG_SUBJECT,				/* $2 */
	ARG_BODY_TEXT,				/* $3 */
	ARG_BODY_HTML,				/* $4 */
	ARG_IDEMPOTENCY_KEY,		/* $5 */
	ARG_TEMPLATE_KEY,			/* $6 */
	ARG_CREATED_BY,				/* $7 */
	ARG_RANDOM_HEX,				/* $8 */
	ARG_ID_DOMAIN,				/* $9 */
	ARG_LOWER_ADDRESS,			/* $10 */
	ARG_CATEGORY,				/* $11 */
	ENQUEUE_NARGS
} EnqueueArg;

static const Oid enqueue_types[ENQUEUE_NARGS] = {
	[ARG_TO_ADDRESS] = TEXTOID,
	[ARG_SUBJECT] = TEXTOID,
	[ARG_BODY_TEXT] = TEXTOID,
	[ARG_BODY_HTML] = TEXTOID,
	[ARG_IDEMPOTENCY_KEY] = TEXTOID,
	[ARG_TEMPLATE_KEY] = TEXTOID,
	[ARG_CREATED_BY] = NAMEOID,
	[ARG_RANDOM_HEX] = TEXTOID,
	[ARG_ID_DOMAIN] = TEXTOID,
	[ARG_LOWER_ADDRESS] = TEXTOID,
	[ARG_CATEGORY] = TEXTOID,
};

/*
 * Queues unless the lower-cased address ($10) is suppressed for the
 * category ($11): 'unsubscribed' stops marketing email only, any other
 * reason all email; marketing email also needs crm.marketing_allowed for
 * the address's contact.
 */
#define ENQUEUE_SQL \
"INSERT INTO crm.email_outbox (id, to_address, subject, body_text, body_html," \
" idempotency_key, template_key, created_by, message_id, category, contact_id) OVERRIDING SYSTEM VALUE" \
" SELECT n.id, $1, $2, $3, $4, $5, $6, $7," \
" pg_catalog.format('<%s.%s@%s>', $8, n.id, $9), $11, r.contact_id" \
" FROM (SELECT pg_catalog.nextval('crm.email_outbox_id_seq'::pg_catalog.regclass) AS id) n," \
" (SELECT (SELECT c.id FROM crm.contact c" \
"          WHERE pg_catalog.lower(c.email) OPERATOR(pg_catalog.=) $10) AS contact_id) r" \
" WHERE NOT EXISTS (SELECT FROM crm.email_suppression s" \
"                    WHERE s.address OPERATOR(pg_catalog.=) $10" \
"                      AND ($11 OPERATOR(pg_catalog.=) 'marketing'" \
"                           OR s.reason OPERATOR(pg_catalog.<>) 'unsubscribed'))" \
" AND ($11 OPERATOR(pg_catalog.=) 'transactional' OR crm.marketing_allowed(r.contact_id))"

static CrmSpiQuery insert_query = {ENQUEUE_SQL " RETURNING id", ENQUEUE_NARGS, enqueue_types};
static CrmSpiQuery insert_keyed_query = {
	ENQUEUE_SQL " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id", ENQUEUE_NARGS, enqueue_types};

/* $1 an idempotency key */
static const Oid one_text[1] = {TEXTOID};
static CrmSpiQuery find_key_query = {
	"SELECT id FROM crm.email_outbox WHERE idempotency_key OPERATOR(pg_catalog.=) $1", 1, one_text};

/* the rule of ENQUEUE_SQL: $1 the lower-cased address, $2 the category */
enum
{
	SUPPRESSED_ADDRESS,
	SUPPRESSED_CATEGORY,
	SUPPRESSED_NARGS
};
static const Oid suppressed_types[SUPPRESSED_NARGS] = {
	[SUPPRESSED_ADDRESS] = TEXTOID, [SUPPRESSED_CATEGORY] = TEXTOID};
static CrmSpiQuery suppressed_query = {
	"SELECT 1 FROM crm.email_suppression s WHERE s.address OPERATOR(pg_catalog.=) $1"
	" AND ($2 OPERATOR(pg_catalog.=) 'marketing' OR s.reason OPERATOR(pg_catalog.<>) 'unsubscribed')",
	SUPPRESSED_NARGS, suppressed_types};

/* $1 an outbox id */
static const Oid one_int8[1] = {INT8OID};
static CrmSpiQuery render_query = {
	"SELECT to_address, subject, body_text, body_html, message_id, COALESCE(sent_at, pg_catalog.now()) "
	"FROM crm.email_outbox WHERE id OPERATOR(pg_catalog.=) $1", 1, one_int8};

/*
 * Runs a kept plan; true with the first column of the first row in *id when
 * it returned one.  No row limit: an INSERT stopped after its first RETURNING
 * row never fires its AFTER STATEMENT triggers (the mail worker's wake-up).
 */
static bool
run_for_id(CrmSpiQuery *query, const Datum *values, const char *nulls, int64 *id)
{
	bool		isnull;

	if (crm_spi_execute(query, values, nulls, false, 0) == 0)
		return false;
	if (id != NULL)
		*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return true;
}

static Datum
text_or_null(const char *s, char *null_flag)
{
	*null_flag = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

static const char *
checked_category(const char *category)
{
	if (category == NULL)
		return CRM_MAIL_TRANSACTIONAL;
	if (strcmp(category, CRM_MAIL_TRANSACTIONAL) != 0 && strcmp(category, CRM_MAIL_MARKETING) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid email category \"%s\"", category),
				 errhint("The categories are \"transactional\" and \"marketing\".")));
	return category;
}

bool
crm_outbox_enqueue(const CrmOutboxRequest *req, int64 *id)
{
	Datum		values[ENQUEUE_NARGS];
	char		nulls[ENQUEUE_NARGS];
	Datum		suppressed_args[SUPPRESSED_NARGS];
	uint64		random_bits[2];
	char		random_hex[25];
	char	   *lower_to;
	char	   *p;
	int			attempt;
	bool		queued = false;
	const char *category = checked_category(req->category);

	validate_request(req);

	lower_to = pstrdup(req->to_address);
	for (p = lower_to; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);
	/* 96 bits from the backend's PRNG, seeded from a strong source at backend start */
	random_bits[0] = pg_prng_uint64(&pg_global_prng_state);
	random_bits[1] = pg_prng_uint64(&pg_global_prng_state);
	snprintf(random_hex, sizeof(random_hex), "%016llx%08x",
			 (unsigned long long) random_bits[0], (unsigned int) (random_bits[1] >> 32));

	crm_spi_connect();

	memset(nulls, ' ', sizeof(nulls));
	values[ARG_TO_ADDRESS] = CStringGetTextDatum(req->to_address);
	values[ARG_SUBJECT] = CStringGetTextDatum(req->subject);
	values[ARG_BODY_TEXT] = CStringGetTextDatum(req->body_text);
	values[ARG_BODY_HTML] = text_or_null(req->body_html, &nulls[ARG_BODY_HTML]);
	values[ARG_IDEMPOTENCY_KEY] = text_or_null(req->idempotency_key, &nulls[ARG_IDEMPOTENCY_KEY]);
	values[ARG_TEMPLATE_KEY] = text_or_null(req->template_key, &nulls[ARG_TEMPLATE_KEY]);
	values[ARG_CREATED_BY] = DirectFunctionCall1(namein,
												 CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false)));
	values[ARG_RANDOM_HEX] = CStringGetTextDatum(random_hex);
	values[ARG_ID_DOMAIN] = CStringGetTextDatum(message_id_domain());
	values[ARG_LOWER_ADDRESS] = CStringGetTextDatum(lower_to);
	values[ARG_CATEGORY] = CStringGetTextDatum(category);
	suppressed_args[SUPPRESSED_ADDRESS] = values[ARG_LOWER_ADDRESS];
	suppressed_args[SUPPRESSED_CATEGORY] = values[ARG_CATEGORY];

	/* a key seen before answers with its message, whatever else has changed */
	if (req->idempotency_key != NULL &&
		run_for_id(&find_key_query, &values[ARG_IDEMPOTENCY_KEY], NULL, id))
		queued = true;
	else if (req->idempotency_key == NULL)
		queued = run_for_id(&insert_query, values, nulls, id);	/* none: not allowed */
	else
	{
		/*
		 * Nothing inserted means not allowed (suppressed, no consent), or a
		 * concurrent enqueue with the same key: ON CONFLICT waited for it,
		 * and the row it committed is visible to the next statement.  Retry
		 * in the unlikely case that row is deleted in between.
		 */
		for (attempt = 0; attempt < 3 && !queued; attempt++)
		{
			queued = run_for_id(&insert_keyed_query, values, nulls, id) ||
				run_for_id(&find_key_query, &values[ARG_IDEMPOTENCY_KEY], NULL, id);
			if (!queued && (strcmp(category, CRM_MAIL_MARKETING) == 0 ||
							run_for_id(&suppressed_query, suppressed_args, NULL, NULL)))
				break;
		}
		if (!queued && attempt == 3)
			elog(ERROR, "idempotency key \"%s\" conflicts with a row that cannot be found",
				 req->idempotency_key);
	}
	SPI_finish();
	return queued;
}

static const char *
required_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be null", name),
				 errhint("Only body_html and idempotency_key may be null.")));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * crm.send_email(to_address, subject, body_text, body_html, idempotency_key)
 * returns the outbox id, or NULL when the address is suppressed.
 */
Datum
crm_send_email(PG_FUNCTION_ARGS)
{
	CrmOutboxRequest req;
	int64		id;

	req.to_address = required_arg(fcinfo, 0, "to_address");
	req.subject = required_arg(fcinfo, 1, "subject");
	req.body_text = required_arg(fcinfo, 2, "body_text");
	req.body_html = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	req.idempotency_key = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	req.template_key = NULL;
	req.category = CRM_MAIL_TRANSACTIONAL;

	if (!crm_outbox_enqueue(&req, &id))
		PG_RETURN_NULL();
	PG_RETURN_INT64(id);
}

/*
 * crm.render_message(outbox_id) returns the message the worker would send
 * for the row, with today's settings: Date is when it was sent, or now.
 */
Datum
crm_render_message(PG_FUNCTION_ARGS)
{
	int64		outbox_id = PG_GETARG_INT64(0);
	MemoryContext caller = CurrentMemoryContext;
	Datum		values[1] = {Int64GetDatum(outbox_id)};
	HeapTuple	row;
	TupleDesc	desc;
	CrmMailMessage msg;
	bool		isnull;
	char	   *rendered;
	size_t		len;
	text	   *result;

	crm_spi_connect();
	if (crm_spi_execute(&render_query, values, NULL, true, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("email %lld does not exist", (long long) outbox_id),
				 errhint("Look the id up in crm.email_outbox.")));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	memset(&msg, 0, sizeof(msg));
	msg.from = crm_mail_from;
	msg.to = SPI_getvalue(row, desc, 1);
	msg.subject = SPI_getvalue(row, desc, 2);
	msg.body_text = SPI_getvalue(row, desc, 3);
	msg.body_html = SPI_getvalue(row, desc, 4);
	msg.message_id = SPI_getvalue(row, desc, 5);
	msg.date = DatumGetTimestampTz(SPI_getbinval(row, desc, 6, &isnull));
	msg.unsubscribe_url = crm_unsubscribe_url;

	rendered = crm_mime_build(&msg, &len);
	MemoryContextSwitchTo(caller);
	result = cstring_to_text_with_len(rendered, (int) len);
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}
