#!/usr/bin/python3
"""test/journeys/dst_check.py: crm.next_send_time against a brute-force reference.

  dst_check.py CASES.txt

CASES.txt has one line per case, "|"-separated as psql -A prints it:
  at (Unix seconds) | time zone | quiet_start | quiet_end | send_days | crm's answer (Unix seconds)
with empty fields for NULL and send_days as "1,2,3".  The reference walks
forward minute by minute in real time (zoneinfo, the IANA rules Python
ships) until the wall-clock time in the zone is outside the quiet hours and
on a send day, then second by second within the last minute (boundaries may
have seconds); the start itself counts when it is allowed.  Prints a JSON
object with the number of cases and the first mismatches; exits 1 when any.
"""
import datetime
import json
import sys
from zoneinfo import ZoneInfo

UTC = datetime.timezone.utc


def parse_time(text):
    if not text:
        return None
    parts = [int(float(p)) for p in text.split(":")]
    return datetime.time(*parts)


def allowed(t, zone, quiet_start, quiet_end, days):
    local = t.astimezone(zone)
    if days and local.isoweekday() not in days:
        return False
    if quiet_start is None:
        return True
    clock = local.time().replace(tzinfo=None)
    if quiet_start < quiet_end:
        return not (quiet_start <= clock < quiet_end)
    return not (clock >= quiet_start or clock < quiet_end)


def reference(t, zone, quiet_start, quiet_end, days):
    if allowed(t, zone, quiet_start, quiet_end, days):
        return t
    m = t.replace(second=0, microsecond=0)
    if m < t:
        m += datetime.timedelta(minutes=1)
    for _ in range(60 * 24 * 9):
        if allowed(m, zone, quiet_start, quiet_end, days):
            # boundaries may have seconds: the first allowed second before this minute
            s = max(t, m - datetime.timedelta(seconds=59))
            s = s.replace(microsecond=0) + (datetime.timedelta(seconds=1) if s.microsecond else datetime.timedelta())
            while s < m and not allowed(s, zone, quiet_start, quiet_end, days):
                s += datetime.timedelta(seconds=1)
            return min(s, m)
        m += datetime.timedelta(minutes=1)
    raise RuntimeError("no allowed minute within 9 days")


def main():
    cases = 0
    mismatches = []
    for line in open(sys.argv[1]):
        line = line.strip()
        if not line:
            continue
        at, tz, qs, qe, days, answer = line.split("|")
        cases += 1
        t = datetime.datetime.fromtimestamp(float(at), UTC)
        want = reference(t, ZoneInfo(tz), parse_time(qs), parse_time(qe),
                         [int(d) for d in days.split(",")] if days else None)
        got = datetime.datetime.fromtimestamp(float(answer), UTC)
        if abs((got - want).total_seconds()) > 0.001:
            mismatches.append({"at": t.isoformat(), "tz": tz, "quiet": [qs, qe], "days": days,
                               "crm": got.isoformat(), "reference": want.isoformat()})
    print(json.dumps({"cases": cases, "mismatches": len(mismatches), "first": mismatches[:5]}))
    sys.exit(1 if mismatches else 0)


main()
