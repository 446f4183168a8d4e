/*-------------------------------------------------------------------------
 * mime.c
 *	  Builds the RFC 5322/MIME message for one outbox row: what the worker
 *	  sends and what crm.render_message shows.
 *
 * The message is 7-bit clean, with CRLF line endings, and no line is longer
 * than 78 octets except To, Message-ID and List-Unsubscribe, which are single
 * tokens (at most 254, 300 and 990 octets, below RFC 5322's 998; see the
 * limits on crm.unsubscribe_url in outbox.c):
 *
 *	 Date, From, To, Subject, Message-ID, MIME-Version,
 *	 [List-Unsubscribe, List-Unsubscribe-Post]   when crm.unsubscribe_url is set
 *	 Content-Type: text/plain                   without HTML, or
 *	 Content-Type: multipart/alternative         text part, then HTML part
 *
 * Subject (and a non-ASCII display name in From) follow RFC 2047: a subject
 * that is printable ASCII, single-spaced, without "=?" and without words too
 * long to fold stays readable and is folded at spaces; any other subject is
 * written whole as "B" encoded-words of at most 42 UTF-8 bytes each (never
 * splitting a character), so every encoded-word is 68 characters and every
 * line at most 77.
 *
 * Bodies: line breaks (CRLF, LF or a lone CR) become CRLF, the canonical
 * form of text parts (RFC 2046 4.1.1).  Each part is quoted-printable or base64,
 * whichever is shorter: quoted-printable for mostly-ASCII text, base64 for
 * mostly-CJK text.  Both keep lines within 76 characters.  Quoted-printable
 * also encodes a "." or the "F" of "From " at the start of a line, so no
 * relay's dot-stuffing or mbox "From " quoting can alter the text, and ends
 * a body without a final line break with a soft break, so the decoded text
 * is exactly the original (up to line-break normalisation).
 *
 * The multipart boundary starts with "=_", a sequence that neither encoding
 * ever produces, so it cannot collide with content; 128 random bits make it
 * unique as well.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "common/base64.h"
#include "lib/stringinfo.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "mail/mime.h"

/* UTF-8 bytes in one encoded-word: 42 bytes are 56 base64 characters. */
#define ENCODED_WORD_BYTES 42
/* Longest word a readable ASCII subject may have (so folding keeps lines <= 78). */
#define PLAIN_WORD_MAX 60
/* Input bytes per base64 line: 57 bytes are 76 characters. */
#define BASE64_LINE_BYTES 57

static const char hexdigits[] = "0123456789ABCDEF";

/* Length of the UTF-8 sequence starting with byte c (1 for stray bytes). */
static int
utf8_sequence_length(unsigned char c)
{
	if (c >= 0xF0 && c <= 0xF7)
		return 4;
	if (c >= 0xE0)
		return c <= 0xEF ? 3 : 1;
	if (c >= 0xC0)
		return 2;
	return 1;
}

/* Length of the line break at s[i], or 0 when s[i] does not start one. */
static size_t
line_break_length(const char *s, size_t i, size_t n)
{
	if (s[i] == '\r')
		return (i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
	return s[i] == '\n' ? 1 : 0;
}

/*
 * Appends an address or Message-ID, dropping control characters: the
 * outbox's checks keep them out, and this keeps a header from ever being
 * split by whatever a row holds.
 */
static void
append_token(StringInfo buf, const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s >= 0x20 && *s != 0x7f)
			appendStringInfoChar(buf, *s);
}

/* "Date: Tue, 04 Mar 2025 10:00:00 +0000" in UTC (RFC 5322 3.3). */
static void
append_date(StringInfo buf, TimestampTz date)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(date) || timestamp2tm(date, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1900 || tm.tm_year > 9999)
	{
		/* not a real sending time: use the PostgreSQL epoch rather than fail */
		(void) timestamp2tm(0, NULL, &tm, &fsec, NULL, NULL);
	}
	appendStringInfo(buf, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
					 days[j2day(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday))],
					 tm.tm_mday, months[tm.tm_mon - 1], tm.tm_year,
					 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * Appends s as "B" encoded-words, the first on the current line and each
 * further one on a folded line.  Returns the length of the last line.
 */
static int
append_encoded_words(StringInfo buf, const char *s, int line)
{
	size_t		n = strlen(s);
	size_t		i = 0;

	while (i < n)
	{
		size_t		chunk = 0;
		char		encoded[64];
		int			elen;

		while (i + chunk < n)
		{
			size_t		clen = utf8_sequence_length((unsigned char) s[i + chunk]);

			if (clen > n - i - chunk)
				clen = n - i - chunk;
			if (chunk + clen > ENCODED_WORD_BYTES)
				break;
			chunk += clen;
		}
		elen = pg_b64_encode(s + i, (int) chunk, encoded, sizeof(encoded));
		if (i > 0)
		{
			appendStringInfoString(buf, "\r\n ");
			line = 1;
		}
		appendStringInfoString(buf, "=?UTF-8?B?");
		appendBinaryStringInfo(buf, encoded, elen);
		appendStringInfoString(buf, "?=");
		line += elen + 12;
		i += chunk;
	}
	return line;
}

/*
 * True when s can stand in a header as it is: printable ASCII, single
 * spaces between words, no leading or trailing space, nothing a decoder
 * could take for an encoded-word, and words short enough to fold.
 */
static bool
is_plain_header_text(const char *s)
{
	size_t		n = strlen(s);
	int			word = 0;
	const char *p;

	if (n == 0 || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (p = s; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c < 0x20 || c > 0x7E)
			return false;
		if (c == '=' && p[1] == '?')
			return false;
		if (c == ' ')
		{
			if (p[1] == ' ')
				return false;
			word = 0;
		}
		else if (++word > PLAIN_WORD_MAX)
			return false;
	}
	return true;
}

/* Appends plain header text folded at spaces.  Returns the last line's length. */
static int
append_folded_words(StringInfo buf, const char *s, int line)
{
	const char *p = s;

	while (*p)
	{
		const char *space = strchr(p, ' ');
		int			wlen = space ? (int) (space - p) : (int) strlen(p);

		if (p != s)
		{
			if (line + 1 + wlen > 78)
			{
				appendStringInfoString(buf, "\r\n ");
				line = 1;
			}
			else
			{
				appendStringInfoChar(buf, ' ');
				line++;
			}
		}
		appendBinaryStringInfo(buf, p, wlen);
		line += wlen;
		p += wlen;
		if (*p == ' ')
			p++;
	}
	return line;
}

static void
append_subject(StringInfo buf, const char *subject)
{
	appendStringInfoString(buf, "Subject: ");
	if (is_plain_header_text(subject))
		append_folded_words(buf, subject, 9);
	else
		append_encoded_words(buf, subject, 9);
	appendStringInfoString(buf, "\r\n");
}

/* True for RFC 5322 atext (a display name made of these and spaces needs no quotes). */
static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		(c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * From: address, or display name and address when crm.mail_from_name is
 * set.  The setting is read by name: outbox.c defines it with the other
 * enqueue settings, and this file depends on nothing else in src/mail.
 */
static void
append_from(StringInfo buf, const char *address)
{
	const char *name = GetConfigOption("crm.mail_from_name", true, false);
	int			line_start = buf->len;
	int			line = 6;
	const char *p;
	bool		atoms = true;

	appendStringInfoString(buf, "From: ");
	if (name == NULL || name[0] == '\0')
	{
		append_token(buf, address);
		appendStringInfoString(buf, "\r\n");
		return;
	}
	for (p = name; *p; p++)
		if (*p != ' ' && !is_atext((unsigned char) *p))
			atoms = false;
	if (atoms && is_plain_header_text(name))
		line = append_folded_words(buf, name, line);
	else if (is_plain_header_text(name))
	{
		/* printable ASCII with specials: a quoted-string */
		appendStringInfoChar(buf, '"');
		for (p = name; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(buf, '\\');
			appendStringInfoChar(buf, *p);
		}
		appendStringInfoChar(buf, '"');
		line = buf->len - line_start;
	}
	else
		line = append_encoded_words(buf, name, line);
	appendStringInfoString(buf, line + 3 + (int) strlen(address) > 78 ? "\r\n <" : " <");
	append_token(buf, address);
	appendStringInfoString(buf, ">\r\n");
}

/*
 * List-Unsubscribe (RFC 2369) with one-click unsubscription (RFC 8058).
 * "{{address}}" in the URL becomes the percent-encoded recipient; a URL
 * without it gets an "address" query parameter.
 */
static void
append_unsubscribe(StringInfo buf, const char *url, const char *to)
{
	StringInfoData u;
	const char *mark = strstr(url, "{{address}}");
	const char *p;

	initStringInfo(&u);
	if (mark != NULL)
		appendBinaryStringInfo(&u, url, (int) (mark - url));
	else
	{
		appendStringInfoString(&u, url);
		appendStringInfoString(&u, strchr(url, '?') ? "&address=" : "?address=");
	}
	for (p = to; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~')
			appendStringInfoChar(&u, c);
		else
			appendStringInfo(&u, "%%%c%c", hexdigits[c >> 4], hexdigits[c & 15]);
	}
	if (mark != NULL)
		appendStringInfoString(&u, mark + strlen("{{address}}"));

	/* one line, never folded after the colon: some parsers keep that space */
	appendStringInfo(buf, "List-Unsubscribe: <%s>\r\n", u.data);
	appendStringInfoString(buf, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
	pfree(u.data);
}

/*
 * Quoted-printable (RFC 2045 6.7) with CRLF hard line breaks and soft breaks
 * keeping every line within 76 characters.  The output always ends with
 * CRLF: a hard break when the text ends with a line break, a soft break
 * (which decodes to nothing) otherwise.
 */
static void
encode_quoted_printable(StringInfo out, const char *s, size_t n)
{
	size_t		i = 0;
	int			col = 0;

	while (i < n)
	{
		size_t		brlen = line_break_length(s, i, n);
		unsigned char c = (unsigned char) s[i];
		bool		ends_line;
		bool		encode;
		int			token;

		if (brlen > 0)
		{
			appendStringInfoString(out, "\r\n");
			col = 0;
			i += brlen;
			continue;
		}
		/* followed by a hard break, so this token may reach column 76 */
		ends_line = i + 1 < n && line_break_length(s, i + 1, n) > 0;
		encode = !((c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t');
		/* whitespace before a line break (or the end) would be stripped in transit */
		if ((c == ' ' || c == '\t') && (i + 1 == n || ends_line))
			encode = true;
		token = encode ? 3 : 1;
		if (col + token > (ends_line ? 76 : 75))
		{
			appendStringInfoString(out, "=\r\n");
			col = 0;
		}
		if (col == 0 && !encode &&
			(c == '.' || (c == 'F' && n - i >= 5 && memcmp(s + i, "From ", 5) == 0)))
		{
			encode = true;
			token = 3;
		}
		if (encode)
		{
			appendStringInfoChar(out, '=');
			appendStringInfoChar(out, hexdigits[c >> 4]);
			appendStringInfoChar(out, hexdigits[c & 15]);
		}
		else
			appendStringInfoChar(out, c);
		col += token;
		i++;
	}
	if (n > 0 && line_break_length(s, n - 1, n) == 0)
		appendStringInfoString(out, "=\r\n");
}

/* The text with every line break as CRLF (the canonical form of text parts). */
static void
canonical_line_breaks(StringInfo out, const char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		size_t		brlen = line_break_length(s, i, n);

		if (brlen > 0)
		{
			appendStringInfoString(out, "\r\n");
			i += brlen;
		}
		else
			appendStringInfoChar(out, s[i++]);
	}
}

/* Base64 in lines of 76 characters, each ended by CRLF. */
static void
encode_base64(StringInfo out, const char *s, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i += BASE64_LINE_BYTES)
	{
		char		line[80];
		size_t		chunk = Min(n - i, BASE64_LINE_BYTES);
		int			len = pg_b64_encode(s + i, (int) chunk, line, sizeof(line));

		appendBinaryStringInfo(out, line, len);
		appendStringInfoString(out, "\r\n");
	}
}

/* One text part: its Content-Type and Content-Transfer-Encoding, a blank line, the body. */
static void
append_text_part(StringInfo buf, const char *subtype, const char *text)
{
	size_t		n = strlen(text);
	StringInfoData qp;
	StringInfoData canonical;
	size_t		base64_len;

	initStringInfo(&qp);
	encode_quoted_printable(&qp, text, n);
	initStringInfo(&canonical);
	canonical_line_breaks(&canonical, text, n);
	base64_len = ((size_t) canonical.len + 2) / 3 * 4 +
		((size_t) canonical.len + BASE64_LINE_BYTES - 1) / BASE64_LINE_BYTES * 2;

	appendStringInfo(buf, "Content-Type: text/%s; charset=UTF-8\r\n", subtype);
	if ((size_t) qp.len <= base64_len)
	{
		appendStringInfoString(buf, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		appendBinaryStringInfo(buf, qp.data, qp.len);
	}
	else
	{
		appendStringInfoString(buf, "Content-Transfer-Encoding: base64\r\n\r\n");
		encode_base64(buf, canonical.data, canonical.len);
	}
	pfree(qp.data);
	pfree(canonical.data);
}

/* "=_crm_" and 32 hex digits; see the file comment for why it cannot collide. */
static void
make_boundary(char *boundary, const CrmMailMessage *msg)
{
	uint8		bytes[16];
	int			i;

	if (!pg_strong_random(bytes, sizeof(bytes)))
	{
		/* still collision-free thanks to "=_"; only uniqueness is weaker */
		uint64		seed = (uint64) msg->date;

		for (i = 0; i < 16; i++)
			bytes[i] = (uint8) (seed >> ((i % 8) * 8)) ^ (uint8) i;
	}
	strcpy(boundary, "=_crm_");
	for (i = 0; i < 16; i++)
	{
		boundary[6 + 2 * i] = hexdigits[bytes[i] >> 4];
		boundary[7 + 2 * i] = hexdigits[bytes[i] & 15];
	}
	boundary[38] = '\0';
}

char *
crm_mime_build(const CrmMailMessage *msg, size_t *len)
{
	StringInfoData buf;
	const char *from = msg->from ? msg->from : "";
	const char *to = msg->to ? msg->to : "";
	bool		multipart = msg->body_html != NULL;

	initStringInfo(&buf);
	append_date(&buf, msg->date);
	append_from(&buf, from);
	appendStringInfoString(&buf, "To: ");
	append_token(&buf, to);
	appendStringInfoString(&buf, "\r\n");
	append_subject(&buf, msg->subject ? msg->subject : "");
	if (msg->message_id != NULL && msg->message_id[0] != '\0')
	{
		appendStringInfoString(&buf, "Message-ID: ");
		append_token(&buf, msg->message_id);
		appendStringInfoString(&buf, "\r\n");
	}
	appendStringInfoString(&buf, "MIME-Version: 1.0\r\n");
	if (msg->unsubscribe_url != NULL && msg->unsubscribe_url[0] != '\0')
		append_unsubscribe(&buf, msg->unsubscribe_url, to);

	if (multipart)
	{
		char		boundary[40];

		make_boundary(boundary, msg);
		appendStringInfo(&buf, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n",
						 boundary);
		appendStringInfo(&buf, "--%s\r\n", boundary);
		append_text_part(&buf, "plain", msg->body_text ? msg->body_text : "");
		appendStringInfo(&buf, "\r\n--%s\r\n", boundary);
		append_text_part(&buf, "html", msg->body_html);
		appendStringInfo(&buf, "\r\n--%s--\r\n", boundary);
	}
	else
		append_text_part(&buf, "plain", msg->body_text ? msg->body_text : "");

	if (len != NULL)
		*len = (size_t) buf.len;
	return buf.data;
}
