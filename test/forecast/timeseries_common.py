"""Shared helpers of the time-series accuracy checks (test/t/250-270_*.pl).

The checks run as /usr/bin/python3 (Debian's statsmodels 0.13.5) against a
cluster with crm installed, reached through psql with the PG* environment
variables the TAP test sets.  Each check prints one line, "ok <what>" or
"not ok <what>", which the TAP test turns into a test result; the line
names the tolerance and both values.
"""
import io
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import statsmodels.api as sm

# after importing statsmodels, which sets its own warning filters
warnings.simplefilter("ignore")


def psql(sql, stdin=None):
    """Runs sql (and COPY data on stdin); returns rows of tab-separated fields."""
    cmd = ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    if stdin is None:
        cmd += ["-c", sql]
        inp = None
    else:
        inp = sql + "\n" + stdin + "\\.\n"
    out = subprocess.run(cmd, input=inp, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stdout.write("not ok psql failed: %s\n" % out.stderr.strip().replace("\n", " | "))
        sys.exit(1)
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def load_series(table, series):
    """Creates table (series text, t int, y float8) holding {name: values}."""
    psql("DROP TABLE IF EXISTS %s; CREATE TABLE %s (series text, t int, y float8)" % (table, table))
    buf = io.StringIO()
    for name, values in series.items():
        for t, v in enumerate(values):
            buf.write("%s\t%d\t%r\n" % (name, t + 1, float(v)))
    psql("COPY %s FROM STDIN;" % table, buf.getvalue())


def json_rows(sql):
    """Rows of (key, jsonb) as {key: parsed json}."""
    return {row[0]: json.loads(row[1]) for row in psql(sql)}


class Checker:
    def __init__(self):
        self.failed = 0

    def ok(self, passed, what):
        passed = bool(passed)
        if not passed:
            self.failed += 1
        sys.stdout.write("%s %s\n" % ("ok" if passed else "not ok", what))
        sys.stdout.flush()

    def close(self, what, mine, ref, abs_tol=0.0, rel_tol=0.0):
        """|mine - ref| <= abs_tol + rel_tol * |ref|, elementwise."""
        mine = np.ravel(np.asarray(mine, dtype=float))
        ref = np.ravel(np.asarray(ref, dtype=float))
        if mine.shape != ref.shape:
            self.ok(False, "%s: shape %s vs %s" % (what, mine.shape, ref.shape))
            return
        err = np.abs(mine - ref)
        bound = abs_tol + rel_tol * np.abs(ref)
        worst = int(np.argmax(err - bound)) if err.size else 0
        passed = bool(np.all(err <= bound)) and np.all(np.isfinite(mine))
        tol = []
        if abs_tol:
            tol.append("abs %g" % abs_tol)
        if rel_tol:
            tol.append("rel %g" % rel_tol)
        self.ok(passed, "%s within %s (worst: %.12g vs %.12g)"
                % (what, " + ".join(tol), mine[worst] if err.size else math.nan,
                   ref[worst] if err.size else math.nan))


# --- data -----------------------------------------------------------------

def arma_sample(n, ar=(), ma=(), mean=0.0, sigma=1.0, seed=0, burn=200):
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, sigma, n + burn)
    x = np.zeros(n + burn)
    for t in range(n + burn):
        v = e[t]
        for i, a in enumerate(ar):
            if t - 1 - i >= 0:
                v += a * x[t - 1 - i]
        for j, b in enumerate(ma):
            if t - 1 - j >= 0:
                v += b * e[t - 1 - j]
        x[t] = v
    return x[burn:] + mean


def integrate(x, d, start=100.0):
    for _ in range(d):
        x = start + np.cumsum(x)
    return x


def seasonal_sample(n, m, level, slope, amplitude, sigma, seed, multiplicative=False):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    pattern = np.sin(2 * np.pi * t / m) + 0.5 * np.cos(4 * np.pi * t / m)
    trend = level + slope * t
    noise = rng.normal(0.0, sigma, n)
    if multiplicative:
        return trend * (1.0 + amplitude * pattern) + noise
    return trend + amplitude * pattern + noise


def dataset(name):
    if name == "sunspots":
        return sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(float)
    if name == "nile":
        return sm.datasets.nile.load_pandas().data["volume"].to_numpy(float)
    if name == "realgdp":
        return 100.0 * np.log(sm.datasets.macrodata.load_pandas().data["realgdp"].to_numpy(float))
    if name == "co2":
        weekly = sm.datasets.co2.load_pandas().data["co2"]
        return weekly.resample("MS").mean().ffill().to_numpy(float)
    raise KeyError(name)


def environment_ready():
    return os.environ.get("PGHOST") is not None
