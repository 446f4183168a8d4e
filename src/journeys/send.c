/*-------------------------------------------------------------------------
 * send.c
 *	  The marketing mail of journeys and campaigns: render the template,
 *	  track its links, queue it -- and who the machinery runs as.
 *
 * crm_marketing_send renders a template with crm_template_render
 * (src/mail/outbox_template.c), makes the message category marketing
 * whatever the template says (so consent, suppression of unsubscribed
 * addresses and the frequency cap apply), rewrites its links when the
 * tracking_url setting is set, and queues it with crm_outbox_enqueue under
 * the caller's idempotency key (journey:<enrollment>:<position>:<visit>,
 * campaign:<campaign>:<contact>): a key already queued answers with its
 * message, so a step run again never queues twice.
 *
 * Click tracking.  In the HTML part only (the text part keeps its links
 * readable), every href of an <a> or <area> tag that is an http(s) URL
 * becomes <tracking_url>?t=<token>, where the token (src/marketing/token.c,
 * purpose "click", valid a year) signs "<idempotency key> LF <contact id>
 * LF <url>".  crm.record_click (src/journeys/60_tracking.sql) checks it,
 * records an email_click event and returns the URL.  Nothing else in the
 * message changes, and opens are not tracked: no pixel is added.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"

#include "mail/outbox.h"
#include "marketing/token.h"
#include "journeys/journeys.h"

PG_FUNCTION_INFO_V1(crm_send_marketing);

/* Tracked links stay valid this long after the mail. */
#define CLICK_TOKEN_DAYS 365

static bool
starts_with_ci(const char *s, const char *prefix)
{
	return pg_strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* The URL an attribute value stands for: the HTML character references of URLs decoded. */
static char *
attribute_url(const char *value, int len)
{
	static const struct
	{
		const char *ref;
		char		c;
	}			refs[] = {{"&amp;", '&'}, {"&#38;", '&'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&apos;", '\''},
	{"&lt;", '<'}, {"&gt;", '>'}};
	StringInfoData url;

	initStringInfo(&url);
	for (int i = 0; i < len;)
	{
		bool		decoded = false;

		if (value[i] == '&')
			for (int k = 0; k < (int) lengthof(refs) && !decoded; k++)
			{
				int			n = (int) strlen(refs[k].ref);

				if (i + n <= len && pg_strncasecmp(value + i, refs[k].ref, n) == 0)
				{
					appendStringInfoChar(&url, refs[k].c);
					i += n;
					decoded = true;
				}
			}
		if (!decoded)
			appendStringInfoChar(&url, value[i++]);
	}
	return url.data;
}

/* The tracked link for url, or NULL when it cannot be tracked (too long to sign). */
static char *
tracked_link(const char *tracking_url, const char *key, int64 contact_id, const char *url)
{
	char	   *subject = psprintf("%s\n" INT64_FORMAT "\n%s", key, contact_id, url);
	TimestampTz expires = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  (int64) CLICK_TOKEN_DAYS * 24 * 3600 * 1000);

	if (strlen(subject) > 2000)
		return NULL;
	return psprintf("%s?t=%s", tracking_url, crm_sign_token("click", subject, expires));
}

/*
 * Copies one tag starting at html[0] == '<' into out, its href rewritten
 * when it is an <a> or <area> with an http(s) link; returns the bytes read.
 */
static int
rewrite_tag(const char *html, StringInfo out, const char *tracking_url, const char *key, int64 contact_id)
{
	const char *p = html + 1;
	int			name_len = 0;

	while (p[name_len] != '\0' && !isspace((unsigned char) p[name_len]) && p[name_len] != '>' && p[name_len] != '/')
		name_len++;
	if (!((name_len == 1 && pg_strncasecmp(p, "a", 1) == 0) ||
		  (name_len == 4 && pg_strncasecmp(p, "area", 4) == 0)))
	{
		appendStringInfoChar(out, '<');
		return 1;
	}
	p += name_len;
	appendBinaryStringInfo(out, html, (int) (p - html));
	for (;;)
	{
		const char *attr = p;
		const char *name;
		int			len = 0;
		const char *value = NULL;
		int			value_len = 0;
		char		quote = 0;

		while (isspace((unsigned char) *p))
			p++;
		if (*p == '\0' || *p == '>')
			break;
		name = p;
		while (*p != '\0' && !isspace((unsigned char) *p) && *p != '=' && *p != '>')
			p++;
		len = (int) (p - name);
		if (len == 0)
			p++;				/* a stray '/' or '=' */
		while (isspace((unsigned char) *p))
			p++;
		if (len > 0 && *p == '=')
		{
			p++;
			while (isspace((unsigned char) *p))
				p++;
			if (*p == '"' || *p == '\'')
			{
				quote = *p++;
				value = p;
				while (*p != '\0' && *p != quote)
					p++;
				value_len = (int) (p - value);
				if (*p == quote)
					p++;
			}
			else
			{
				value = p;
				while (*p != '\0' && !isspace((unsigned char) *p) && *p != '>')
					p++;
				value_len = (int) (p - value);
			}
		}
		if (value != NULL && len == 4 && pg_strncasecmp(name, "href", 4) == 0)
		{
			char	   *url = attribute_url(value, value_len);
			char	   *link = (starts_with_ci(url, "http://") || starts_with_ci(url, "https://"))
				? tracked_link(tracking_url, key, contact_id, url) : NULL;

			if (link != NULL)
			{
				appendBinaryStringInfo(out, attr, (int) (name - attr));
				appendStringInfo(out, "href=\"%s\"", link);
				continue;
			}
		}
		appendBinaryStringInfo(out, attr, (int) (p - attr));
	}
	return (int) (p - html);
}

static char *
track_links(const char *html, const char *tracking_url, const char *key, int64 contact_id)
{
	StringInfoData out;
	const char *p = html;

	initStringInfo(&out);
	while (*p != '\0')
	{
		const char *lt = strchr(p, '<');

		if (lt == NULL)
		{
			appendStringInfoString(&out, p);
			break;
		}
		appendBinaryStringInfo(&out, p, (int) (lt - p));
		p = lt + rewrite_tag(lt, &out, tracking_url, key, contact_id);
	}
	return out.data;
}

/*
 * crm_marketing_send: renders template_key with vars and queues it as
 * marketing mail to to_address (the address of contact_id) under
 * idempotency_key, links tracked when tracking_url is set.  Returns whether
 * it is queued (now or before, under the same key), with its id; false
 * when the address is suppressed or consent does not allow it.  The caller
 * runs as the extension's owner (the signing secret, the outbox).
 */
bool
crm_marketing_send(const char *template_key, const char *to_address, Jsonb *vars,
				   const char *idempotency_key, int64 contact_id, int64 *email_id)
{
	CrmOutboxRequest req;
	char	   *tracking_url = crm_setting_value("tracking_url");

	crm_template_render(template_key, vars, &req);
	req.category = CRM_MAIL_MARKETING;
	req.to_address = to_address;
	req.idempotency_key = idempotency_key;
	if (tracking_url != NULL && tracking_url[0] != '\0' && req.body_html != NULL)
		req.body_html = track_links(req.body_html, tracking_url, idempotency_key, contact_id);
	return crm_outbox_enqueue(&req, email_id);
}

/*
 * crm._send_marketing(template_key, to_address, contact_id, vars,
 * idempotency_key): crm_marketing_send for SQL (the campaign runner);
 * the outbox id, or NULL when not allowed.
 */
Datum
crm_send_marketing(PG_FUNCTION_ARGS)
{
	int64		id;

	if (!crm_marketing_send(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)),
							PG_GETARG_JSONB_P(3), text_to_cstring(PG_GETARG_TEXT_PP(4)), PG_GETARG_INT64(2), &id))
		PG_RETURN_NULL();
	PG_RETURN_INT64(id);
}

/*
 * crm_extension_owner: the role that owns the crm extension (read from
 * pg_extension on each call: only when an event or step needs it).
 */
Oid
crm_extension_owner(void)
{
	Oid			ext = get_extension_oid("crm", false);
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "extension crm has no catalog row");
	owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}
