"""crm.best_model against statsmodels 0.13.5 (run by test/t/27_timeseries_best_model.pl).

crm.best_model scores every candidate on the same data: the one-step-ahead
Gaussian log density of points 2..n given point 1, with k = all estimated
parameters (variance and initial states included), AICc on n - 1 points.
Each candidate's score is recomputed here from statsmodels' likelihood at
the candidate's own estimate (crm.arima / crm.holt_winters on the same
series): ARIMA with d = 0 from ARIMA(y, trend='c').filter(...).llf_obs[1:],
ARIMA with d = 1 from ARIMA(diff(y), trend='n').filter(...).llf, Holt-Winters
from statsmodels' residuals 2..n at crm's parameters and initial states
(absolute 1e-6).  Then: the choice is the smallest score; on series of known
structure the choice is of that structure; the chosen model forecasts
exactly as the same model fitted directly.
"""
import numpy as np
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from timeseries_common import (Checker, arma_sample, dataset, integrate, json_rows, load_series, psql,
                               seasonal_sample)

# name, series, season, the kind of model its structure calls for (None: no expectation)
CASES = [
    ("seasonal", seasonal_sample(72, 12, 100.0, 0.5, 10.0, 1.0, seed=21), 12, "holt_winters"),
    ("walk_ma", integrate(arma_sample(150, ma=[0.4], seed=22), 1), 1, "arima(d=1)"),
    ("ar", arma_sample(200, ar=[0.5], mean=20.0, seed=23), 1, "arima(d=0)"),
    ("walk_season4", integrate(arma_sample(48, seed=24), 1), 4, None),
    ("co2", dataset("co2")[-120:], 12, "holt_winters"),
    ("nile", dataset("nile"), 1, None),
]
ORDERS = [(p, d, q) for d in (0, 1) for p in range(3) for q in range(3)]


def common_aicc(loglik, k, n):
    used = n - 1
    return -2.0 * loglik + 2.0 * k + 2.0 * k * (k + 1) / (used - k - 1)


def arima_params(model):
    return np.array(([model["mean"]] if "mean" in model else []) + model["ar"] + model["ma"] + [model["sigma2"]])


def main():
    check = Checker()
    load_series("ts_best", {name: y for name, y, _, _ in CASES})
    psql("DROP TABLE IF EXISTS ts_best_case; CREATE TABLE ts_best_case (series text, m int)")
    psql("INSERT INTO ts_best_case VALUES " + ",".join("('%s', %d)" % (name, m) for name, _, m, _ in CASES))
    best = json_rows("SELECT s.series, crm.best_model(s.y, c.m ORDER BY s.t) FROM ts_best s "
                     "JOIN ts_best_case c USING (series) GROUP BY s.series, c.m")
    arima = json_rows("SELECT s.series || '/' || o.p || o.d || o.q, crm.arima(s.y, o.p, o.d, o.q ORDER BY s.t) "
                      "FROM ts_best s, (VALUES %s) o(p, d, q) GROUP BY s.series, o.p, o.d, o.q"
                      % ",".join("(%d, %d, %d)" % o for o in ORDERS))
    hw = json_rows("SELECT s.series || '/' || k.kind, crm.holt_winters(s.y, c.m, k.kind ORDER BY s.t) "
                   "FROM ts_best s JOIN ts_best_case c USING (series), "
                   "(VALUES ('additive'), ('multiplicative')) k(kind) "
                   "WHERE c.m > 1 AND (k.kind = 'additive' OR s.series IN "
                   "  (SELECT series FROM ts_best GROUP BY series HAVING min(y) > 0)) "
                   "GROUP BY s.series, c.m, k.kind")

    for name, y, m, expect in CASES:
        n = len(y)
        model = best[name]
        selection = model["selection"]
        candidates = {c["model"]: c for c in selection["candidates"]}
        fitted = {k: c["aicc"] for k, c in candidates.items() if "aicc" in c}
        tag = "%s (n=%d, season %d)" % (name, n, m)
        check.ok(len(candidates) == 20, "%s: 20 candidates listed (%d)" % (tag, len(candidates)))
        check.ok(selection["chosen"] == min(fitted, key=fitted.get),
                 "%s: chose %s, the smallest AICc" % (tag, selection["chosen"]))

        for p, d, q in ORDERS:
            key = "arima(%d,%d,%d)" % (p, d, q)
            direct = arima["%s/%d%d%d" % (name, p, d, q)]
            k = p + q + (1 if d == 0 else 0) + 1
            if d == 0:
                res = ARIMA(y, order=(p, 0, q), trend="c").filter(arima_params(direct))
                loglik = res.llf_obs[1:].sum()
            else:
                res = ARIMA(np.diff(y), order=(p, 0, q), trend="n").filter(arima_params(direct))
                loglik = res.llf
            check.close("%s: %s AICc on points 2..n (statsmodels' likelihood at crm's estimate)" % (tag, key),
                        candidates[key].get("aicc", np.nan), common_aicc(loglik, k, n), abs_tol=1e-6)

        for kind in ("additive", "multiplicative"):
            key = "holt_winters(%s)" % kind
            direct = hw.get("%s/%s" % (name, kind))
            if direct is None:
                check.ok("skipped" in candidates[key], "%s: %s skipped (%s)"
                         % (tag, key, candidates[key].get("skipped")))
                continue
            known = ExponentialSmoothing(y, trend="add", seasonal=kind[:3], seasonal_periods=m,
                                         initialization_method="known", initial_level=direct["initial_level"],
                                         initial_trend=direct["initial_trend"],
                                         initial_seasonal=direct["initial_seasonals"])
            res = known.fit(smoothing_level=direct["alpha"], smoothing_trend=direct["beta"],
                            smoothing_seasonal=direct["gamma"], optimized=False)
            resid = y - res.fittedvalues
            sse = float(resid[1:] @ resid[1:])
            loglik = -0.5 * (n - 1) * (np.log(2 * np.pi * sse / (n - 1)) + 1)
            check.close("%s: %s AICc on points 2..n (statsmodels' residuals at crm's estimate)" % (tag, key),
                        candidates[key].get("aicc", np.nan), common_aicc(loglik, m + 5, n), abs_tol=1e-6)

        chosen = selection["chosen"]
        if expect == "holt_winters":
            check.ok(chosen.startswith("holt_winters"), "%s: a seasonal series gets Holt-Winters (%s)" % (tag, chosen))
        elif expect is not None:
            d = expect[-2]
            check.ok(chosen.startswith("arima(") and chosen[8] == d,
                     "%s: gets an ARIMA with d = %s (%s)" % (tag, d, chosen))

        if chosen.startswith("arima"):
            direct = "crm.arima(y, %s ORDER BY t)" % chosen[6:11]
        else:
            direct = "crm.holt_winters(y, %d, '%s' ORDER BY t)" % (m, chosen[13:-1])
        rows = psql("SELECT d.yhat, d.lo, d.hi, b.yhat, b.lo, b.hi "
                    "FROM (SELECT %s AS m FROM ts_best WHERE series = '%s') x, crm.forecast(x.m, 6) d "
                    "JOIN (SELECT f.* FROM (SELECT crm.best_model(y, %d ORDER BY t) AS m FROM ts_best "
                    "WHERE series = '%s') y, crm.forecast(y.m, 6) f) b USING (step) ORDER BY step"
                    % (direct, name, m, name))
        got = np.array([[float(v) for v in r] for r in rows])
        check.ok(got.shape == (6, 6), "%s: six forecast steps of %s" % (tag, chosen))
        check.close("%s: best_model forecasts and intervals are those of %s fitted directly" % (tag, chosen),
                    got[:, 3:], got[:, :3], rel_tol=1e-12)
    return check.failed


if __name__ == "__main__":
    raise SystemExit(1 if main() else 0)
