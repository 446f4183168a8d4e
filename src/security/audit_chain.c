/*-------------------------------------------------------------------------
 * audit_chain.c
 *	  The SHA-256 hash chain that seals crm.audit_log: the digest of one log
 *	  row, the digest of one logged value, and the chain's step.
 *
 * A sealed row's hash is SHA-256(previous row's hash || the row's digest),
 * the first row's "previous hash" being empty, in id order
 * (crm.seal_audit and crm.verify_audit in 30_audit.sql fold the rows with
 * the aggregate crm.audit_chain over crm.audit_row_digest).
 *
 * The row digest is SHA-256 of an unambiguous byte string: a version tag,
 * then id, at, actor, table_name, row_id, action and txid (integers as
 * 8 bytes big-endian, texts length-prefixed, a missing row_id flagged),
 * then for each key of changed, in jsonb's own key order, the key and the
 * digest of its value -- or, in an update, of the old and new values under
 * it, each with its key.  A value's digest is SHA-256 of its jsonb text
 * (what changed -> 'column' prints), except for an erased value: an object
 * {"crm_erased_sha256": "<64 hex digits>"}, whose digest is those digits.
 * So erasing a value (crm.erase_person) replaces it by that object without
 * touching the chain, while changing, removing or inserting a row breaks it.
 * Jsonb prints a value the same way after a dump and restore, and
 * timestamps are hashed as their microseconds, so a restored log verifies.
 *-------------------------------------------------------------------------
 */
#include "audit.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(crm_audit_row_digest);
PG_FUNCTION_INFO_V1(crm_audit_value_digest);
PG_FUNCTION_INFO_V1(crm_audit_chain_step);

#define DIGEST_LEN PG_SHA256_DIGEST_LENGTH
#define ROW_DIGEST_VERSION "crm.audit_log row v1"

static pg_cryptohash_ctx *
sha256_begin(void)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialize a SHA-256 context");
	return ctx;
}

static void
sha256_add(pg_cryptohash_ctx *ctx, const void *data, size_t len)
{
	if (pg_cryptohash_update(ctx, data, len) < 0)
		elog(ERROR, "could not update a SHA-256 digest: %s", pg_cryptohash_error(ctx));
}

static void
sha256_end(pg_cryptohash_ctx *ctx, uint8 *out)
{
	if (pg_cryptohash_final(ctx, out, DIGEST_LEN) < 0)
		elog(ERROR, "could not finish a SHA-256 digest: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

static void
add_uint64(pg_cryptohash_ctx *ctx, uint64 v)
{
	uint64		be = pg_hton64(v);

	sha256_add(ctx, &be, sizeof(be));
}

static void
add_bytes(pg_cryptohash_ctx *ctx, char tag, const char *data, size_t len)
{
	uint32		be = pg_hton32((uint32) len);

	sha256_add(ctx, &tag, 1);
	sha256_add(ctx, &be, sizeof(be));
	sha256_add(ctx, data, len);
}

static void
add_text(pg_cryptohash_ctx *ctx, char tag, text *t)
{
	add_bytes(ctx, tag, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/* The digest an erased value carries, or false when v is not an erased value. */
static bool
erased_digest(const JsonbValue *v, uint8 *out)
{
	JsonbValue *d;
	int			i;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data) ||
		JsonContainerSize(v->val.binary.data) != 1)
		return false;
	d = getKeyJsonValueFromContainer(v->val.binary.data, CRM_AUDIT_ERASED_KEY, strlen(CRM_AUDIT_ERASED_KEY), NULL);
	if (d == NULL || d->type != jbvString || d->val.string.len != 2 * DIGEST_LEN)
		return false;
	for (i = 0; i < 2 * DIGEST_LEN; i++)
		if (!isxdigit((unsigned char) d->val.string.val[i]))
			return false;
	hex_decode(d->val.string.val, 2 * DIGEST_LEN, (char *) out);
	return true;
}

/* The digest of one logged value (a scalar or a container). */
static void
value_digest(const JsonbValue *v, uint8 *out)
{
	pg_cryptohash_ctx *ctx;
	char	   *printed;

	if (erased_digest(v, out))
		return;
	if (v->type == jbvBinary)
		printed = JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	else
	{
		Jsonb	   *scalar = JsonbValueToJsonb((JsonbValue *) v);

		printed = JsonbToCString(NULL, &scalar->root, VARSIZE(scalar));
	}
	ctx = sha256_begin();
	sha256_add(ctx, printed, strlen(printed));
	sha256_end(ctx, out);
	pfree(printed);
}

static void
add_value(pg_cryptohash_ctx *ctx, const JsonbValue *v)
{
	uint8		digest[DIGEST_LEN];

	value_digest(v, digest);
	add_bytes(ctx, 'V', (const char *) digest, DIGEST_LEN);
}

/*
 * Keys and value digests of an object.  With descend (the changed column of
 * an update), a value that is an object holds the old and new values under
 * their own keys.
 */
static void
add_object(pg_cryptohash_ctx *ctx, JsonbContainer *object, bool descend, char key_tag)
{
	JsonbIterator *it = JsonbIteratorInit(object);
	JsonbValue	v;
	JsonbIteratorToken token;
	uint8		unused[DIGEST_LEN];

	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (token == WJB_KEY)
			add_bytes(ctx, key_tag, v.val.string.val, v.val.string.len);
		else if (token == WJB_VALUE)
		{
			if (descend && v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data) &&
				!erased_digest(&v, unused))
				add_object(ctx, v.val.binary.data, false, 'S');
			else
				add_value(ctx, &v);
		}
	}
}

/*
 * crm.audit_row_digest(id, at, actor, table_name, row_id, action, changed,
 * txid) RETURNS bytea: the digest of one log row (see the file comment).
 * Not strict: row_id is NULL for a table without an id; the others never are.
 */
Datum
crm_audit_row_digest(PG_FUNCTION_ARGS)
{
	pg_cryptohash_ctx *ctx;
	bytea	   *result;
	text	   *action;
	Jsonb	   *changed;
	int			i;

	for (i = 0; i < 8; i++)
		if (i != 4 && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("only row_id of an audit row may be null")));
	action = PG_GETARG_TEXT_PP(5);
	changed = PG_GETARG_JSONB_P(6);
	ctx = sha256_begin();
	sha256_add(ctx, ROW_DIGEST_VERSION, strlen(ROW_DIGEST_VERSION));
	add_uint64(ctx, (uint64) PG_GETARG_INT64(0));
	add_uint64(ctx, (uint64) PG_GETARG_TIMESTAMPTZ(1));
	add_bytes(ctx, 'A', NameStr(*PG_GETARG_NAME(2)), strlen(NameStr(*PG_GETARG_NAME(2))));
	add_text(ctx, 'T', PG_GETARG_TEXT_PP(3));
	if (PG_ARGISNULL(4))
		sha256_add(ctx, "N", 1);
	else
	{
		sha256_add(ctx, "R", 1);
		add_uint64(ctx, (uint64) PG_GETARG_INT64(4));
	}
	add_text(ctx, 'O', action);
	add_uint64(ctx, DatumGetUInt64(PG_GETARG_DATUM(7)));
	if (!JB_ROOT_IS_OBJECT(changed) || JB_ROOT_IS_SCALAR(changed))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("changed must be a jsonb object")));
	add_object(ctx, &changed->root,
			   VARSIZE_ANY_EXHDR(action) == 6 && memcmp(VARDATA_ANY(action), "update", 6) == 0, 'K');
	result = palloc(VARHDRSZ + DIGEST_LEN);
	SET_VARSIZE(result, VARHDRSZ + DIGEST_LEN);
	sha256_end(ctx, (uint8 *) VARDATA(result));
	PG_RETURN_BYTEA_P(result);
}

/*
 * crm.audit_value_digest(value jsonb) RETURNS bytea: the digest the chain
 * uses for one logged value; an erased value gives the digest it carries.
 */
Datum
crm_audit_value_digest(PG_FUNCTION_ARGS)
{
	Jsonb	   *value = PG_GETARG_JSONB_P(0);
	JsonbValue	v = {.type = jbvBinary, .val.binary = {VARSIZE(value) - VARHDRSZ, &value->root}};
	bytea	   *result = palloc(VARHDRSZ + DIGEST_LEN);

	SET_VARSIZE(result, VARHDRSZ + DIGEST_LEN);
	value_digest(&v, (uint8 *) VARDATA(result));
	PG_RETURN_BYTEA_P(result);
}

/*
 * crm.audit_chain_step(state bytea, start bytea, digest bytea): transition
 * function of the aggregate crm.audit_chain(start, digest ORDER BY id), used
 * as a window function: SHA-256(previous || digest), the first previous
 * being start (the hash of the last row sealed before, or empty).
 */
Datum
crm_audit_chain_step(PG_FUNCTION_ARGS)
{
	pg_cryptohash_ctx *ctx;
	bytea	   *previous = NULL;
	bytea	   *digest;
	bytea	   *result;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("an audit row digest cannot be null")));
	if (!PG_ARGISNULL(0))
		previous = PG_GETARG_BYTEA_PP(0);
	else if (!PG_ARGISNULL(1))
		previous = PG_GETARG_BYTEA_PP(1);
	digest = PG_GETARG_BYTEA_PP(2);
	ctx = sha256_begin();
	if (previous != NULL)
		sha256_add(ctx, VARDATA_ANY(previous), VARSIZE_ANY_EXHDR(previous));
	sha256_add(ctx, VARDATA_ANY(digest), VARSIZE_ANY_EXHDR(digest));
	result = palloc(VARHDRSZ + DIGEST_LEN);
	SET_VARSIZE(result, VARHDRSZ + DIGEST_LEN);
	sha256_end(ctx, (uint8 *) VARDATA(result));
	PG_RETURN_BYTEA_P(result);
}
