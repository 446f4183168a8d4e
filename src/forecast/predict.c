/*-------------------------------------------------------------------------
 * predict.c
 *	  crm.predict(model jsonb, x float8[]) → float8: the prediction of a
 *	  crm.linreg model (intercept + coef · x) or the probability of a
 *	  crm.logreg model (the logistic function of it).
 *
 * Scoring runs once per row of a query, usually with the same model on
 * every row, so the parsed coefficients are kept in fn_extra together with
 * a copy of the model they came from, and reused while the model's bytes
 * are the same.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "regression.h"

PG_FUNCTION_INFO_V1(crm_predict);

#define PREDICT "crm.predict"

typedef struct ParsedModel
{
	Jsonb	   *model;			/* copy of the model the fields come from */
	bool		logistic;		/* logreg: return a probability */
	int			ncoef;
	double		coef[FLEXIBLE_ARRAY_MEMBER];
} ParsedModel;

static void
bad_model(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errcontext("%s", PREDICT),
			 errmsg("not a crm.linreg or crm.logreg model"),
			 errdetail("%s", detail)));
}

static ParsedModel *
parse_model(Jsonb *model, MemoryContext cxt)
{
	JsonbValue	kindval;
	JsonbValue	coefval;
	JsonbContainer *coefs;
	char	   *kind;
	ParsedModel *parsed;
	int			ncoef;

	if (!JB_ROOT_IS_OBJECT(model) ||
		getKeyJsonValueFromContainer(&model->root, "kind", 4, &kindval) == NULL ||
		kindval.type != jbvString)
		bad_model("The model has no \"kind\" key with a string value.");
	kind = pnstrdup(kindval.val.string.val, kindval.val.string.len);
	if (strcmp(kind, "linreg") != 0 && strcmp(kind, "logreg") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errcontext("%s", PREDICT),
				 errmsg("a model of kind \"%s\" cannot predict from features", kind),
				 errdetail("crm.predict takes the models of crm.linreg and crm.logreg."),
				 (strcmp(kind, "arima") == 0 || strcmp(kind, "holt_winters") == 0) ?
				 errhint("Use crm.forecast(model, horizon) for time-series models.") : 0));
	if (getKeyJsonValueFromContainer(&model->root, "coef", 4, &coefval) == NULL ||
		coefval.type != jbvBinary || !JsonContainerIsArray(coefval.val.binary.data) ||
		JsonContainerSize(coefval.val.binary.data) < 1)
		bad_model("The model has no \"coef\" array.");
	coefs = coefval.val.binary.data;
	ncoef = JsonContainerSize(coefs);
	if (ncoef > CRM_MAX_FEATURES + 1)
		bad_model("The model has too many coefficients.");

	parsed = MemoryContextAlloc(cxt, offsetof(ParsedModel, coef) + sizeof(double) * ncoef);
	parsed->logistic = (strcmp(kind, "logreg") == 0);
	parsed->ncoef = ncoef;
	for (int i = 0; i < ncoef; i++)
	{
		JsonbValue *c = getIthJsonbValueFromContainer(coefs, i);

		if (c == NULL || c->type != jbvNumeric)
			bad_model("Every element of \"coef\" must be a number.");
		parsed->coef[i] = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
															 NumericGetDatum(c->val.numeric)));
	}
	parsed->model = MemoryContextAlloc(cxt, VARSIZE(model));
	memcpy(parsed->model, model, VARSIZE(model));
	return parsed;
}

Datum
crm_predict(PG_FUNCTION_ARGS)
{
	Jsonb	   *model = PG_GETARG_JSONB_P(0);
	ParsedModel *parsed = (ParsedModel *) fcinfo->flinfo->fn_extra;
	double		x[CRM_MAX_FEATURES];
	int			k;
	double		eta;

	if (parsed == NULL || VARSIZE(parsed->model) != VARSIZE(model) ||
		memcmp(parsed->model, model, VARSIZE(model)) != 0)
	{
		if (parsed != NULL)
		{
			pfree(parsed->model);
			pfree(parsed);
			fcinfo->flinfo->fn_extra = NULL;
		}
		parsed = parse_model(model, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = parsed;
	}

	if (!crm_read_features(PG_GETARG_DATUM(1), x, &k, PREDICT))
		PG_RETURN_NULL();		/* a missing feature: no prediction */
	if (k + 1 != parsed->ncoef)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errcontext("%s", PREDICT),
				 errmsg_plural("x has %d element, the model expects %d",
							   "x has %d elements, the model expects %d", k, k,
							   parsed->ncoef - 1)));
	crm_check_finite_features(x, k, PREDICT);

	eta = parsed->coef[0];
	for (int j = 0; j < k; j++)
		eta += parsed->coef[1 + j] * x[j];
	if (!parsed->logistic)
		PG_RETURN_FLOAT8(eta);
	PG_RETURN_FLOAT8(eta >= 0 ? 1.0 / (1.0 + exp(-eta)) : exp(eta) / (1.0 + exp(eta)));
}
