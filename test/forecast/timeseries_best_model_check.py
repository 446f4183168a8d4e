"""crm.best_model against statsmodels 0.13.5 (run by test/t/27_timeseries_best_model.pl).

crm.best_model is the mean of three members: ETS (crm.ets's choice), Theta
(crm.theta) and ARIMA(p, d, q), p, q <= 2, d <= 1, of the seasonally
adjusted series.  Recomputed here independently:
  - the seasonality test (the lag-m autocorrelation against
    1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n), statsmodels' acf) decides
    whether the ARIMA member was adjusted;
  - its seasonal indexes are those of statsmodels' classical multiplicative
    seasonal_decompose (1e-9, the ones of forecast steps 1..m);
  - every ARIMA candidate's AICc on the common data, the one-step-ahead
    Gaussian log density of points 2..n given point 1 with k = all
    estimated parameters, from statsmodels' likelihood at the candidate's
    own estimate (crm.arima on the same adjusted series): d = 0 from
    ARIMA(x, trend='c').filter(...).llf_obs[1:], d = 1 from
    ARIMA(diff(x), trend='n').filter(...).llf (absolute 1e-6); the chosen
    one has the smallest;
  - the forecasts are the mean of the members' forecasts, each member's
    being those of the same model fitted directly (crm.ets, crm.theta,
    crm.arima times the indexes), to 1e-9 relative.
"""
import numpy as np
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.seasonal import seasonal_decompose
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


def main():
    check = Checker()
    load_series("ts_best", {name: y for name, y, _ in CASES})
    psql("DROP TABLE IF EXISTS ts_best_case; CREATE TABLE ts_best_case (series text, m int)")
    psql("INSERT INTO ts_best_case VALUES " + ",".join("('%s', %d)" % (name, m) for name, _, m in CASES))
    best = json_rows("SELECT s.series, crm.best_model(s.y, c.m ORDER BY s.t) FROM ts_best s "
                     "JOIN ts_best_case c USING (series) GROUP BY s.series, c.m")

    adjusted = {}
    for name, y, m in CASES:
        n = len(y)
        model = best[name]
        tag = "%s (n=%d, season %d)" % (name, n, m)
        kinds = [e["kind"] for e in model["members"]]
        check.ok(model["kind"] == "combination" and kinds == ["ets", "theta", "arima"],
                 "%s: a combination of ets, theta and arima (%s)" % (tag, kinds))
        check.ok(model["selection"]["chosen"] == " + ".join(model["selection"]["members"]),
                 "%s: chosen names the members (%s)" % (tag, model["selection"]["chosen"]))
        member = model["members"][2]
        is_seasonal = seasonal(y, m) and bool(np.all(y > 0))
        check.ok(("seasonals" in member) == is_seasonal,
                 "%s: ARIMA member seasonally adjusted: %s (test says %s)" % (tag, "seasonals" in member, is_seasonal))
        x = np.array(y, dtype=float)
        if is_seasonal:
            figure = seasonal_decompose(x, model="multiplicative", period=m, two_sided=True).seasonal
            indexes = [figure[(n + j) % m] for j in range(m)]
            check.close("%s: seasonal indexes as statsmodels' seasonal_decompose" % tag, member["seasonals"], indexes,
                        rel_tol=1e-9)
            # adjusted with crm's own indexes, so the ARIMA fits below see the same doubles
            x = x / np.array([member["seasonals"][(t - n) % m] for t in range(n)])
        adjusted[name] = x

        candidates = {c["model"]: c for c in member["selection"]["candidates"]}
        check.ok(len(candidates) == 18, "%s: 18 ARIMA candidates listed (%d)" % (tag, len(candidates)))
        fitted = {k: c["aicc"] for k, c in candidates.items() if "aicc" in c}
        check.ok(member["selection"]["chosen"] == min(fitted, key=fitted.get),
                 "%s: ARIMA member %s has the smallest AICc" % (tag, member["selection"]["chosen"]))

    load_series("ts_adjusted", adjusted)
    arima = json_rows("SELECT s.series || '/' || o.p || o.d || o.q, crm.arima(s.y, o.p, o.d, o.q ORDER BY s.t) "
                      "FROM ts_adjusted s, (VALUES %s) o(p, d, q) GROUP BY s.series, o.p, o.d, o.q"
                      % ",".join("(%d, %d, %d)" % o for o in ORDERS))
    for name, y, m in CASES:
        n = len(y)
        x = adjusted[name]
        tag = "%s (n=%d, season %d)" % (name, n, m)
        candidates = {c["model"]: c for c in best[name]["members"][2]["selection"]["candidates"]}
        for p, d, q in ORDERS:
            key = "arima(%d,%d,%d)" % (p, d, q)
            direct = arima["%s/%d%d%d" % (name, p, d, q)]
            k = p + q + (1 if d == 0 else 0) + 1
            if d == 0:
                res = ARIMA(x, order=(p, 0, q), trend="c").filter(arima_params(direct))
                loglik = res.llf_obs[1:].sum()
            else:
                res = ARIMA(np.diff(x), order=(p, 0, q), trend="n").filter(arima_params(direct))
                loglik = res.llf
            check.close("%s: %s AICc on points 2..n (statsmodels' likelihood at crm's estimate)" % (tag, key),
                        candidates[key].get("aicc", np.nan), common_aicc(loglik, k, n), abs_tol=1e-6)

        # the forecasts: the mean of the members fitted directly
        member = best[name]["members"]
        ets_spec = "".join(member[0]["components"])
        order = "%d, %d, %d" % tuple(member[2]["order"])
        rows = psql("SELECT b.yhat, b.lo, b.hi, (e.yhat + t.yhat + a.yhat * i.idx) / 3, "
                    "(e.lo + t.lo + a.lo * i.idx) / 3, (e.hi + t.hi + a.hi * i.idx) / 3 "
                    "FROM (SELECT crm.best_model(y, %d ORDER BY t) AS m FROM ts_best WHERE series = '%s') bm, "
                    "crm.forecast(bm.m, 6) b "
                    "JOIN (SELECT f.* FROM (SELECT crm.ets(y, %d, '%s' ORDER BY t) AS m FROM ts_best WHERE series = '%s') x, "
                    "      crm.forecast(x.m, 6) f) e USING (step) "
                    "JOIN (SELECT f.* FROM (SELECT crm.theta(y, %d ORDER BY t) AS m FROM ts_best WHERE series = '%s') x, "
                    "      crm.forecast(x.m, 6) f) t USING (step) "
                    "JOIN (SELECT f.* FROM (SELECT crm.arima(y, %s ORDER BY t) AS m FROM ts_adjusted WHERE series = '%s') x, "
                    "      crm.forecast(x.m, 6) f) a USING (step) "
                    "JOIN (SELECT g AS step, coalesce((bm2.m -> 'members' -> 2 -> 'seasonals' ->> ((g - 1) %% %d))::float8, 1) AS idx "
                    "      FROM generate_series(1, 6) g, (SELECT crm.best_model(y, %d ORDER BY t) AS m FROM ts_best "
                    "      WHERE series = '%s') bm2) i USING (step) ORDER BY step"
                    % (m, name, m, ets_spec, name, m, name, order, name, max(m, 1), m, name))
        got = np.array([[float(v) for v in r] for r in rows])
        check.ok(got.shape == (6, 6), "%s: six forecast steps" % tag)
        check.close("%s: forecasts and intervals are the mean of ETS %s, Theta and ARIMA(%s) fitted directly"
                    % (tag, ets_spec, order), got[:, :3], got[:, 3:], rel_tol=1e-9)
    return check.failed


if __name__ == "__main__":
    raise SystemExit(1 if main() else 0)
