#!/usr/bin/python3
"""test/mail/mime_cases.py: the messages test/t/100_mime.pl renders.

Prints a JSON array of cases {to, subject, text, html} on stdout: Chinese,
emoji and mixed subjects of every length from 1 to 80 characters (so
encoded-word boundaries fall on every byte of 1- to 4-byte characters),
ASCII subjects that must stay readable or must be encoded ("=?", double
spaces, leading spaces, very long words, tabs), bodies with long lines, lines
of dots and "From ", CRLF/LF/CR line breaks, trailing whitespace, "=" signs,
8-bit text, with and without HTML.  A fixed seed keeps the set the same.
"""
import json
import random

rng = random.Random(20241125)

CJK = "欢迎加入智学在线您的课程已开通请查收发票付款通知谈判中成交流失新线索潜在客户"
EMOJI = "😀🎉📧🚀✅💰🇨🇳"
MIXED = "Python 入门课 — 第 1 期 🎓 café naïve Ünïcödé"


def cycle(alphabet, n, offset=0):
    return "".join(alphabet[(offset + i) % len(alphabet)] for i in range(n))


def body(kind, i):
    if kind == "plain":
        return "Hello,\nthis is message %d.\n" % i
    if kind == "cjk":
        return ("你好，王芳：\n\n" + cycle(CJK, 200 + i) + "\n祝好！\n")
    if kind == "tricky":
        return ("first line\r\n.\r\n..leading dots\r\nFrom the start of a line\r\n"
                "From\r\nFromage\r\nx = y + z; =3D is not a code here =\r\n"
                "trailing spaces   \r\ntrailing tab\t\r\n lead space\r\n"
                "bare LF\nbare CR\rmixed\r\n\r\n\r\nlast line without break")
    if kind == "long":
        return ("a" * 1000 + "\n" + ("word " * 300) + "\n" + cycle(CJK, 700) +
                "\n" + "=" * 200 + "\n" + ("x" * 75) + "\n" + ("y" * 76) + "\n" +
                ("z" * 77) + " \n" + ("é" * 40) + "\n")
    if kind == "8bit":
        return "Grüße aus Zürich — naïve café, 北京 🚀, ½ € ©\n" * 5
    if kind == "emoji":
        return cycle(EMOJI, 120) + "\n" + EMOJI + EMOJI
    raise ValueError(kind)


def html(kind, i):
    if kind is None:
        return None
    if kind == "cjk":
        return "<html><body><h1>欢迎</h1><p>%s</p></body></html>" % cycle(CJK, 150 + i)
    if kind == "ascii":
        return ("<html><body>\n<p style=\"color: red\">Message %d &amp; more</p>\n"
                "<p>%s</p>\n</body></html>\n" % (i, "lorem ipsum " * 40))
    if kind == "tricky":
        return ("<p>From the top</p>\r\n.<br>\r\n<p>a=b</p>   \r\n" + "<b>粗体</b>" * 50)
    raise ValueError(kind)


cases = []
kinds = ["plain", "cjk", "tricky", "long", "8bit", "emoji"]
html_kinds = [None, "cjk", "ascii", "tricky"]

# subjects of every length in characters, for each alphabet
for n in range(1, 81):
    for name, subject in (("cjk", cycle(CJK, n, n)), ("emoji", cycle(EMOJI, n, n)),
                          ("mixed", cycle(MIXED, n, n))):
        if subject.strip() != subject or not subject.strip():
            subject = "S" + subject + "E"
        i = len(cases)
        cases.append({"to": "user%d@example.com" % i, "subject": subject,
                      "text": body(kinds[i % len(kinds)], i),
                      "html": html(html_kinds[i % len(html_kinds)], i)})

ascii_subjects = [
    "Hi",
    "Your invoice INV-2024-000042 is ready",
    "A long plain subject that goes on and on so that it has to be folded at spaces, "
    "more than once, to keep every header line within seventy-eight characters",
    "Contains =?UTF-8?B?Zm9v?= that must not be decoded",
    "Two  spaces inside",
    " leading space",
    "trailing space ",
    "Tab\tinside",
    "Averyveryveryveryveryveryveryveryveryveryveryveryveryveryveryverylongwordthatcannotfold",
    "Special chars: \"quotes\" (parens) <angle> [brackets] ; : , . @ \\ backslash",
    "=? alone", "?= alone", "100% = 1",
]
for subject in ascii_subjects:
    i = len(cases)
    cases.append({"to": "ascii%d@Example.COM" % i, "subject": subject,
                  "text": body(kinds[i % len(kinds)], i),
                  "html": html(html_kinds[i % len(html_kinds)], i)})

# random mixtures
pool = CJK + EMOJI + MIXED + "abc XYZ 123 !?=_-.,;:\"'<>&"
for _ in range(60):
    n = rng.randint(1, 200)
    subject = "".join(rng.choice(pool) for _ in range(n)).strip() or "x"
    i = len(cases)
    text = "".join(rng.choice(pool + "\n\r\t ") for _ in range(rng.randint(1, 3000)))
    if not text.strip():
        text = "x"
    cases.append({"to": "rand%d@sub.example.org" % i, "subject": subject,
                  "text": text, "html": html(rng.choice(html_kinds), i)})

json.dump(cases, __import__("sys").stdout, ensure_ascii=False)
