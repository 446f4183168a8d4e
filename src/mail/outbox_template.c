/*-------------------------------------------------------------------------
 * outbox_template.c
 *	  crm.send_template and crm.render_template: render a crm.email_template
 *	  row with the caller's variables (Mustache) and, for send_template,
 *	  queue the result through the same path as crm.send_email, in the
 *	  template's category.
 *
 * The template language is the logic-less core of Mustache, over a jsonb
 * object of variables:
 *
 *	 {{name}}          the value, HTML-escaped (& < > " ') in the HTML part;
 *	                   subject and text parts get it unchanged
 *	 {{{name}}}, {{&name}}   the value, never escaped
 *	 {{#name}}..{{/name}}    a section: shown once per element of a non-empty
 *	                   array (with the element as the innermost context), once
 *	                   with the value as context when it is any other truthy
 *	                   value, not at all when it is missing, null, false, ""
 *	                   or []
 *	 {{^name}}..{{/name}}    an inverted section: shown only in those last cases
 *	 {{! comment }}    nothing
 *
 * A name is made of letters (any UTF-8 letter), digits, "_", "-" and ".";
 * "." alone is the innermost context (an element of a list of strings).  A
 * dotted name a.b.c finds "a" in the innermost context that has it, then
 * looks b and c up inside it; a part written in digits picks an element of
 * a list (courses.0.name).  A JSON string is inserted as its text, a
 * number or boolean as written, null as nothing, an object or array as its
 * JSON text.  A plain {{name}} whose name is missing is an error (a typo must
 * not send a blank), while a section on a missing name is simply false.  A
 * section tag, inverted tag, closing tag or comment standing alone on its
 * line takes the whole line with it, so text bodies can list one item per
 * line.
 *
 * Any "{{" that does not start a valid tag is copied as it is and scanning
 * resumes at its second "{", so "{{ not a name }}" stays literal.  Unclosed
 * or mismatched sections, partials ({{>..}}) and delimiter changes
 * ({{=..=}}) are errors.  Values are never scanned for tags, and names are
 * matched byte for byte, so rendering is exact for any UTF-8 text.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "executor/spi.h"
#include "access/htup_details.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "spi_util.h"
#include "mail/outbox.h"

PG_FUNCTION_INFO_V1(crm_send_template);
PG_FUNCTION_INFO_V1(crm_render_template);

/* The template being rendered, for error messages and the error context. */
typedef struct TemplateRendering
{
	const char *key;
	const char *part;			/* "subject", "text body" or "HTML body" */
	bool		html;			/* escape {{name}} values */
	StringInfo	out;
} TemplateRendering;

typedef enum TagKind
{
	TAG_NONE,					/* not a tag: literal text */
	TAG_VARIABLE,				/* {{name}} */
	TAG_RAW,					/* {{{name}}} or {{&name}} */
	TAG_SECTION,				/* {{#name}} */
	TAG_INVERTED,				/* {{^name}} */
	TAG_CLOSE,					/* {{/name}} */
	TAG_COMMENT,				/* {{! ...}} */
	TAG_UNSUPPORTED				/* {{>name}}, {{=..=}} */
} TagKind;

/* One tag found at some "{{" of the template. */
typedef struct Tag
{
	TagKind		kind;
	const char *name;
	int			name_len;
	const char *start;			/* the "{{" */
	const char *end;			/* just past the closing braces */
	const char *line_start;		/* when standalone: the text it removes */
	const char *line_end;
} Tag;

/* The stack of contexts names are looked up in; [0] is vars itself. */
#define MAX_SECTION_DEPTH 64
typedef struct ContextStack
{
	JsonbValue *frames[MAX_SECTION_DEPTH + 1];
	int			depth;
} ContextStack;

static const char *render_range(const char *p, const char *template_start, const char *closing,
								int closing_len, ContextStack *ctx, bool emit,
								TemplateRendering *r);

static bool
is_name_byte(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/*
 * Reads the tag at open ("{{"); kind TAG_NONE when it is not one.  Standalone
 * section, closing and comment tags get line_start/line_end set to the span
 * of their whole line (newline included).
 */
static Tag
read_tag(const char *template_start, const char *open)
{
	Tag			tag;
	const char *q = open + 2;
	bool		triple = false;

	memset(&tag, 0, sizeof(tag));
	tag.start = open;
	switch (*q)
	{
		case '{':
			triple = true;
			tag.kind = TAG_RAW;
			q++;
			break;
		case '&':
			tag.kind = TAG_RAW;
			q++;
			break;
		case '#':
			tag.kind = TAG_SECTION;
			q++;
			break;
		case '^':
			tag.kind = TAG_INVERTED;
			q++;
			break;
		case '/':
			tag.kind = TAG_CLOSE;
			q++;
			break;
		case '!':
			{
				const char *close = strstr(q, "}}");

				if (close == NULL)
					return tag;
				tag.kind = TAG_COMMENT;
				tag.end = close + 2;
				goto standalone;
			}
		case '>':
		case '=':
			tag.kind = TAG_UNSUPPORTED;
			tag.end = q + 1;
			return tag;
		default:
			tag.kind = TAG_VARIABLE;
	}
	while (*q == ' ')
		q++;
	tag.name = q;
	while (is_name_byte((unsigned char) *q))
		q++;
	tag.name_len = (int) (q - tag.name);
	while (*q == ' ')
		q++;
	if (tag.name_len == 0 || q[0] != '}' || q[1] != '}' || (triple && q[2] != '}'))
	{
		tag.kind = TAG_NONE;
		return tag;
	}
	tag.end = q + (triple ? 3 : 2);
	if (tag.kind == TAG_VARIABLE || tag.kind == TAG_RAW)
		return tag;

standalone:
	{
		const char *b = open;
		const char *e = tag.end;

		while (b > template_start && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (b != template_start && b[-1] != '\n')
			return tag;
		while (*e == ' ' || *e == '\t')
			e++;
		if (*e == '\r' && e[1] == '\n')
			e += 2;
		else if (*e == '\n')
			e++;
		else if (*e != '\0')
			return tag;
		tag.line_start = b;
		tag.line_end = e;
	}
	return tag;
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

/*
 * The member key of the object v, or the element of the array v at the
 * position key spells in digits; NULL when there is none.
 */
static JsonbValue *
object_member(JsonbValue *v, const char *key, int key_len)
{
	JsonbValue	k;

	if (v->type != jbvBinary)
		return NULL;
	if (JsonContainerIsArray(v->val.binary.data))
	{
		uint32		index = 0;
		int			i;

		if (key_len > 9)
			return NULL;
		for (i = 0; i < key_len; i++)
		{
			if (key[i] < '0' || key[i] > '9')
				return NULL;
			index = index * 10 + (key[i] - '0');
		}
		return getIthJsonbValueFromContainer(v->val.binary.data, index);
	}
	if (!JsonContainerIsObject(v->val.binary.data))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = key_len;
	return findJsonbValueFromContainer(v->val.binary.data, JB_FOBJECT, &k);
}

/* Looks a (possibly dotted) name up in the context stack; NULL when missing. */
static JsonbValue *
lookup(ContextStack *ctx, const char *name, int len)
{
	const char *dot;
	int			first_len;
	int			i;
	JsonbValue *v = NULL;

	if (len == 1 && name[0] == '.')
		return ctx->frames[ctx->depth];
	dot = memchr(name, '.', len);
	first_len = dot ? (int) (dot - name) : len;
	if (first_len == 0)
		return NULL;
	for (i = ctx->depth; i >= 0 && v == NULL; i--)
		v = object_member(ctx->frames[i], name, first_len);
	while (v != NULL && dot != NULL)
	{
		const char *part = dot + 1;
		int			rest = len - (int) (part - name);
		const char *next = memchr(part, '.', rest);
		int			part_len = next ? (int) (next - part) : rest;

		if (part_len == 0)
			return NULL;
		v = object_member(v, part, part_len);
		dot = next;
	}
	return v;
}

/* Mustache truthiness: missing, null, false, "" and [] are false. */
static bool
is_truthy(JsonbValue *v)
{
	if (v == NULL)
		return false;
	switch (v->type)
	{
		case jbvNull:
			return false;
		case jbvBool:
			return v->val.boolean;
		case jbvString:
			return v->val.string.len > 0;
		case jbvBinary:
			return !(JsonContainerIsArray(v->val.binary.data) &&
					 JsonContainerSize(v->val.binary.data) == 0);
		default:
			return true;
	}
}

static void
check_output_size(TemplateRendering *r)
{
	if (r->out->len > crm_max_message_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("email template \"%s\" renders to more than %d bytes", r->key, crm_max_message_size),
				 errdetail("The limit is crm.max_message_size; sections repeat once per element of their list."),
				 errhint("Pass shorter lists in vars.")));
}

static void
render_section(const Tag *tag, const char *body, const char *template_start, ContextStack *ctx,
			   bool emit, TemplateRendering *r, const char **after)
{
	JsonbValue *value = emit ? lookup(ctx, tag->name, tag->name_len) : NULL;
	bool		truthy = is_truthy(value);
	bool		inverted = tag->kind == TAG_INVERTED;

	if (ctx->depth >= MAX_SECTION_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("email template \"%s\" nests sections more than %d deep", r->key, MAX_SECTION_DEPTH)));
	check_stack_depth();

	if (!emit || inverted || !truthy)
	{
		*after = render_range(body, template_start, tag->name, tag->name_len, ctx,
							  emit && inverted && !truthy, r);
		return;
	}
	if (value->type == jbvBinary && JsonContainerIsArray(value->val.binary.data))
	{
		uint32		n = JsonContainerSize(value->val.binary.data);
		uint32		i;

		for (i = 0; i < n; i++)
		{
			ctx->frames[++ctx->depth] = getIthJsonbValueFromContainer(value->val.binary.data, i);
			*after = render_range(body, template_start, tag->name, tag->name_len, ctx, true, r);
			ctx->depth--;
			check_output_size(r);
		}
		return;
	}
	ctx->frames[++ctx->depth] = value;
	*after = render_range(body, template_start, tag->name, tag->name_len, ctx, true, r);
	ctx->depth--;
}

/*
 * Renders from p until the closing tag {{/closing}} (or the end of the
 * template when closing is NULL), appending to r->out when emit; returns
 * the position just after the closing tag.  template_start is where the
 * whole template begins (for standalone tags on its first line).
 */
static const char *
render_range(const char *p, const char *template_start, const char *closing, int closing_len,
			 ContextStack *ctx, bool emit, TemplateRendering *r)
{
	for (;;)
	{
		const char *open = strstr(p, "{{");
		Tag			tag;
		const char *text_end;

		if (open == NULL)
		{
			if (closing != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("email template \"%s\" has an unclosed section \"%.*s\"",
								r->key, closing_len, closing),
						 errdetail("The %s opens {{#%.*s}} or {{^%.*s}} and never closes it.",
								   r->part, closing_len, closing, closing_len, closing),
						 errhint("Add {{/%.*s}} where the section ends.", closing_len, closing)));
			if (emit)
				appendStringInfoString(r->out, p);
			return p + strlen(p);
		}
		tag = read_tag(template_start, open);
		if (tag.kind == TAG_NONE)
		{
			/* not a tag: keep the first "{" and look again from the second */
			if (emit)
				appendBinaryStringInfo(r->out, p, (int) (open + 1 - p));
			p = open + 1;
			continue;
		}
		if (tag.kind == TAG_UNSUPPORTED)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("email template \"%s\" uses an unsupported tag \"%.*s\"",
							r->key, (int) (tag.end - tag.start), tag.start),
					 errdetail("Partials ({{>name}}) and delimiter changes ({{=...=}}) are not supported."),
					 errhint("Write the text into the template itself.")));

		text_end = tag.line_start ? tag.line_start : open;
		if (emit)
			appendBinaryStringInfo(r->out, p, (int) (text_end - p));
		p = tag.line_end ? tag.line_end : tag.end;

		switch (tag.kind)
		{
			case TAG_CLOSE:
				if (closing == NULL || tag.name_len != closing_len ||
					memcmp(tag.name, closing, closing_len) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("email template \"%s\" closes section \"%.*s\" that is not open",
									r->key, tag.name_len, tag.name),
							 errdetail("In the %s, {{/%.*s}} comes where %s.", r->part, tag.name_len, tag.name,
									   closing ? psprintf("{{/%.*s}} was expected", closing_len, closing)
									   : "no section is open"),
							 errhint("Close sections in the reverse order they were opened.")));
				return p;
			case TAG_SECTION:
			case TAG_INVERTED:
				render_section(&tag, p, template_start, ctx, emit, r, &p);
				break;
			case TAG_VARIABLE:
			case TAG_RAW:
				if (emit)
				{
					JsonbValue *value = lookup(ctx, tag.name, tag.name_len);
					char	   *text;
					int			text_len;

					if (value == NULL)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("email template \"%s\" needs variable \"%.*s\"",
										r->key, tag.name_len, tag.name),
								 errdetail("The %s of the template uses {{%.*s}}, and vars has no such key.",
										   r->part, tag.name_len, tag.name),
								 errhint("Add \"%.*s\" to vars; a JSON null inserts nothing.",
										 tag.name_len, tag.name)));
					text = value_text(value, &text_len);
					if (r->html && tag.kind == TAG_VARIABLE)
						append_html_escaped(r->out, text, text_len);
					else
						appendBinaryStringInfo(r->out, text, text_len);
				}
				break;
			default:
				break;			/* a comment */
		}
		if (emit)
			check_output_size(r);
	}
}

/* Renders one part of the template (see the file comment). */
static char *
render_part(const char *tmpl, Jsonb *vars, bool html, const char *part, TemplateRendering *r)
{
	StringInfoData out;
	ContextStack ctx;
	JsonbValue	root;

	initStringInfo(&out);
	root.type = jbvBinary;
	root.val.binary.data = &vars->root;
	root.val.binary.len = VARSIZE(vars) - VARHDRSZ;
	ctx.frames[0] = &root;
	ctx.depth = 0;
	r->part = part;
	r->html = html;
	r->out = &out;
	render_range(tmpl, tmpl, NULL, 0, &ctx, true, r);
	return out.data;
}

static void
template_error_context(void *arg)
{
	const TemplateRendering *r = arg;

	errcontext("email template \"%s\"", r->key);
}

/* A template row, copied into the caller's memory. */
typedef struct TemplateRow
{
	char	   *subject;
	char	   *body_text;
	char	   *body_html;		/* NULL: none */
	char	   *category;
} TemplateRow;

/* $1 a template key */
static const Oid template_types[1] = {TEXTOID};
static CrmSpiQuery template_query = {
	"SELECT subject, body_text, body_html, category FROM crm.email_template WHERE key OPERATOR(pg_catalog.=) $1",
	1, template_types};

static void
fetch_template(const char *key, TemplateRow *row)
{
	Datum		values[1] = {CStringGetTextDatum(key)};
	MemoryContext caller = CurrentMemoryContext;
	HeapTuple	tuple;
	TupleDesc	desc;

	crm_spi_connect();
	if (crm_spi_execute(&template_query, values, NULL, true, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("email template \"%s\" does not exist", key),
				 errhint("The templates are the rows of crm.email_template.")));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	/* copied out: the enqueue that follows runs its own SPI statements */
	row->subject = crm_spi_text(tuple, desc, 1, caller);
	row->body_text = crm_spi_text(tuple, desc, 2, caller);
	row->body_html = crm_spi_text(tuple, desc, 3, caller);
	row->category = crm_spi_text(tuple, desc, 4, caller);
	SPI_finish();
}

static void
check_vars(Jsonb *vars)
{
	if (!JB_ROOT_IS_OBJECT(vars))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vars must be a JSON object"),
				 errdetail("Template variables are looked up by name, as keys of one object."),
				 errhint("Pass something like '{\"name\": \"王芳\"}'::jsonb.")));
}

static Jsonb *
vars_or_empty(FunctionCallInfo fcinfo, int argno)
{
	Jsonb	   *vars;

	if (PG_ARGISNULL(argno))
		return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	vars = PG_GETARG_JSONB_P(argno);
	check_vars(vars);
	return vars;
}

/*
 * Renders the three parts of template key into req (subject, bodies, key,
 * category); errors from here on say which template (r's error context,
 * which the caller pops).
 */
static void
render_template(const char *key, Jsonb *vars, CrmOutboxRequest *req, TemplateRendering *r,
				ErrorContextCallback *context)
{
	TemplateRow row;

	memset(r, 0, sizeof(*r));
	r->key = key;
	fetch_template(key, &row);

	context->callback = template_error_context;
	context->arg = r;
	context->previous = error_context_stack;
	error_context_stack = context;

	req->subject = render_part(row.subject, vars, false, "subject", r);
	req->body_text = render_part(row.body_text, vars, false, "text body", r);
	req->body_html = row.body_html ? render_part(row.body_html, vars, true, "HTML body", r) : NULL;
	req->template_key = key;
	req->category = row.category;
}

void
crm_template_render(const char *template_key, Jsonb *vars, CrmOutboxRequest *req)
{
	TemplateRendering r;
	ErrorContextCallback context;

	check_vars(vars);
	memset(req, 0, sizeof(*req));
	render_template(template_key, vars, req, &r, &context);
	error_context_stack = context.previous;
}

bool
crm_template_enqueue(const char *template_key, const char *to_address, Jsonb *vars,
					 const char *idempotency_key, int64 *id)
{
	CrmOutboxRequest req;
	TemplateRendering r;
	ErrorContextCallback context;
	bool		queued;

	check_vars(vars);
	memset(&req, 0, sizeof(req));
	render_template(template_key, vars, &req, &r, &context);
	req.to_address = to_address;
	req.idempotency_key = idempotency_key;
	queued = crm_outbox_enqueue(&req, id);
	error_context_stack = context.previous;
	return queued;
}

/*
 * crm.send_template(template_key, to_address, vars, idempotency_key) renders
 * the template and queues it; like crm.send_email it returns the outbox id,
 * or NULL when the address may not receive it.
 */
Datum
crm_send_template(PG_FUNCTION_ARGS)
{
	int64		id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be null", PG_ARGISNULL(0) ? "template_key" : "to_address"),
				 errhint("Only vars and idempotency_key may be null.")));
	if (!crm_template_enqueue(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							  text_to_cstring(PG_GETARG_TEXT_PP(1)),
							  vars_or_empty(fcinfo, 2),
							  (PG_NARGS() > 3 && !PG_ARGISNULL(3)) ? text_to_cstring(PG_GETARG_TEXT_PP(3)) : NULL,
							  &id))
		PG_RETURN_NULL();
	PG_RETURN_INT64(id);
}

/*
 * crm.render_template(template_key, vars) returns (subject, body_text,
 * body_html, category) as crm.send_template would queue them: a preview.
 */
#define RENDERED_COLUMNS 4

Datum
crm_render_template(PG_FUNCTION_ARGS)
{
	CrmOutboxRequest req;
	TemplateRendering r;
	ErrorContextCallback context;
	TupleDesc	desc;
	Datum		values[RENDERED_COLUMNS];
	bool		nulls[RENDERED_COLUMNS] = {false};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("template_key cannot be null")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE ||
		desc->natts != RENDERED_COLUMNS)
		elog(ERROR, "return type must be a row type of %d columns", RENDERED_COLUMNS);
	memset(&req, 0, sizeof(req));
	render_template(text_to_cstring(PG_GETARG_TEXT_PP(0)), vars_or_empty(fcinfo, 1), &req, &r, &context);
	error_context_stack = context.previous;
	values[0] = CStringGetTextDatum(req.subject);
	values[1] = CStringGetTextDatum(req.body_text);
	if (req.body_html != NULL)
		values[2] = CStringGetTextDatum(req.body_html);
	else
		nulls[2] = true;
	values[3] = CStringGetTextDatum(req.category);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
