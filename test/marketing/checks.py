"""test/marketing/checks.py: what the marketing check scripts share: psql
against the TAP cluster (PGHOST, PGPORT and PGDATABASE in the environment,
session time zone UTC) and the lines PythonChecks.pm turns into tests."""
import subprocess
import sys


def psql(sql):
    """Runs sql in one psql session; its output, unaligned, tab-separated."""
    out = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"],
                         input="SET TimeZone = 'UTC';\n" + sql, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit("psql failed")
    return out.stdout


def ok(cond, text):
    print(("ok " if cond else "not ok ") + text)


def check(name, measured, tol):
    print("CHECK\t%s\t%.3g\t%.3g" % (name, measured, tol))


def note(text):
    print("NOTE\t%s" % text)
