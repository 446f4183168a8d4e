#!/usr/bin/python3
"""test/journeys/ab_check.py: the A/B decision against statsmodels.

  ab_check.py COUNTS.json

COUNTS.json: {"variants": [{"key", "recipients", "clicks"}, ...] in the
campaign's order}.  The reference ranks the variants by click rate (the
earlier one first on a tie), runs statsmodels' proportions_ztest -- the
pooled two-proportion z-test -- of the best against the runner-up, and picks
the best if the two-sided p-value is below 0.05, else the first variant.
Prints {"winner", "z", "p", "significant"}.
"""
import json
import sys

from statsmodels.stats.proportion import proportions_ztest

data = json.load(open(sys.argv[1]))
variants = data["variants"]
ranked = sorted(range(len(variants)),
                key=lambda i: (-(variants[i]["clicks"] / variants[i]["recipients"]), i))
best, second = variants[ranked[0]], variants[ranked[1]]
z, p = proportions_ztest([best["clicks"], second["clicks"]], [best["recipients"], second["recipients"]])
significant = bool(p < 0.05)
print(json.dumps({"winner": best["key"] if significant else variants[0]["key"],
                  "z": float(z), "p": float(p), "significant": significant}))
