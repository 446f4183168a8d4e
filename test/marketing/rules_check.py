#!/usr/bin/python3
"""test/marketing/rules_check.py: crm.association_rules against a brute-force
count in Python, run by test/t/311_marketing_rules.pl (harness:
test/forecast/PythonChecks.pm).

Data sets, generated with fixed seeds:
  zipf    3,000 baskets of 1..8 draws from 80 items with Zipf-like
          popularity: items repeat inside baskets, and rows with a NULL
          basket or item are mixed in (they must be ignored);
  chain   baskets {i, i+1} over 400 items: with work_mem at its minimum
          the dense pair triangle (400 * 399 / 2 counters) does not fit,
          so the pairs go through the hash table -- the other code path.
For several (min_support, min_confidence) the rule set must be the same as
the brute force's, with equal basket counts and support, confidence and
lift equal to the last bit or so (same formulas, same doubles).
"""
import itertools
from collections import Counter

import numpy as np

from checks import check, ok, psql

SEED = 7




def brute_force(rows, min_support, min_confidence):
    baskets = {}
    for b, i in rows:
        if b is None or i is None:
            continue
        baskets.setdefault(b, set()).add(i)
    n = len(baskets)
    single = Counter(i for items in baskets.values() for i in items)
    pairs = Counter(p for items in baskets.values() for p in itertools.combinations(sorted(items), 2))
    rules = {}
    for (a, b), c in pairs.items():
        support = c / n
        if support < min_support:
            continue
        for x, y in ((a, b), (b, a)):
            confidence = c / single[x]
            if confidence < min_confidence:
                continue
            rules[(x, y)] = (support, confidence, confidence / (single[y] / n), c)
    return rules


def load(table, rows):
    lines = "\n".join("%s\t%s" % ("\\N" if b is None else b, "\\N" if i is None else i) for b, i in rows)
    psql("CREATE TABLE %s (basket text, item text);\nCOPY %s FROM STDIN;\n%s\n\\.\n" % (table, table, lines))


def compare(name, table, rows, min_support, min_confidence, settings=""):
    got = {}
    out = psql("%sSELECT antecedent, consequent, support, confidence, lift, basket_count "
               "FROM crm.association_rules('SELECT basket, item FROM %s', %r, %r)"
               % (settings, table, min_support, min_confidence))
    for line in out.splitlines():
        a, c, s, conf, lift, count = line.split("\t")
        got[(a, c)] = (float(s), float(conf), float(lift), int(count))
    want = brute_force(rows, min_support, min_confidence)
    label = "%s support>=%g confidence>=%g" % (name, min_support, min_confidence)
    ok(set(got) == set(want), "%s: the same %d rules" % (label, len(want)))
    worst = 0.0
    counts_equal = True
    for key in set(got) & set(want):
        g, w = got[key], want[key]
        counts_equal &= g[3] == w[3]
        for k in range(3):
            worst = max(worst, abs(g[k] - w[k]) / abs(w[k]))
    ok(counts_equal, "%s: basket counts equal" % label)
    check("%s: support, confidence, lift relative error" % label, worst, 1e-12)
    return len(want)


rng = np.random.default_rng(SEED)
items = ["课程-%02d" % k for k in range(80)]
weights = 1.0 / np.arange(1, 81) ** 1.1
weights /= weights.sum()
zipf = []
for b in range(3000):
    for _ in range(rng.integers(1, 9)):
        zipf.append(("order-%d" % b, items[rng.choice(80, p=weights)]))
for _ in range(200):
    zipf.append((None, items[rng.integers(80)]))
    zipf.append(("order-%d" % rng.integers(3000), None))
zipf.append(("only-nulls", None))
load("zipf", zipf)
ok(len(zipf) - len(set(zipf)) > 500, "items repeat inside baskets (%d repeated rows)" % (len(zipf) - len(set(zipf))))

total = 0
for s, c in ((0.0, 0.0), (0.001, 0.1), (0.01, 0.3), (0.05, 0.5), (0.2, 0.0)):
    total += compare("zipf", "zipf", zipf, s, c)
ok(total > 1000, "the comparisons covered %d rules" % total)

chain = [("b%d" % k, "i%03d" % k) for k in range(400)] + [("b%d" % k, "i%03d" % (k + 1)) for k in range(399)]
load("chain", chain)
compare("chain (hash table)", "chain", chain, 0.0, 0.0, "SET work_mem = '64kB';\n")
compare("chain (dense)", "chain", chain, 0.0, 0.0)
