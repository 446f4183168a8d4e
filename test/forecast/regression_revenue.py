#!/usr/bin/python3
"""test/forecast/regression_revenue.py: crm.revenue_range against the exact
distribution of won revenue and a Monte Carlo sample, run by
test/t/202_revenue_range.pl.

Connects with psql to the TAP cluster (PGHOST, PGPORT, PGDATABASE) and prints

    CHECK <tab> name <tab> measured <tab> tolerance
    NOTE  <tab> text

References: the exact distribution by enumerating every subset of won deals
(few deals, arbitrary amounts) or by dynamic programming over the amounts in
grid units (many deals); quantiles are the smallest t with P(T <= t) >= q,
as in crm.revenue_range.  All data come from fixed seeds.
"""
import json

import numpy as np

from checks import check, note, psql

LEVELS = (0.10, 0.50, 0.90)
KEYS = ("p10", "p50", "p90")
EXACT_TOL = 1e-12           # exact method: relative, against the exact reference
APPROX_SD_TOL = 0.01        # approximation: |error| in standard deviations of T
APPROX_LEVEL_TOL = 1e-3     # approximation: error of the level q, where P(T <= t) is flat
MC_SD_TOL = 0.01            # approximation against 500,000 Monte Carlo draws


def revenue_range(amounts, probs):
    rows = "\n".join("%r\t%r" % (float(a), float(p)) for a, p in zip(amounts, probs))
    out = psql("DROP TABLE IF EXISTS deals;\nCREATE TABLE deals (a float8, p float8);\n"
               "COPY deals FROM stdin;\n%s\n\\.\n"
               "SELECT crm.revenue_range(a, p) FROM deals;\n" % rows)
    return json.loads(out.strip().splitlines()[-1])


def quantiles(values, probs):
    """Lower quantiles of a distribution given as sorted values and probabilities."""
    cum = np.cumsum(probs)
    return [float(values[min(np.searchsorted(cum, q - 1e-12), len(values) - 1)]) for q in LEVELS]


def enumerate_exact(amounts, probs):
    """Every subset of won deals: 2^n sums and probabilities."""
    n = len(amounts)
    won = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
    values = won @ amounts
    prob = np.prod(np.where(won == 1, probs, 1.0 - probs), axis=1)
    order = np.argsort(values, kind="stable")
    return values[order], prob[order]


def grid_exact(amounts, probs, unit):
    """Dynamic programming over the total in grid units."""
    units = np.rint(np.asarray(amounts) / unit).astype(np.int64)
    dist = np.zeros(int(units.sum()) + 1)
    dist[0] = 1.0
    top = 0
    for u, p in zip(units, probs):
        new = dist[:top + u + 1] * (1.0 - p)
        new[u:top + u + 1] += dist[:top + 1] * p
        dist[:top + u + 1] = new
        top += u
    support = np.nonzero(dist)[0]
    return support * unit, dist[support]


def moments(amounts, probs):
    return float(np.sum(amounts * probs)), float(np.sqrt(np.sum(amounts ** 2 * probs * (1 - probs))))


def check_exact(name, amounts, probs, values, prob):
    m = revenue_range(amounts, probs)
    ref = quantiles(values, prob)
    mean, sd = moments(amounts, probs)
    check("%s: method is exact (0 = yes)" % name, 0 if m["method"] == "exact" else 1, 0)
    err = max(abs(m[k] - r) / max(abs(r), 1.0) for k, r in zip(KEYS, ref))
    check("%s: p10/p50/p90 vs exact" % name, err, EXACT_TOL)
    check("%s: expected and sd vs exact" % name,
          max(abs(m["expected"] - mean) / mean, abs(m["sd"] - sd) / sd), EXACT_TOL)


def level_error(values, prob, t, q):
    """How far q is from the levels P(T < t) .. P(T <= t) of the exact distribution."""
    below = float(np.sum(prob[values < t - 1e-9]))
    upto = float(np.sum(prob[values <= t + 1e-9]))
    return max(below - q, q - upto, 0.0)


def check_approx(name, amounts, probs, unit, flat=False):
    m = revenue_range(amounts, probs)
    values, prob = grid_exact(amounts, probs, unit)
    ref = quantiles(values, prob)
    sd = m["sd"]
    sd_err = [abs(m[k] - r) / sd for k, r in zip(KEYS, ref)]
    lv_err = [level_error(values, prob, m[k], q) for k, q in zip(KEYS, LEVELS)]
    check("%s: method is approximate (0 = yes)" % name, 0 if m["method"] == "approximate" else 1, 0)
    if flat:
        # bimodal: P(T <= t) stays at 0.5 across the gap between the modes, so
        # any t in the gap is a median; measure the error in the level instead
        check("%s: p10/p90 error in sd of T" % name, max(sd_err[0], sd_err[2]), APPROX_SD_TOL)
        check("%s: p50 error in level q" % name, lv_err[1], APPROX_LEVEL_TOL)
    else:
        check("%s: p10/p50/p90 error in sd of T" % name, max(sd_err), APPROX_SD_TOL)
    note("%-34s %4d deals: error p10 %.4f, p50 %.4f, p90 %.4f sd; in level q: %.1e, %.1e, %.1e"
         % (name, len(amounts), *sd_err, *lv_err))
    return m, values, prob


def main():
    rng = np.random.default_rng(20240502)

    # exact method, arbitrary amounts: 14 deals, every subset
    a = rng.uniform(100, 10000, 14)
    p = rng.uniform(0.05, 0.95, 14)
    check_exact("exact, 14 deals of any amount", a, p, *enumerate_exact(a, p))
    # exact method, whole units: 100 deals
    a = rng.integers(100, 2000, 100).astype(float)
    p = rng.uniform(0.05, 0.95, 100)
    check_exact("exact, 100 deals in whole units", a, p, *grid_exact(a, p, 1.0))
    # exact method, cents: 15 deals
    a = np.round(rng.uniform(10, 200, 15), 2)
    p = rng.uniform(0.05, 0.95, 15)
    check_exact("exact, 15 deals in cents", a, p, *grid_exact(a, p, 0.01))

    # approximation (too much work for the exact method); amounts in tens
    # keep the Python reference fast
    a = rng.integers(10, 200, 1000) * 10.0
    p = rng.uniform(0.05, 0.95, 1000)
    m, values, prob = check_approx("approximate, uniform", a, p, 10.0)
    draws = np.zeros(500000)
    for start in range(0, len(a), 20):
        won = rng.random((len(draws), len(a[start:start + 20]))) < p[start:start + 20]
        draws += won @ a[start:start + 20]
    mc = np.quantile(draws, LEVELS, method="inverted_cdf")
    check("approximate, uniform: p10/p50/p90 vs Monte Carlo (5e5 draws), sd of T",
          max(abs(m[k] - r) / m["sd"] for k, r in zip(KEYS, mc)), MC_SD_TOL)
    note("Monte Carlo, 5e5 draws: %s; exact %s; crm %s"
         % ([round(v) for v in mc], [round(v) for v in quantiles(values, prob)],
            [round(m[k]) for k in KEYS]))

    a = np.maximum(np.rint(np.exp(rng.normal(7, 1.0, 800)) / 10), 1) * 10.0
    check_approx("approximate, lognormal amounts", a, rng.uniform(0.1, 0.9, 800), 10.0)
    a = np.r_[200000.0, rng.integers(10, 200, 800) * 10.0]
    p = np.r_[0.5, rng.uniform(0.05, 0.95, 800)]
    check_approx("approximate, one dominant deal", a, p, 10.0, flat=True)
    a = rng.integers(10, 200, 1500) * 10.0
    check_approx("approximate, small probabilities", a, rng.uniform(0.01, 0.08, 1500), 10.0)
    a = np.r_[rng.integers(2000, 5000, 5) * 10.0, rng.integers(10, 100, 1500) * 10.0]
    check_approx("approximate, five large deals", a, rng.uniform(0.05, 0.95, 1505), 10.0)


if __name__ == "__main__":
    main()
