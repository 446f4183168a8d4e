/*-------------------------------------------------------------------------
 * model_json.c
 *	  Writing models as jsonb and reading them back (see model_json.h): the
 *	  one JSON writer of the forecasting and scoring models.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "forecast/model_json.h"

void
crm_model_json_key(StringInfo buf, const char *key)
{
	char		last = buf->len > 0 ? buf->data[buf->len - 1] : '{';

	if (last != '{' && last != '[')
		appendStringInfoChar(buf, ',');
	if (key != NULL)
		appendStringInfo(buf, "\"%s\":", key);
}

static void
model_json_double(StringInfo buf, double value)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (isnan(value) || isinf(value))
		appendStringInfoString(buf, "null");
	else
	{
		double_to_shortest_decimal_buf(value, digits);
		appendStringInfoString(buf, digits);
	}
}

void
crm_model_json_number(StringInfo buf, const char *key, double value)
{
	crm_model_json_key(buf, key);
	model_json_double(buf, value);
}

void
crm_model_json_int(StringInfo buf, const char *key, int value)
{
	crm_model_json_key(buf, key);
	appendStringInfo(buf, "%d", value);
}

void
crm_model_json_string(StringInfo buf, const char *key, const char *value)
{
	crm_model_json_key(buf, key);
	escape_json(buf, value);
}

void
crm_model_json_bool(StringInfo buf, const char *key, bool value)
{
	crm_model_json_key(buf, key);
	appendStringInfoString(buf, value ? "true" : "false");
}

void
crm_model_json_begin(StringInfo buf, const char *kind)
{
	initStringInfo(buf);
	appendStringInfoChar(buf, '{');
	crm_model_json_string(buf, "kind", kind);
}

void
crm_model_json_array(StringInfo buf, const char *key, const double *values, int count)
{
	int			i;

	crm_model_json_key(buf, key);
	appendStringInfoChar(buf, '[');
	for (i = 0; i < count; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		model_json_double(buf, values[i]);
	}
	appendStringInfoChar(buf, ']');
}

Datum
crm_model_json_end(StringInfo buf, const char *extra_json)
{
	if (extra_json != NULL)
	{
		crm_model_json_key(buf, NULL);
		appendStringInfoString(buf, extra_json);
	}
	appendStringInfoChar(buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data));
}

static JsonbValue *
model_find(Jsonb *model, const char *key)
{
	JsonbValue	k;

	if (!JB_ROOT_IS_OBJECT(model) || JB_ROOT_IS_SCALAR(model))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model must be a JSON object"),
				 errhint("Pass a model made by crm.arima, crm.holt_winters or crm.best_model.")));
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&model->root, JB_FOBJECT, &k);
}

static JsonbValue *
model_require(Jsonb *model, const char *key)
{
	JsonbValue *v = model_find(model, key);

	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model has no \"%s\" key", key),
				 errhint("Pass a model made by crm.arima, crm.holt_winters or crm.best_model.")));
	return v;
}

static double
model_value_number(JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"%s\" must hold numbers", key),
				 errhint("Pass a model made by crm.arima, crm.holt_winters or crm.best_model.")));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

bool
crm_model_has_key(Jsonb *model, const char *key)
{
	return model_find(model, key) != NULL;
}

double
crm_model_get_number(Jsonb *model, const char *key)
{
	return model_value_number(model_require(model, key), key);
}

int
crm_model_get_int(Jsonb *model, const char *key)
{
	double		value = crm_model_get_number(model, key);

	if (value != rint(value) || fabs(value) > 1e9)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"%s\" must be an integer", key)));
	return (int) value;
}

char *
crm_model_get_string(Jsonb *model, const char *key)
{
	JsonbValue *v = model_require(model, key);

	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"%s\" must be a string", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static JsonbContainer *model_require_array(Jsonb *model, const char *key);

char *
crm_model_get_string_element(Jsonb *model, const char *key, int i)
{
	JsonbContainer *array = model_require_array(model, key);
	JsonbValue *v;

	if (i >= (int) JsonContainerSize(array) ||
		(v = getIthJsonbValueFromContainer(array, i))->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"%s\" must hold at least %d strings", key, i + 1)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static JsonbContainer *
model_require_array(Jsonb *model, const char *key)
{
	JsonbValue *v = model_require(model, key);

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerIsScalar(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"%s\" must be an array", key)));
	return v->val.binary.data;
}

void
crm_model_get_array(Jsonb *model, const char *key, double *out, int count)
{
	JsonbContainer *array = model_require_array(model, key);
	int			i;

	if ((int) JsonContainerSize(array) != count)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"%s\" must hold %d numbers, not %d",
						key, count, (int) JsonContainerSize(array))));
	for (i = 0; i < count; i++)
		out[i] = model_value_number(getIthJsonbValueFromContainer(array, i), key);
}
