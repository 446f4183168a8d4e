/*-------------------------------------------------------------------------
 * token.c
 *	  Signed tokens for the links crm sends (double opt-in confirmation,
 *	  click tracking), and the secret they are signed with.
 *
 * A token is three dot-separated fields, all URL-safe:
 *
 *	 base64url(subject) "." expiry (Unix seconds) "." base64url(mac)
 *
 * where mac = HMAC-SHA256(secret, purpose NUL subject NUL expiry).  The
 * purpose ("opt_in", "click") is not in the token but is part of what is
 * signed, so a token made for one purpose is worthless for another.  The
 * MAC is checked (in constant time) before the expiry, so a forged token is
 * reported as invalid whatever expiry it claims.
 *
 * The secret is 32 bytes from pg_strong_random, made at CREATE EXTENSION
 * (crm._new_signing_secret) and kept in crm.signing_secret, a table no role
 * but the extension's owner may read; the SQL functions here are SECURITY
 * DEFINER for that reason and are not granted to anyone.  The secret is
 * read on each call (no cache), so a restored or rotated secret takes effect
 * at once.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "spi_util.h"
#include "marketing/token.h"

PG_FUNCTION_INFO_V1(crm_new_signing_secret);
PG_FUNCTION_INFO_V1(crm_sign_token_sql);
PG_FUNCTION_INFO_V1(crm_verify_token_sql);

#define SECRET_BYTES 32
#define MAC_BYTES 32
/* Longest subject a token carries (bytes). */
#define SUBJECT_MAX 2048

static CrmSpiQuery secret_query = {"SELECT secret FROM crm.signing_secret ORDER BY id LIMIT 1", 0, NULL};

/* The current secret (the oldest row of crm.signing_secret), into secret. */
static void
read_secret(uint8 *secret)
{
	bool		isnull;
	bytea	   *value;

	crm_spi_connect();
	if (crm_spi_execute(&secret_query, NULL, NULL, true, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crm has no signing secret"),
				 errdetail("The table crm.signing_secret is empty."),
				 errhint("As the extension's owner, run: INSERT INTO crm.signing_secret (secret) VALUES (crm._new_signing_secret());")));
	value = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || VARSIZE_ANY_EXHDR(value) != SECRET_BYTES)
		elog(ERROR, "crm.signing_secret holds a secret of the wrong size");
	memcpy(secret, VARDATA_ANY(value), SECRET_BYTES);
	SPI_finish();
}

static void
compute_mac(const char *purpose, const char *subject, int subject_len, int64 expiry, uint8 *mac)
{
	uint8		secret[SECRET_BYTES];
	char		expiry_text[32];
	pg_hmac_ctx *ctx;
	const uint8 nul = 0;

	read_secret(secret);
	snprintf(expiry_text, sizeof(expiry_text), INT64_FORMAT, expiry);
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL ||
		pg_hmac_init(ctx, secret, SECRET_BYTES) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) purpose, strlen(purpose)) < 0 ||
		pg_hmac_update(ctx, &nul, 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) subject, subject_len) < 0 ||
		pg_hmac_update(ctx, &nul, 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) expiry_text, strlen(expiry_text)) < 0 ||
		pg_hmac_final(ctx, mac, MAC_BYTES) < 0)
		elog(ERROR, "could not compute HMAC-SHA256: %s", ctx ? pg_hmac_error(ctx) : "out of memory");
	pg_hmac_free(ctx);
	explicit_bzero(secret, sizeof(secret));
}

/* base64url without padding. */
static char *
b64url_encode(const char *data, int len)
{
	int			cap = pg_b64_enc_len(len) + 1;
	char	   *out = palloc(cap);
	int			n = pg_b64_encode(data, len, out, cap);
	int			i;

	if (n < 0)
		elog(ERROR, "could not encode base64");
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return out;
}

/* Decodes base64url (without padding); -1 when malformed. */
static int
b64url_decode(const char *text, int len, char **out)
{
	int			padded = len + (4 - len % 4) % 4;
	char	   *std = palloc(padded + 1);
	int			cap;
	int			i;

	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++)
	{
		char		c = text[i];

		if (c == '+' || c == '/' || c == '=')
			return -1;
		std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	for (; i < padded; i++)
		std[i] = '=';
	cap = pg_b64_dec_len(padded) + 1;
	*out = palloc(cap);
	return pg_b64_decode(std, padded, *out, cap);
}

static void
invalid_token(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid token"),
			 errdetail("%s", detail),
			 errhint("Use the link exactly as it was sent.")));
}

char *
crm_sign_token(const char *purpose, const char *subject, TimestampTz expires_at)
{
	uint8		mac[MAC_BYTES];
	int64		expiry = (int64) timestamptz_to_time_t(expires_at);
	int			subject_len = (int) strlen(subject);

	if (subject_len > SUBJECT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("token subject is longer than %d bytes", SUBJECT_MAX)));
	compute_mac(purpose, subject, subject_len, expiry, mac);
	return psprintf("%s." INT64_FORMAT ".%s", b64url_encode(subject, subject_len), expiry,
					b64url_encode((const char *) mac, MAC_BYTES));
}

char *
crm_verify_token(const char *purpose, const char *token)
{
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	char	   *subject;
	int			subject_len;
	char	   *given_mac;
	int			given_len;
	uint8		mac[MAC_BYTES];
	int64		expiry = 0;
	const char *p;
	int			diff = 0;
	int			i;

	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL ||
		dot2 == dot1 + 1 || dot2 - dot1 > 20)
		invalid_token("A token has three fields separated by dots.");
	for (p = dot1 + 1; p < dot2; p++)
	{
		if (*p < '0' || *p > '9')
			invalid_token("The token's expiry is not a number.");
		expiry = expiry * 10 + (*p - '0');
	}
	subject_len = b64url_decode(token, (int) (dot1 - token), &subject);
	given_len = b64url_decode(dot2 + 1, (int) strlen(dot2 + 1), &given_mac);
	if (subject_len < 0 || subject_len > SUBJECT_MAX || given_len != MAC_BYTES)
		invalid_token("The token is not in the form crm writes.");
	/* only the one encoding crm writes: no second spelling of the same bytes */
	if (strcmp(b64url_encode(given_mac, MAC_BYTES), dot2 + 1) != 0 ||
		strncmp(b64url_encode(subject, subject_len), token, dot1 - token) != 0)
		invalid_token("The token is not in the form crm writes.");
	subject[subject_len] = '\0';
	if ((int) strlen(subject) != subject_len)
		invalid_token("The token is not in the form crm writes.");

	compute_mac(purpose, subject, subject_len, expiry, mac);
	for (i = 0; i < MAC_BYTES; i++)
		diff |= mac[i] ^ (uint8) given_mac[i];
	if (diff != 0)
		invalid_token("Its signature does not match: it was altered, forged, or made for another purpose.");
	if (expiry < (int64) timestamptz_to_time_t(GetCurrentTimestamp()))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token expired"),
				 errdetail("It was valid until %s.",
						   timestamptz_to_str(time_t_to_timestamptz((pg_time_t) expiry))),
				 errhint("Ask for a new link.")));
	return subject;
}

/* crm._new_signing_secret(): 32 bytes from the operating system's strong random source. */
Datum
crm_new_signing_secret(PG_FUNCTION_ARGS)
{
	bytea	   *result = palloc(VARHDRSZ + SECRET_BYTES);

	SET_VARSIZE(result, VARHDRSZ + SECRET_BYTES);
	if (!pg_strong_random(VARDATA(result), SECRET_BYTES))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random secret")));
	PG_RETURN_BYTEA_P(result);
}

/* crm.sign_token(purpose, subject, expires_at) */
Datum
crm_sign_token_sql(PG_FUNCTION_ARGS)
{
	char	   *token = crm_sign_token(text_to_cstring(PG_GETARG_TEXT_PP(0)),
									   text_to_cstring(PG_GETARG_TEXT_PP(1)),
									   PG_GETARG_TIMESTAMPTZ(2));

	PG_RETURN_TEXT_P(cstring_to_text(token));
}

/* crm.verify_token(purpose, token) */
Datum
crm_verify_token_sql(PG_FUNCTION_ARGS)
{
	char	   *subject = crm_verify_token(text_to_cstring(PG_GETARG_TEXT_PP(0)),
										   text_to_cstring(PG_GETARG_TEXT_PP(1)));

	PG_RETURN_TEXT_P(cstring_to_text(subject));
}
