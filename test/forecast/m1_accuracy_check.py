"""crm.best_model on the 617 monthly series of the M1 competition (run by test/t/290_m1_accuracy.pl).

Every series' training part goes through crm.best_model(y, 12) and
crm.forecast(model, 18) in one GROUP BY query; the 18 forecasts are scored
against the official test part with the measures of R's reference run
(test/forecast/data/m1_monthly_ref.csv, README there):
    sMAPE = mean 200 |a - f| / (|a| + |f|)
    MASE  = mean |a - f| / mean |y_t - y_{t-12}| over the training part
averaged over the series.  The members of the combination (ETS, Theta,
ARIMA) are scored too, from the members' models in the same jsonb.

Prints the table crm vs R per method, then checks:
  - crm.best_model's mean sMAPE and MASE are not worse than the figures
    recorded in test/forecast/data/m1_crm_recorded.csv (the regression guard;
    slack 0.005 sMAPE and 0.0005 MASE for floating-point differences between
    machines), and are below R's ets, auto.arima and thetaf;
  - the ETS and Theta members score as R's ets and thetaf do (within 0.05
    sMAPE and 0.005 MASE: the same models and estimates, see
    test/t/280_ets_theta_vs_r.pl).
"""
import csv
import io
import os
import time

import numpy as np

from timeseries_common import Checker, psql

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
HORIZON = 18
SEASON = 12


def read_series():
    train, test = {}, {}
    with open(os.path.join(DATA, "m1_monthly.csv")) as f:
        for row in csv.DictReader(f):
            (train if row["part"] == "train" else test).setdefault(row["id"], []).append(
                (int(row["t"]), float(row["y"])))
    order = lambda points: np.array([y for _, y in sorted(points)])
    return {k: order(v) for k, v in train.items()}, {k: order(v) for k, v in test.items()}


def scores(forecasts, train, test):
    smape, mase = [], []
    for sid, f in forecasts.items():
        a = test[sid]
        x = train[sid]
        smape.append(np.mean(200.0 * np.abs(a - f) / (np.abs(a) + np.abs(f))))
        mase.append(np.mean(np.abs(a - f)) / np.mean(np.abs(x[SEASON:] - x[:-SEASON])))
    return float(np.mean(smape)), float(np.mean(mase))


def main():
    check = Checker()
    train, test = read_series()
    buf = io.StringIO()
    for sid, x in train.items():
        for t, y in enumerate(x):
            buf.write("%s\t%d\t%r\n" % (sid, t + 1, float(y)))
    psql("DROP TABLE IF EXISTS m1; CREATE TABLE m1 (id text, t int, y float8)")
    psql("COPY m1 FROM STDIN;", buf.getvalue())

    start = time.perf_counter()
    psql("DROP TABLE IF EXISTS m1_fit; CREATE TABLE m1_fit AS "
         "SELECT s.id, s.m, f.step, f.yhat FROM (SELECT id, crm.best_model(y, %d ORDER BY t) AS m FROM m1 GROUP BY id) s, "
         "crm.forecast(s.m, %d) f" % (SEASON, HORIZON))
    seconds = time.perf_counter() - start
    rows = psql("SELECT id, 'best', step, yhat FROM m1_fit UNION ALL "
                "SELECT id, e ->> 'kind', f.step, f.yhat FROM (SELECT DISTINCT id, m FROM m1_fit) s, "
                "jsonb_array_elements(s.m -> 'members') e, crm.forecast(e, %d) f" % HORIZON)
    forecasts = {}
    for sid, method, step, yhat in rows:
        forecasts.setdefault(method, {}).setdefault(sid, np.zeros(HORIZON))[int(step) - 1] = float(yhat)

    ref = {}
    with open(os.path.join(DATA, "m1_monthly_ref.csv")) as f:
        reader = list(csv.DictReader(f))
    for method in ("ets", "arima", "theta", "snaive"):
        ref[method] = (np.mean([float(r["smape_" + method]) for r in reader]),
                       np.mean([float(r["mase_" + method]) for r in reader]))
    r_seconds = np.mean([float(r["sec_arima"]) + float(r["sec_ets"]) for r in reader])
    recorded = {}
    with open(os.path.join(DATA, "m1_crm_recorded.csv")) as f:
        for r in csv.DictReader(f):
            recorded[r["method"]] = (float(r["smape"]), float(r["mase"]))

    crm = {method: scores(fc, train, test) for method, fc in forecasts.items()}
    lines = ["M1 monthly, 617 series, 18 months ahead: mean sMAPE and MASE",
             "%-34s %8s %8s" % ("method", "sMAPE", "MASE")]
    for label, (sm, ms) in (("crm.best_model (combination)", crm["best"]),
                            ("crm ETS member (crm.ets)", crm["ets"]),
                            ("crm Theta member (crm.theta)", crm["theta"]),
                            ("crm ARIMA member", crm["arima"]),
                            ("R ets", ref["ets"]), ("R auto.arima", ref["arima"]),
                            ("R thetaf", ref["theta"]), ("R snaive", ref["snaive"])):
        lines.append("%-34s %8.3f %8.4f" % (label, sm, ms))
    lines.append("crm.best_model + crm.forecast: %.1f s for %d series, %.4f s per series; "
                 "R auto.arima + ets: %.2f s per series (%.0fx)"
                 % (seconds, len(train), seconds / len(train), r_seconds, r_seconds / (seconds / len(train))))
    for line in lines:
        print("NOTE\t%s" % line)

    check.ok(len(forecasts["best"]) == 617 and all(len(v) == HORIZON for v in forecasts["best"].values()),
             "617 series forecast 18 months each")
    sm, ms = crm["best"]
    check.ok(sm <= recorded["best"][0] + 0.005,
             "best_model sMAPE %.4f not worse than recorded %.4f" % (sm, recorded["best"][0]))
    check.ok(ms <= recorded["best"][1] + 0.0005,
             "best_model MASE %.5f not worse than recorded %.5f" % (ms, recorded["best"][1]))
    for method, label in (("ets", "ets"), ("arima", "auto.arima"), ("theta", "thetaf")):
        check.ok(sm < ref[method][0], "best_model sMAPE %.3f below R %s's %.3f" % (sm, label, ref[method][0]))
        check.ok(ms < ref[method][1], "best_model MASE %.4f below R %s's %.4f" % (ms, label, ref[method][1]))
    for member in ("ets", "theta"):
        check.close("%s member sMAPE as R's" % member, crm[member][0], ref[member][0], abs_tol=0.05)
        check.close("%s member MASE as R's" % member, crm[member][1], ref[member][1], abs_tol=0.005)
    return check.failed


if __name__ == "__main__":
    raise SystemExit(1 if main() else 0)
