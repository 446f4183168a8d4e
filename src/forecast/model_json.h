/*-------------------------------------------------------------------------
 * model_json.h
 *	  Writing models as jsonb and reading them back: the one JSON writer of
 *	  every forecasting and scoring model (crm.linreg, crm.logreg,
 *	  crm.revenue_range, the time-series models).
 *
 * A model is built as JSON text -- crm_model_json_begin, the key writers,
 * crm_model_json_end -- and converted to jsonb once.  Numbers are written
 * with the shortest decimal form that reads back as the same double;
 * non-finite ones as null.  The readers raise a clear error naming the key
 * when it is missing or of the wrong type, since a model passed to
 * crm.forecast or crm.predict may have been edited or built by hand.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_FORECAST_MODEL_JSON_H
#define CRM_FORECAST_MODEL_JSON_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* Opens buf as an object with "kind". */
extern void crm_model_json_begin(StringInfo buf, const char *kind);
/* Writes the separator and, unless key is NULL, "key": */
extern void crm_model_json_key(StringInfo buf, const char *key);
extern void crm_model_json_number(StringInfo buf, const char *key, double value);
extern void crm_model_json_int(StringInfo buf, const char *key, int value);
extern void crm_model_json_bool(StringInfo buf, const char *key, bool value);
extern void crm_model_json_string(StringInfo buf, const char *key, const char *value);
extern void crm_model_json_array(StringInfo buf, const char *key, const double *values, int count);
/* Appends extra_json (more "key": value pairs, or NULL), closes, converts. */
extern Datum crm_model_json_end(StringInfo buf, const char *extra_json);

extern bool crm_model_has_key(Jsonb *model, const char *key);
extern double crm_model_get_number(Jsonb *model, const char *key);
extern int	crm_model_get_int(Jsonb *model, const char *key);
extern char *crm_model_get_string(Jsonb *model, const char *key);
extern void crm_model_get_array(Jsonb *model, const char *key, double *out, int count);
extern char *crm_model_get_string_element(Jsonb *model, const char *key, int i);

#endif							/* CRM_FORECAST_MODEL_JSON_H */
