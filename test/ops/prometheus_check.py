#!/usr/bin/python3
"""test/ops/prometheus_check.py: check Prometheus text exposition (version
0.0.4) read from stdin, strictly, and print one line per family:
"name type samples".

Two independent readers must agree: prometheus_client's own parser (the
reference implementation's Python client), and the format's line grammar
written out here: every line is "# HELP name text", "# TYPE name type" or a
sample "name{label="value",...} value"; HELP and TYPE come once per family,
before its samples; samples of a family are contiguous; names match
[a-zA-Z_:][a-zA-Z0-9_:]*; label values escape only \\, \" and \\n; values
are Go floats (or +Inf, -Inf, NaN); empty lines are ignored (as the format
says); the text ends with a newline.  Any
deviation exits 1 with the line at fault.
"""
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r'(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN)'
SAMPLE = re.compile(r'^(%s)(?:\{(%s(?:,%s)*)?\})? (%s)$' % (NAME, LABEL, LABEL, VALUE))
HELP = re.compile(r'^# HELP (%s) (.*)$' % NAME)
TYPE = re.compile(r'^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$' % NAME)


def fail(message):
    print('invalid exposition: ' + message)
    sys.exit(1)


def grammar(text):
    """Families as {name: [type, samples]} by the line grammar."""
    if not text.endswith('\n'):
        fail('the text does not end with a newline')
    families = {}
    current = None
    for number, line in enumerate(text[:-1].split('\n'), 1):
        where = 'line %d: %r' % (number, line)
        if line == '':
            continue
        m = HELP.match(line)
        if m:
            name = m.group(1)
            if name in families:
                fail('second HELP for %s, %s' % (name, where))
            families[name] = [None, 0]
            current = name
            continue
        m = TYPE.match(line)
        if m:
            if m.group(1) != current or families[current][0] is not None:
                fail('TYPE not right after its HELP, ' + where)
            families[current][0] = m.group(2)
            continue
        m = SAMPLE.match(line)
        if not m:
            fail('not a HELP, TYPE or sample line, ' + where)
        if m.group(1) != current or families[current][0] is None:
            fail('sample outside its family, ' + where)
        families[current][1] += 1
    return families


def main():
    text = sys.stdin.read()
    by_grammar = grammar(text)
    by_client = {}
    for family in text_string_to_metric_families(text):
        samples = [s for s in family.samples if s.name.startswith(family.name)]
        # the client names a counter family without its _total suffix
        name = family.name + '_total' if family.type == 'counter' and family.name + '_total' in by_grammar \
            else family.name
        by_client[name] = [family.type, len(samples)]
    if by_client != by_grammar:
        fail('prometheus_client reads %r, the grammar %r' % (by_client, by_grammar))
    for name in sorted(by_grammar):
        if not name.startswith('crm_'):
            fail('%s is not named crm_*' % name)
        print('%s %s %d' % (name, by_grammar[name][0], by_grammar[name][1]))


main()
