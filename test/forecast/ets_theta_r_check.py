"""crm.ets and crm.theta against R's forecast package (run by test/t/280_ets_theta_vs_r.pl).

The series are R's datasets (AirPassengers, co2, nottem, ...), read from R
itself by test/forecast/ets_theta_reference.R, which also computes R's
results (R 4.2 + forecast 8.20, Debian r-cran-forecast).  For each ETS model
given by its components:
  - exactly: R's log-likelihood, forecasts and class-1 95% intervals at
    crm's parameters and initial states (R's ets(model = fit,
    use.initial.values = TRUE)) equal crm's (the recursions, the
    likelihood and the interval formula are the same);
  - the estimate: crm's log-likelihood is within 0.01 of R's own optimum
    (both run Nelder-Mead with R's settings from R's starting values inside
    R's bounds; on these series they agree to 1e-4), and crm's point
    forecasts are within 0.5% of R's over the horizon.
The 95% intervals (analytic for every model of the family, classes 1-3 of
Hyndman et al. 2008) equal R's at crm's estimate (1e-9), except for
ETS(A,N,A) and ETS(M,N,A), where R's class1() puts gamma on the second
seasonal state when there is no trend (forecast 8.20): there within 2% of
the interval width.
For the Theta method: the drift (half the regression slope, exact), alpha
(within 0.02: both minimise the same MSE by Nelder-Mead) and the forecasts
(within 1%).  AirPassengers with the full ETS family ('ZZZ'): the same
model chosen, the same estimate within the tolerances above.
R reports the log-likelihood without constants; crm's includes them:
loglik_R = loglik_crm + n/2 (log(2 pi / n) + 1).
"""
import math
import os
import subprocess
import tempfile

import numpy as np

from timeseries_common import Checker, load_series, psql

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "ets_theta_reference.R")

# (series, season, model, horizon)
ETS_CASES = [
    ("AirPassengers", 12, "MAM", 24),
    ("AirPassengers", 12, "MAdM", 24),
    ("co2", 12, "AAA", 24),
    ("nottem", 12, "ANA", 24),
    ("USAccDeaths", 12, "AAdA", 24),
    ("UKDriverDeaths", 12, "MNM", 24),
    ("ldeaths", 12, "MNA", 24),
    ("Nile", 1, "ANN", 10),
    ("Nile", 1, "MNN", 10),
    ("WWWusage", 1, "AAdN", 10),
    ("WWWusage", 1, "MAN", 10),
    ("LakeHuron", 1, "AAN", 10),
    ("JohnsonJohnson", 4, "MAM", 8),
    ("UKgas", 4, "MAdM", 8),
    ("AirPassengers", 12, "ZZZ", 24),
]
THETA_CASES = [
    ("AirPassengers", 12, 24), ("co2", 12, 24), ("nottem", 12, 24), ("USAccDeaths", 12, 24),
    ("UKDriverDeaths", 12, 24), ("Nile", 1, 10), ("WWWusage", 1, 10), ("JohnsonJohnson", 4, 8),
    ("UKgas", 4, 8),
]


def floats(text):
    return [float(v) for v in text.split()]


def main():
    check = Checker()
    with tempfile.TemporaryDirectory(prefix="crm-ets-r-") as work:
        return compare(check, work)


def compare(check, work):
    series_file = os.path.join(work, "series.txt")
    subprocess.run(["Rscript", REFERENCE, "series", series_file], check=True, capture_output=True)
    series = {}
    for line in open(series_file):
        name, freq, values = line.rstrip("\n").split("\t")
        series[name] = floats(values)
    load_series("r_series", series)

    crm = {}
    for i, (name, m, spec, h) in enumerate(ETS_CASES):
        call = "crm.ets(y, %d ORDER BY t)" % m if spec == "ZZZ" else "crm.ets(y, %d, '%s' ORDER BY t)" % (m, spec)
        rows = psql("SELECT x.m::text, f.yhat, f.lo, f.hi FROM (SELECT %s AS m FROM r_series WHERE series = '%s') x, "
                    "crm.forecast(x.m, %d) f ORDER BY f.step" % (call, name, h))
        crm["e%d" % i] = (__import__("json").loads(rows[0][0]), np.array([[float(v) for v in r[1:]] for r in rows]))
    for i, (name, m, h) in enumerate(THETA_CASES):
        rows = psql("SELECT x.m::text, f.yhat, f.lo, f.hi FROM (SELECT crm.theta(y, %d ORDER BY t) AS m FROM r_series "
                    "WHERE series = '%s') x, crm.forecast(x.m, %d) f ORDER BY f.step" % (m, name, h))
        crm["t%d" % i] = (__import__("json").loads(rows[0][0]), np.array([[float(v) for v in r[1:]] for r in rows]))

    # the cases for R, with crm's estimates in R's layout
    cases_file = os.path.join(work, "cases.txt")
    with open(cases_file, "w") as out:
        for i, (name, m, spec, h) in enumerate(ETS_CASES):
            model = crm["e%d" % i][0]
            states = model["initial_states"]
            season = states[2:]
            init = states[:1] + (states[1:2] if model["components"][1] != "N" else []) + season[::-1]
            params = [model["alpha"], model["beta"], model["gamma"], model["phi"]]
            out.write("e%d\t%s\tets\t%s\t%d\t%s\t%s\n" % (i, name, spec, h, " ".join(repr(v) for v in params),
                                                          " ".join(repr(v) for v in init)))
        for i, (name, m, h) in enumerate(THETA_CASES):
            out.write("t%d\t%s\ttheta\t-\t%d\n" % (i, name, h))
    result_file = os.path.join(work, "r.txt")
    r = subprocess.run(["Rscript", REFERENCE, "cases", cases_file, result_file], capture_output=True, text=True)
    check.ok(r.returncode == 0, "R's forecast package ran (%s)" % r.stderr.strip().splitlines()[-1:] if r.returncode else
             "R's forecast package ran")
    ref = {}
    for line in open(result_file):
        case, key, values = line.rstrip("\n").split("\t")
        ref.setdefault(case, {})[key] = values if key == "name" else floats(values)

    for i, (name, m, spec, h) in enumerate(ETS_CASES):
        model, fc = crm["e%d" % i]
        R = ref["e%d" % i]
        n = len(series[name])
        constant = n / 2.0 * (math.log(2 * math.pi / n) + 1)
        tag = "%s %s" % (name, spec)
        if spec == "ZZZ":
            chosen = model["selection"]["chosen"].replace("ets", "ETS")
            check.ok(chosen == R["name"], "%s: crm chose %s, R chose %s" % (tag, chosen, R["name"]))
        else:
            check.close("%s: R's log-likelihood at crm's estimate" % tag, model["loglik"] + constant, R["at_loglik"],
                        abs_tol=1e-6)
            check.close("%s: R's forecasts at crm's estimate" % tag, fc[:, 0], R["at_mean"], rel_tol=1e-9)
            check.close("%s: R's residual variance at crm's estimate" % tag, model["sigma2"], R["at_sigma2"],
                        rel_tol=1e-9)
            lohi = np.column_stack([R["at_lower"], R["at_upper"]])
            width = float(np.max(lohi[:, 1] - lohi[:, 0]))
            if model["components"][1] == "N" and model["components"][2] == "A":
                check.close("%s: R's 95%% interval at crm's estimate (R's gamma misplaced without a trend)"
                            % tag, fc[:, 1:], lohi, abs_tol=0.02 * width)
            else:
                check.close("%s: R's 95%% interval at crm's estimate" % tag, fc[:, 1:], lohi, rel_tol=1e-9)
        check.close("%s: crm's log-likelihood vs R's optimum" % tag, model["loglik"] + constant, R["loglik"],
                    abs_tol=0.01)
        check.close("%s: point forecasts of crm's fit vs R's fit" % tag, fc[:, 0], R["mean"], rel_tol=0.005)

    for i, (name, m, h) in enumerate(THETA_CASES):
        model, fc = crm["t%d" % i]
        R = ref["t%d" % i]
        tag = "%s theta" % name
        check.close("%s: drift (half the slope)" % tag, model["drift"], R["drift"], rel_tol=1e-9, abs_tol=1e-12)
        check.close("%s: alpha" % tag, model["alpha"], R["alpha"], abs_tol=0.02)
        check.close("%s: point forecasts" % tag, fc[:, 0], R["mean"], rel_tol=0.01)
        check.close("%s: 95%% interval" % tag, fc[:, 1:], np.column_stack([R["lower"], R["upper"]]), rel_tol=0.02)
    return check.failed


if __name__ == "__main__":
    raise SystemExit(1 if main() else 0)
