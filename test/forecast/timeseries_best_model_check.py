"""crm.best_model against statsmodels 0.13.5 (run by test/t/270_timeseries_best_model.pl).

crm.best_model is the mean of three members: ETS (crm.ets's choice), Theta
(crm.theta) and ARIMA -- for a seasonal series ARIMA(p, 1, q)(0, 1, 1)[m],
p, q <= 1, otherwise ARIMA(p, d, q), p, q <= 2, d <= 1.  Recomputed here
independently:
  - the seasonality test (the lag-m autocorrelation against
    1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n), statsmodels' acf) decides
    which ARIMA family the member comes from;
  - seasonal: every candidate's AICc from statsmodels SARIMAX's exact
    likelihood of the differenced series at the candidate's own estimate
    (crm.arima with the seasonal order on the same series), absolute 1e-6;
  - not seasonal: every candidate's AICc on the common data, the
    one-step-ahead Gaussian log density of points 2..n given point 1 with
    k = all estimated parameters, from statsmodels' likelihood at the
    candidate's own estimate: d = 0 from ARIMA(y, trend='c').filter(...)
    .llf_obs[1:], d = 1 from ARIMA(diff(y), trend='n').filter(...).llf
    (absolute 1e-6);
  - the chosen ARIMA has the smallest AICc;
  - the forecasts and intervals are the mean of the members' forecasts,
    each member's being those of the same model fitted directly (crm.ets,
    crm.theta, crm.arima), to 1e-9 relative.
"""
import numpy as np
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.statespace.sarimax import SARIMAX
from statsmodels.tsa.stattools import acf

from timeseries_common import (Checker, arma_sample, dataset, integrate, json_rows, load_series, psql,
                               seasonal_sample)

# name, series, season
CASES = [
    ("seasonal", seasonal_sample(72, 12, 100.0, 0.5, 10.0, 1.0, seed=21), 12),
    ("seasonal_mult", seasonal_sample(96, 12, 200.0, 1.0, 0.2, 2.0, seed=25, multiplicative=True), 12),
    ("walk_ma", integrate(arma_sample(150, ma=[0.4], seed=22), 1), 1),
    ("ar", arma_sample(200, ar=[0.5], mean=20.0, seed=23), 1),
    ("walk_season4", integrate(arma_sample(48, seed=24), 1), 4),
    ("co2", dataset("co2")[-120:], 12),
    ("nile", dataset("nile"), 1),
]
ORDERS = [(p, d, q) for d in (0, 1) for p in range(3) for q in range(3)]
SEASONAL_TEST_Z = 1.6448536269514722


def common_aicc(loglik, k, n):
    used = n - 1
    return -2.0 * loglik + 2.0 * k + 2.0 * k * (k + 1) / (used - k - 1)


def arima_params(model):
    return np.array(([model["mean"]] if "mean" in model else []) + model["ar"] + model["ma"] + [model["sigma2"]])


def seasonal(y, m):
    """The Theta method's test: is the series seasonal with period m?"""
    n = len(y)
    if m < 2 or n <= 2 * m or np.all(y == y[0]):
        return False
    r = acf(y, nlags=m, fft=False)[1:]
    stat = np.sqrt((1 + 2 * np.sum(r[:-1] ** 2)) / n)
    return abs(r[-1]) / stat > SEASONAL_TEST_Z


def aicc(loglik, k, n):
    return -2.0 * loglik + 2.0 * k + 2.0 * k * (k + 1) / (n - k - 1)


def main():
    check = Checker()
    load_series("ts_best", {name: y for name, y, _ in CASES})
    psql("DROP TABLE IF EXISTS ts_best_case; CREATE TABLE ts_best_case (series text, m int)")
    psql("INSERT INTO ts_best_case VALUES " + ",".join("('%s', %d)" % (name, m) for name, _, m in CASES))
    best = json_rows("SELECT s.series, crm.best_model(s.y, c.m ORDER BY s.t) FROM ts_best s "
                     "JOIN ts_best_case c USING (series) GROUP BY s.series, c.m")

    for name, y, m in CASES:
        n = len(y)
        y = np.array(y, dtype=float)
        model = best[name]
        tag = "%s (n=%d, season %d)" % (name, n, m)
        kinds = [e["kind"] for e in model["members"]]
        check.ok(model["kind"] == "combination" and kinds == ["ets", "theta", "arima"],
                 "%s: a combination of ets, theta and arima (%s)" % (tag, kinds))
        check.ok(model["selection"]["chosen"] == " + ".join(model["selection"]["members"]),
                 "%s: chosen names the members (%s)" % (tag, model["selection"]["chosen"]))
        member = model["members"][2]
        is_seasonal = seasonal(y, m) and m <= 24
        check.ok(("seasonal_order" in member) == is_seasonal,
                 "%s: ARIMA member seasonal: %s (test says %s)" % (tag, "seasonal_order" in member, is_seasonal))
        candidates = {c["model"]: c for c in member["selection"]["candidates"]}
        fitted = {k: c["aicc"] for k, c in candidates.items() if "aicc" in c}
        check.ok(member["selection"]["chosen"] == min(fitted, key=fitted.get),
                 "%s: ARIMA member %s has the smallest AICc" % (tag, member["selection"]["chosen"]))

        if is_seasonal:
            check.ok(len(candidates) == 4, "%s: 4 seasonal ARIMA candidates listed (%d)" % (tag, len(candidates)))
            w = np.diff(y)
            w = w[m:] - w[:-m]
            for p, q in ((0, 0), (0, 1), (1, 0), (1, 1)):
                key = "arima(%d,1,%d)(0,1,1)[%d]" % (p, q, m)
                direct = json_rows("SELECT 'm', crm.arima(y, %d, 1, %d, 0, 1, 1, %d ORDER BY t) FROM ts_best "
                                   "WHERE series = '%s'" % (p, q, m, name))["m"]
                params = direct["ar"] + direct["ma"] + direct["sma"] + [direct["sigma2"]]
                llf = SARIMAX(w, order=(p, 0, q), seasonal_order=(0, 0, 1, m), trend="n").filter(params).llf
                check.close("%s: %s AICc (statsmodels SARIMAX's likelihood at crm's estimate)" % (tag, key),
                            candidates[key].get("aicc", np.nan), aicc(llf, p + q + 2, len(w)), abs_tol=1e-6)
            order = "%d, 1, %d, 0, 1, 1, %d" % (member["order"][0], member["order"][2], m)
        else:
            check.ok(len(candidates) == 18, "%s: 18 ARIMA candidates listed (%d)" % (tag, len(candidates)))
            arima = json_rows("SELECT o.p || '' || o.d || o.q, crm.arima(s.y, o.p, o.d, o.q ORDER BY s.t) "
                              "FROM ts_best s, (VALUES %s) o(p, d, q) WHERE s.series = '%s' GROUP BY o.p, o.d, o.q"
                              % (",".join("(%d, %d, %d)" % o for o in ORDERS), name))
            for p, d, q in ORDERS:
                key = "arima(%d,%d,%d)" % (p, d, q)
                direct = arima["%d%d%d" % (p, d, q)]
                k = p + q + (1 if d == 0 else 0) + 1
                if d == 0:
                    res = ARIMA(y, order=(p, 0, q), trend="c").filter(arima_params(direct))
                    loglik = res.llf_obs[1:].sum()
                else:
                    res = ARIMA(np.diff(y), order=(p, 0, q), trend="n").filter(arima_params(direct))
                    loglik = res.llf
                check.close("%s: %s AICc on points 2..n (statsmodels' likelihood at crm's estimate)" % (tag, key),
                            candidates[key].get("aicc", np.nan), common_aicc(loglik, k, n), abs_tol=1e-6)
            order = "%d, %d, %d" % tuple(member["order"])

        # the forecasts: the mean of the members fitted directly
        ets_spec = "".join(model["members"][0]["components"])
        rows = psql("SELECT b.yhat, b.lo, b.hi, (e.yhat + t.yhat + a.yhat) / 3, (e.lo + t.lo + a.lo) / 3, "
                    "(e.hi + t.hi + a.hi) / 3 "
                    "FROM (SELECT crm.best_model(y, %d ORDER BY t) AS m FROM ts_best WHERE series = '%s') bm, "
                    "crm.forecast(bm.m, 6) b "
                    "JOIN (SELECT f.* FROM (SELECT crm.ets(y, %d, '%s' ORDER BY t) AS m FROM ts_best WHERE series = '%s') x, "
                    "      crm.forecast(x.m, 6) f) e USING (step) "
                    "JOIN (SELECT f.* FROM (SELECT crm.theta(y, %d ORDER BY t) AS m FROM ts_best WHERE series = '%s') x, "
                    "      crm.forecast(x.m, 6) f) t USING (step) "
                    "JOIN (SELECT f.* FROM (SELECT crm.arima(y, %s ORDER BY t) AS m FROM ts_best WHERE series = '%s') x, "
                    "      crm.forecast(x.m, 6) f) a USING (step) ORDER BY step"
                    % (m, name, m, ets_spec, name, m, name, order, name))
        got = np.array([[float(v) for v in r] for r in rows])
        check.ok(got.shape == (6, 6), "%s: six forecast steps" % tag)
        check.close("%s: forecasts and intervals are the mean of ETS %s, Theta and ARIMA(%s) fitted directly"
                    % (tag, ets_spec, order), got[:, :3], got[:, 3:], rel_tol=1e-9)
    return check.failed


if __name__ == "__main__":
    raise SystemExit(1 if main() else 0)
