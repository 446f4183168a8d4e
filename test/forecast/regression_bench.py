#!/usr/bin/python3
"""test/forecast/regression_bench.py: part (d) of
test/bench/forecast_regression.bench.sh.

Generates ROWS × 5 logistic data with a fixed seed, loads it into the bench
cluster (PGHOST, PGPORT, PGDATABASE), and times, median of ROUNDS runs:
crm.logreg in one process and with 2 parallel workers (scan + fit, measured
by psql), scikit-learn LogisticRegression(penalty='none') with its default
lbfgs solver and with newton-cg, and statsmodels Logit (Newton), each on
the arrays in memory (fit only).  Prints a table and the largest relative
coefficient difference of each to crm.

usage: regression_bench.py ROWS ROUNDS
"""
import json
import re
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression


def psql(sql):
    out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1"], input=sql,
                         capture_output=True, text=True, check=True)
    return out.stdout


def crm_fit(workers):
    out = psql("SET max_parallel_workers_per_gather = %d;\n"
               "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;\n"
               "\\timing on\nSELECT crm.logreg(y, x) FROM logit;\n" % workers)
    ms = float(re.search(r"Time: ([0-9.]+) ms", out).group(1))
    model = json.loads([l for l in out.splitlines() if l.startswith("{")][0])
    return ms, np.array(model["coef"])


def timed(fn):
    start = time.perf_counter()
    coef = fn()
    return (time.perf_counter() - start) * 1000.0, coef


def main():
    rows, rounds = int(sys.argv[1]), int(sys.argv[2])
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(rows, 5)) * [1.0, 2.0, 0.5, 10.0, 1.0] + [0.0, 1.0, 0.0, 50.0, -2.0]
    eta = -0.3 + (X - [0.0, 1.0, 0.0, 50.0, -2.0]) @ [0.7, -0.4, 1.2, 0.05, 0.3]
    y = rng.random(rows) < 1.0 / (1.0 + np.exp(-eta))
    data = "\n".join("%s\t{%s}" % ("t" if yy else "f", ",".join(repr(float(v)) for v in xx))
                     for xx, yy in zip(X, y))
    psql("CREATE TABLE logit (y boolean, x float8[]);\nCOPY logit FROM stdin;\n%s\n\\.\n"
         "VACUUM ANALYZE logit;\n" % data)

    def sklearn(solver):
        s = LogisticRegression(penalty="none", solver=solver, max_iter=1000).fit(X, y)
        return np.r_[s.intercept_, s.coef_[0]]

    def statsmodels():
        return sm.Logit(y.astype(float), sm.add_constant(X)).fit(disp=0).params

    contenders = [
        ("crm.logreg, one process", lambda: crm_fit(0)),
        ("crm.logreg, 2 parallel workers", lambda: crm_fit(2)),
        ("scikit-learn, penalty none, lbfgs", lambda: timed(lambda: sklearn("lbfgs"))),
        ("scikit-learn, penalty none, newton-cg", lambda: timed(lambda: sklearn("newton-cg"))),
        ("statsmodels Logit (newton)", lambda: timed(statsmodels)),
    ]
    times = {name: [] for name, _ in contenders}
    coefs = {}
    for name, run in contenders:
        run()                                   # warm up
    for _ in range(rounds):
        for name, run in contenders:
            ms, coef = run()
            times[name].append(ms)
            coefs[name] = coef
    base = statistics.median(times[contenders[0][0]])
    ref = coefs[contenders[0][0]]
    print("%-40s %10s %14s %16s" % ("fit", "median ms", "× crm (serial)", "max rel. coef Δ"))
    for name, _ in contenders:
        t = statistics.median(times[name])
        diff = np.max(np.abs(coefs[name] - ref) / np.abs(ref))
        print("%-40s %10.1f %13.2fx %16.1e" % (name, t, t / base, diff))


if __name__ == "__main__":
    main()
