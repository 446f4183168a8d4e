#!/usr/bin/python3
"""test/marketing/rfm_check.py: crm.customer_value against pandas, run by
test/t/310_marketing_rfm.pl (harness: test/forecast/PythonChecks.pm).

Generates a few thousand orders for a thousand learners in two currencies,
with many ties on purpose (order days from a short range at one time of
day, a few prices and quantities), some cancelled orders and some without
a contact, loads them through the ordinary tables (so the sales triggers
compute the totals), and compares every row of crm.customer_value with the
same numbers computed by pandas: orders, revenue, first and last order,
recency_days, and the R, F, M scores as ceil(5 * rank(method='max',
pct=True)) within the currency, and the segment from the seeded map.
"""
import io
import math
from decimal import Decimal

import numpy as np
import pandas as pd

from checks import note, ok, psql

SEED = 20240301
PEOPLE = 1000
ORDERS = 3500


def segment(r, f, m):
    """The seeded crm.rfm_segment_map (as src/marketing/30_customer_value.sql seeds it)."""
    fm = (f + m + 1) // 2
    table = [("champions", 5, 5, 4, 5), ("champions", 4, 4, 5, 5), ("loyal", 3, 3, 4, 5), ("loyal", 4, 4, 4, 4),
             ("potential_loyalist", 4, 5, 2, 3), ("new_customer", 5, 5, 1, 1), ("promising", 4, 4, 1, 1),
             ("need_attention", 3, 3, 3, 3), ("about_to_sleep", 3, 3, 1, 2), ("at_risk", 1, 2, 3, 4),
             ("cannot_lose", 1, 2, 5, 5), ("hibernating", 2, 2, 1, 2), ("lost", 1, 1, 1, 2)]
    for name, r0, r1, f0, f1 in table:
        if r0 <= r <= r1 and f0 <= fm <= f1:
            return name
    return None


rng = np.random.default_rng(SEED)
orders = pd.DataFrame({
    "contact": rng.integers(1, PEOPLE + 1, ORDERS),
    "currency": rng.choice(["CNY", "USD"], ORDERS, p=[0.8, 0.2]),
    "days_ago": rng.integers(0, 60, ORDERS),
    "price": rng.choice([99, 199, 399], ORDERS),
    "qty": rng.choice([1, 1, 1, 2], ORDERS),
    "cancelled": rng.random(ORDERS) < 0.05,
})
orders.loc[rng.random(ORDERS) < 0.03, "contact"] = 0       # no contact

buf = io.StringIO()
orders.to_csv(buf, sep="\t", header=False, index=False)
psql("""
CREATE TABLE gen (contact int, currency text, days_ago int, price int, qty int, cancelled boolean);
COPY gen FROM STDIN;
%s\\.
SET client_min_messages = warning;
INSERT INTO crm.account (name) VALUES ('智学在线');
INSERT INTO crm.contact (name, email, account_id)
SELECT 'learner ' || g, 'learner' || g || '@example.com', 1 FROM generate_series(1, %d) g;
INSERT INTO crm.product (sku, name, unit_price, currency)
SELECT c || '-' || p, 'course ' || p, p, c FROM unnest(ARRAY['CNY', 'USD']) c, unnest(ARRAY[99, 199, 399]) p;
ALTER TABLE gen ADD COLUMN n serial;
CREATE TABLE made AS SELECT n, NULL::bigint AS order_id FROM gen;
DO $$
DECLARE g record; new_id bigint;
BEGIN
    FOR g IN SELECT * FROM gen ORDER BY n LOOP
        INSERT INTO crm.sales_order (account_id, contact_id, currency, created_at)
        VALUES (1, nullif(g.contact, 0), g.currency,
                date_trunc('day', now()) - make_interval(days => g.days_ago) + interval '9 hours')
        RETURNING id INTO new_id;
        INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity)
        SELECT new_id, p.id, g.qty FROM crm.product p WHERE p.sku = g.currency || '-' || g.price;
        IF g.cancelled THEN
            UPDATE crm.sales_order SET status = 'cancelled', cancel_reason = 'test' WHERE id = new_id;
        END IF;
    END LOOP;
END $$;
""" % (buf.getvalue(), PEOPLE))

# the reference: pandas
live = orders[(orders.contact > 0) & ~orders.cancelled].copy()
live["revenue"] = live.price * live.qty
live["day"] = live.days_ago
ref = live.groupby(["contact", "currency"]).agg(orders=("price", "size"), revenue=("revenue", "sum"),
                                                last_ago=("day", "min"), first_ago=("day", "max")).reset_index()
ref["last_key"] = -ref.last_ago          # later order = larger key
for col, key in (("r", "last_key"), ("f", "orders"), ("m", "revenue")):
    pct = ref.groupby("currency")[key].rank(method="max", pct=True)
    ref[col] = np.ceil(5 * pct).astype(int)
ref["segment"] = [segment(r, f, m) for r, f, m in zip(ref.r, ref.f, ref.m)]
ref = ref.set_index(["contact", "currency"]).sort_index()

rows = psql("""
SELECT contact_id, currency, orders, revenue, extract(epoch FROM date_trunc('day', now()) - date_trunc('day', last_order_at)) / 86400,
       extract(epoch FROM date_trunc('day', now()) - date_trunc('day', first_order_at)) / 86400,
       recency_days, r_score, f_score, m_score, coalesce(rfm_segment, '-'),
       extract(epoch FROM now() - date_trunc('day', now()))
  FROM crm.customer_value ORDER BY 1, 2""").splitlines()
got = {}
for line in rows:
    c, cur, n, rev, last_ago, first_ago, rec, r, f, m, seg, since_midnight = line.split("\t")
    got[(int(c), cur)] = (int(n), Decimal(rev), round(float(last_ago)), round(float(first_ago)), int(rec),
                          int(r), int(f), int(m), seg, float(since_midnight))

note("%d orders, %d people with orders, %d in customer_value, %d distinct (R,F,M)"
      % (ORDERS, len(ref), len(got), len(set(v[5:8] for v in got.values()))))
ok(set(got) == set(ref.index), "one row per person and currency with an order that is not cancelled")
ties = int((ref.groupby("currency")["revenue"].transform("count") > 0).sum() - ref.revenue.nunique())
ok(ties > 100, "the data has ties (%d rows share a revenue with another)" % ties)
bad = {k: [] for k in ("orders", "revenue", "last", "first", "recency", "R", "F", "M", "segment")}
for key, row in ref.iterrows():
    g = got.get(key)
    if g is None:
        continue
    n, rev, last_ago, first_ago, rec, r, f, m, seg, since_midnight = g
    # orders are created at 09:00 UTC, days_ago days before today
    rec_ref = int(row.last_ago) + math.floor((since_midnight - 9 * 3600) / 86400)
    if n != row.orders: bad["orders"].append(key)
    if rev != Decimal(int(row.revenue)): bad["revenue"].append(key)
    if last_ago != row.last_ago: bad["last"].append(key)
    if first_ago != row.first_ago: bad["first"].append(key)
    if rec != rec_ref: bad["recency"].append(key)
    if r != row.r: bad["R"].append(key)
    if f != row.f: bad["F"].append(key)
    if m != row.m: bad["M"].append(key)
    if seg != row.segment: bad["segment"].append(key)
for name, keys in bad.items():
    ok(not keys, "%s matches pandas for every row%s" % (name, "" if not keys else " (first bad: %s)" % (keys[:3],)))
# every score and every segment name appears, so the comparison covers them
ok(sorted(set(ref.r)) == [1, 2, 3, 4, 5] and sorted(set(ref.m)) == [1, 2, 3, 4, 5], "scores 1..5 all occur")
ok(len(set(ref.segment)) >= 8, "at least 8 segments occur (%d)" % len(set(ref.segment)))
