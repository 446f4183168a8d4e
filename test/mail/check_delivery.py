#!/usr/bin/python3
"""test/mail/check_delivery.py: compare delivered messages with their outbox rows.

  check_delivery.py ROWS.json DIR [--http]

ROWS.json is a JSON array of outbox rows (id, to_address, subject, body_text,
body_html, message_id, status).  DIR holds what a transport delivered: .eml
files (smtp server, file transport) or, with --http, the JSON documents the
HTTP server received (their "raw" member is the message).  Every message is
parsed with Python's email package (policy.default) and must match its row:
Message-ID, To, the subject decoded exactly, the text part, and the HTML part
(as multipart/alternative) exactly when the row has one; for --http the JSON
fields must match the row as well.

Prints one JSON object: rows, delivered (distinct rows), files, duplicates
(Message-IDs delivered more than once), missing (sent rows not delivered),
unexpected (messages with no matching row or from a row not sent), and
mismatches (what differed).  Exits 0 when there are no missing, unexpected or
mismatched messages; duplicates are for the caller to judge.
"""
import email
import email.policy
import json
import os
import sys


def normalise(text):
    """Line endings as LF, without the final newline the encoder may add."""
    text = text.replace("\r\n", "\n")
    return text[:-1] if text.endswith("\n") else text


def check_message(msg, row, problems):
    tag = row["message_id"]
    if str(msg["Subject"]) != row["subject"]:
        problems.append("%s: subject %r, expected %r" % (tag, str(msg["Subject"]), row["subject"]))
    to = [a.addr_spec.lower() for a in msg["To"].addresses] if msg["To"] else []
    if row["to_address"].lower() not in to:
        problems.append("%s: To %r, expected %r" % (tag, to, row["to_address"]))
    if not msg["Date"] or msg["Date"].datetime is None:
        problems.append("%s: no valid Date" % tag)
    if not msg["From"] or not msg["From"].addresses:
        problems.append("%s: no From" % tag)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    if text is None or normalise(text.get_content()) != normalise(row["body_text"]):
        problems.append("%s: text part differs" % tag)
    if row["body_html"] is None:
        if html is not None:
            problems.append("%s: unexpected HTML part" % tag)
    else:
        if msg.get_content_type() != "multipart/alternative":
            problems.append("%s: %s, expected multipart/alternative" % (tag, msg.get_content_type()))
        if html is None or normalise(html.get_content()) != normalise(row["body_html"]):
            problems.append("%s: HTML part differs" % tag)


def main():
    rows_file, directory = sys.argv[1], sys.argv[2]
    http = "--http" in sys.argv[3:]
    with open(rows_file) as f:
        rows = {r["message_id"]: r for r in json.load(f)}
    seen = {}
    unexpected = []
    problems = []
    files = sorted(n for n in os.listdir(directory) if not n.startswith("."))
    for name in files:
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        if http:
            doc = json.loads(data)
            raw = doc["raw"].encode()
        else:
            doc = None
            raw = data
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        mid = str(msg["Message-ID"]).strip()
        row = rows.get(mid)
        if row is None or row["status"] != "sent":
            unexpected.append(mid)
            continue
        seen[mid] = seen.get(mid, 0) + 1
        check_message(msg, row, problems)
        if doc is not None:
            for key, col in (("to", "to_address"), ("subject", "subject"), ("text", "body_text"),
                             ("html", "body_html"), ("message_id", "message_id")):
                if doc.get(key) != row[col]:
                    problems.append("%s: JSON %s differs" % (mid, key))
            if not doc.get("from"):
                problems.append("%s: JSON from is empty" % mid)
    missing = [m for m, r in rows.items() if r["status"] == "sent" and m not in seen]
    result = {
        "rows": len(rows),
        "delivered": len(seen),
        "files": len(files),
        "duplicates": sorted(m for m, n in seen.items() if n > 1),
        "missing": sorted(missing),
        "unexpected": unexpected,
        "mismatches": problems[:20],
    }
    print(json.dumps(result))
    sys.exit(0 if not (missing or unexpected or problems) else 1)


if __name__ == "__main__":
    main()
