#!/usr/bin/python3
"""test/mail/mime_check.py: checks messages rendered by crm.render_message.

Usage: mime_check.py RENDERED.json [UNSUBSCRIBE_URL FROM_NAME]

RENDERED.json is an array of {case: {to, subject, text, html}, message_id,
eml}.  Each message is parsed with Python's email package
(email.policy.default) and checked against its case; prints one
"ok N - ..." or "not ok N - ...: reason" line per message (TAP style, read
by test/t/100_mime.pl).  When UNSUBSCRIBE_URL is given the RFC 8058 headers
must be present with the percent-encoded recipient, otherwise absent; when
FROM_NAME is given, From must carry it as the display name.
"""
import base64
import email
import email.policy
import email.utils
import json
import re
import sys
import urllib.parse

ENCODED_WORD = re.compile(rb"=\?([^?]+)\?([BbQq])\?([^?]*)\?=")


def normalise(text):
    """The text with every line break as LF (the message carries CRLF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def raw_header(raw, name):
    """The raw (folded) bytes of a header, or None."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    m = re.search(rb"(?im)^" + re.escape(name.encode()) + rb":(.*(?:\r\n[ \t].*)*)", head)
    return m.group(1) if m else None


def check(item, unsubscribe_url, from_name):
    case = item["case"]
    raw = item["eml"].encode("ascii")   # render_message output must be 7-bit
    problems = []

    # CRLF everywhere, line limits
    if re.search(rb"(?<!\r)\n", raw) or re.search(rb"\r(?!\n)", raw):
        problems.append("bare CR or LF")
    if not raw.endswith(b"\r\n"):
        problems.append("does not end with CRLF")
    head, _, rest = raw.partition(b"\r\n\r\n")
    for line in raw.split(b"\r\n"):
        if len(line) > 998:
            problems.append("line of %d octets" % len(line))
    for line in head.split(b"\r\n"):
        if len(line) > 78 and not re.match(rb"^(To|Message-ID|List-Unsubscribe): ", line):
            problems.append("header line of %d octets: %r" % (len(line), line[:40]))
    for line in rest.split(b"\r\n"):
        if len(line) > 76 and not line.startswith(b"Content-"):
            problems.append("body line of %d octets" % len(line))
            break

    # encoded-words: at most 75 characters, each one whole UTF-8 on its own
    for name in ("Subject", "From"):
        value = raw_header(raw, name) or b""
        for m in ENCODED_WORD.finditer(value):
            if len(m.group(0)) > 75:
                problems.append("%s encoded-word of %d chars" % (name, len(m.group(0))))
            try:
                if m.group(2) in b"Bb":
                    base64.b64decode(m.group(3), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError) as e:
                problems.append("%s encoded-word not whole UTF-8: %s" % (name, e))

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg.defects:
        problems.append("defects: %r" % msg.defects)
    if str(msg["Subject"]) != case["subject"]:
        problems.append("subject %r != %r" % (str(msg["Subject"]), case["subject"]))
    if msg["To"] is None or msg["To"].addresses[0].addr_spec != case["to"]:
        problems.append("To %r" % msg["To"])
    if msg["Message-ID"] != item["message_id"]:
        problems.append("Message-ID %r != outbox %r" % (msg["Message-ID"], item["message_id"]))
    if not re.fullmatch(r"<[0-9a-f]{24}\.[0-9]+@[A-Za-z0-9.-]+>", item["message_id"]):
        problems.append("Message-ID format %r" % item["message_id"])
    if msg["MIME-Version"] != "1.0":
        problems.append("MIME-Version %r" % msg["MIME-Version"])
    try:
        email.utils.parsedate_to_datetime(msg["Date"])
    except (TypeError, ValueError):
        problems.append("Date %r" % msg["Date"])
    sender = msg["From"].addresses[0]
    if sender.addr_spec != "crm@localhost.localdomain" or sender.display_name != from_name:
        problems.append("From %r" % str(msg["From"]))

    if unsubscribe_url:
        want = unsubscribe_url.replace("{{address}}", urllib.parse.quote(case["to"], safe=""))
        if msg["List-Unsubscribe"] != "<%s>" % want:
            problems.append("List-Unsubscribe %r != %r" % (msg["List-Unsubscribe"], want))
        if msg["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click":
            problems.append("List-Unsubscribe-Post %r" % msg["List-Unsubscribe-Post"])
    elif msg["List-Unsubscribe"] is not None or msg["List-Unsubscribe-Post"] is not None:
        problems.append("List-Unsubscribe without crm.unsubscribe_url")

    # parts
    if case["html"] is None:
        parts = [msg]
        if msg.get_content_type() != "text/plain":
            problems.append("content type %s" % msg.get_content_type())
    else:
        if msg.get_content_type() != "multipart/alternative":
            problems.append("content type %s" % msg.get_content_type())
        parts = list(msg.iter_parts())
        if [p.get_content_type() for p in parts] != ["text/plain", "text/html"]:
            problems.append("parts %r" % [p.get_content_type() for p in parts])
        boundary = msg.get_boundary()
        if not boundary or rest.count(boundary.encode()) != 3:
            problems.append("boundary %r is not exactly in the 3 delimiter lines" % boundary)
    for part, want in zip(parts, [case["text"], case["html"]]):
        if part.get_content_charset() != "utf-8":
            problems.append("charset %r" % part.get_content_charset())
        if part["Content-Transfer-Encoding"] not in ("quoted-printable", "base64"):
            problems.append("transfer encoding %r" % part["Content-Transfer-Encoding"])
        got = part.get_content()
        if normalise(got) != normalise(want):
            problems.append("%s part differs: %r... != %r..." % (part.get_content_subtype(),
                                                                 got[:60], want[:60]))
    return problems


def main():
    items = json.load(open(sys.argv[1], encoding="utf-8"))
    unsubscribe_url = sys.argv[2] if len(sys.argv) > 2 else ""
    from_name = sys.argv[3] if len(sys.argv) > 3 else ""
    for n, item in enumerate(items, 1):
        label = "message %d (subject %r)" % (item["id"], item["case"]["subject"][:30])
        problems = check(item, unsubscribe_url, from_name)
        if problems:
            print("not ok %d - %s: %s" % (n, label, "; ".join(problems)))
        else:
            print("ok %d - %s" % (n, label))


main()
