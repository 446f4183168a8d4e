/*-------------------------------------------------------------------------
 * outbox_template.c
 *	  crm.send_template: renders a crm.email_template row with the caller's
 *	  variables and queues the result through the same path as
 *	  crm.send_email.
 *
 * Placeholder syntax: "{{", optional spaces, a name, optional spaces, "}}".
 * A name is made of letters (any UTF-8 letter), digits, "_", "-" and ".",
 * and is looked up as a top-level key of vars.  A JSON string is inserted
 * as its text, a number or boolean as written, null as nothing, an object
 * or array as its JSON text.  In the HTML part the value is HTML-escaped
 * (& < > " '); subject and text parts get it unchanged (send_email's checks
 * then refuse, for instance, a line break brought into the subject).
 *
 * Any "{{" that does not start such a placeholder is copied as it is and
 * scanning resumes at its second "{", so "{{{name}}}" gives "{value}" and
 * "{{ not a name }}" stays literal.  There is no escape syntax: to send a
 * literal "{{name}}", pass it in as a variable's value (values are never
 * scanned for placeholders).  Names are matched byte for byte, so rendering
 * is exact for any UTF-8 text.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "mail/outbox.h"

PG_FUNCTION_INFO_V1(crm_send_template);

/* The template being rendered, for error messages and the error context. */
typedef struct TemplateRendering
{
	const char *key;
	const char *part;			/* "subject", "text body" or "HTML body" */
} TemplateRendering;

static bool
is_name_byte(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

static void
append_html_escaped(StringInfo out, const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
	{
		switch (s[i])
		{
			case '&':
				appendStringInfoString(out, "&amp;");
				break;
			case '<':
				appendStringInfoString(out, "&lt;");
				break;
			case '>':
				appendStringInfoString(out, "&gt;");
				break;
			case '"':
				appendStringInfoString(out, "&quot;");
				break;
			case '\'':
				appendStringInfoString(out, "&#39;");
				break;
			default:
				appendStringInfoChar(out, s[i]);
		}
	}
}

/* The text a variable's JSON value stands for. */
static char *
value_text(JsonbValue *v, int *len)
{
	char	   *s;

	switch (v->type)
	{
		case jbvString:
			*len = v->val.string.len;
			return v->val.string.val;
		case jbvNull:
			*len = 0;
			return "";
		case jbvBool:
			s = v->val.boolean ? "true" : "false";
			break;
		case jbvNumeric:
			s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
			break;
		case jbvBinary:
			s = JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	*len = (int) strlen(s);
	return s;
}

/* Fills the placeholders of one part of the template (see the file comment). */
static char *
render_part(const char *tmpl, Jsonb *vars, bool html, const TemplateRendering *r)
{
	StringInfoData out;
	const char *p = tmpl;

	initStringInfo(&out);
	while (*p)
	{
		const char *open = strstr(p, "{{");
		const char *name;
		const char *q;
		int			name_len;
		JsonbValue	key;
		JsonbValue *value;
		char	   *text;
		int			text_len;

		if (open == NULL)
		{
			appendStringInfoString(&out, p);
			break;
		}
		appendBinaryStringInfo(&out, p, (int) (open - p));
		q = open + 2;
		while (*q == ' ')
			q++;
		name = q;
		while (is_name_byte((unsigned char) *q))
			q++;
		name_len = (int) (q - name);
		while (*q == ' ')
			q++;
		if (name_len == 0 || q[0] != '}' || q[1] != '}')
		{
			/* not a placeholder: keep the first "{" and look again from the second */
			appendStringInfoChar(&out, '{');
			p = open + 1;
			continue;
		}

		key.type = jbvString;
		key.val.string.val = (char *) name;
		key.val.string.len = name_len;
		value = findJsonbValueFromContainer(&vars->root, JB_FOBJECT, &key);
		if (value == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("email template \"%s\" needs variable \"%.*s\"", r->key, name_len, name),
					 errdetail("The %s of the template uses {{%.*s}}, and vars has no such key.",
							   r->part, name_len, name),
					 errhint("Add \"%.*s\" to vars; a JSON null inserts nothing.", name_len, name)));
		text = value_text(value, &text_len);
		if (html)
			append_html_escaped(&out, text, text_len);
		else
			appendBinaryStringInfo(&out, text, text_len);
		p = q + 2;
	}
	return out.data;
}

static void
template_error_context(void *arg)
{
	const TemplateRendering *r = arg;

	errcontext("email template \"%s\"", r->key);
}

/*
 * crm.send_template(template_key, to_address, vars) renders the template and
 * queues it; like crm.send_email it returns the outbox id, or NULL for a
 * suppressed address.
 */
Datum
crm_send_template(PG_FUNCTION_ARGS)
{
	TemplateRendering r;
	ErrorContextCallback context;
	Jsonb	   *vars;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	static SPIPlanPtr plan_template = NULL;
	HeapTuple	row;
	TupleDesc	desc;
	MemoryContext caller = CurrentMemoryContext;
	char	   *subject;
	char	   *body_text;
	char	   *body_html;
	CrmOutboxRequest req;
	int64		id;
	bool		queued;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be null", PG_ARGISNULL(0) ? "template_key" : "to_address"),
				 errhint("Only vars may be null (meaning no variables).")));
	r.key = text_to_cstring(PG_GETARG_TEXT_PP(0));
	vars = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	if (vars == NULL)
		vars = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	if (!JB_ROOT_IS_OBJECT(vars))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vars must be a JSON object"),
				 errdetail("Template variables are looked up by name, as keys of one object."),
				 errhint("Pass something like '{\"name\": \"王芳\"}'::jsonb.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan_template == NULL)
	{
		plan_template = SPI_prepare("SELECT subject, body_text, body_html FROM crm.email_template "
									"WHERE key OPERATOR(pg_catalog.=) $1", 1, argtypes);
		if (plan_template == NULL || SPI_keepplan(plan_template) != 0)
			elog(ERROR, "could not prepare the email template query");
	}
	values[0] = CStringGetTextDatum(r.key);
	if (SPI_execute_plan(plan_template, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("email template \"%s\" does not exist", r.key),
				 errhint("The templates are the rows of crm.email_template.")));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	/* copy out: the enqueue below runs its own SPI statements */
	MemoryContextSwitchTo(caller);
	subject = SPI_getvalue(row, desc, 1);
	body_text = SPI_getvalue(row, desc, 2);
	body_html = SPI_getvalue(row, desc, 3);
	SPI_finish();

	context.callback = template_error_context;
	context.arg = &r;
	context.previous = error_context_stack;
	error_context_stack = &context;

	req.to_address = text_to_cstring(PG_GETARG_TEXT_PP(1));
	r.part = "subject";
	req.subject = render_part(subject, vars, false, &r);
	r.part = "text body";
	req.body_text = render_part(body_text, vars, false, &r);
	r.part = "HTML body";
	req.body_html = body_html ? render_part(body_html, vars, true, &r) : NULL;
	req.idempotency_key = NULL;
	req.template_key = r.key;
	queued = crm_outbox_enqueue(&req, &id);

	error_context_stack = context.previous;
	if (!queued)
		PG_RETURN_NULL();
	PG_RETURN_INT64(id);
}
