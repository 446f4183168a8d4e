"""test/forecast/checks.py: what the regression check scripts share: psql
against the TAP cluster (PGHOST, PGPORT and PGDATABASE in the environment)
and the CHECK and NOTE lines PythonChecks.pm turns into tests."""
import subprocess
import sys


def psql(sql):
    """Runs sql in one psql session; its unaligned output."""
    out = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1"], input=sql,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit("psql failed")
    return out.stdout


def check(name, measured, tol):
    print("CHECK\t%s\t%.3g\t%.3g" % (name, measured, tol))


def note(text):
    print("NOTE\t%s" % text)
