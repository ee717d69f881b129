#!/usr/bin/env python3
"""Cockpit facts benchmark on PostgreSQL: the nightly facts build against the bare GROUP BYs, and
the build after one late correction.

    .venv/bin/python bench/cockpit_bench.py --transactions 2400000 --cache  # as recorded in bench/README.md, ~1 h
    .venv/bin/python bench/cockpit_bench.py                      # 1,000,000 households, 12,000,000 transactions
    .venv/bin/python bench/cockpit_bench.py --households 100000 --transactions 1200000 --villages 30
    .venv/bin/python bench/cockpit_bench.py --database NAME --pairs 0   # a kept database: corrections, dashboard

--cache keeps the generated data as a template database (keyed by size, generator and migrations)
and copies it on the next run; --keep keeps the run's database, --database uses a kept one as it is.

What one run does (see bench/README.md, "Cockpit facts"):
1. creates its own database on the server of --database-url (default
   postgresql+psycopg://postgres@127.0.0.1:5432/postgres, or JIFEN_BENCH_ADMIN_URL), runs the
   migrations through the app and onboards one township (ranking_bench's `onboard`); with --cache
   it copies a template database of an earlier run instead, if one of the same size and code exists;
2. writes with INSERT … SELECT generate_series (foreign-key triggers off; the ledger's indexes and
   keys dropped during the load and rebuilt after, foreign keys validated): --villages villages,
   each with a four-level grid (1 large > 3 medium > 3 small each > 12 micro each: 121 nodes),
   --households households over the micro nodes (~30 each, 3 % moved out), a rulebook of 40 items
   in 6 categories adopted by every village, 75 % of the households signed, 25 % with a villager
   account; a year of ledger entries ending yesterday (--transactions in all): awards from
   applications and activities (popular items more often, active households more often),
   deductions, corrections of earlier entries (written 1-90 days after them, on the day they
   correct), store orders with their settling close (order: household -> RESERVED; close:
   RESERVED -> REDEEMED), each with its postings; ids are UUIDv7 stamped with the time the entry was
   written (as `new_id` makes them), all at least 3 hours ago; then the balances from the
   postings, VACUUM ANALYZE;
3. measures, alternating, --pairs times each (default 3; medians printed):
   (a) bare: the statements that compute the same facts, as plain GROUP BYs through bare psycopg,
       twice: into tables of the facts tables' shape (logged, their keys and index, rows in key
       order: the target's baseline) and into lean ones (unlogged, no key): the day facts and household months
       (`facts.day_facts_sql()`, `facts.household_months_sql()`, the build's own statements), the
       month rollups per scope (village, grid levels 1-4: item rows from the day facts, the
       all-flows row with participants from the household months; the township from the
       villages), tonight's coverage per scope and the points histogram per scope;
   (b) build: `facts.build(today, full=True)` in the township's scope, committed, as the job does;
       with the time of its parts;
4. checks that the build's facts equal the bare statements' (EXCEPT both ways, per table);
5. three times: a late correction (`ledger.correct` of an award posted ~5 months ago, committed)
   and the next `facts.build(today)` (incremental), timed with its parts; checks the corrected
   day's facts against the bare day-facts statement for that day and village;
6. the dashboard page over HTTP (--http, default on): the township admin's `/t/<slug>/cockpit/`
   (`dashboard`), every village in every month at random (`dashboard-mix`: mostly pages not kept
   yet, rendered by the request), the same after each of those pages was opened once
   (`dashboard-mix-kept`: pages read again, as the day goes on), and
   bench/baseline_app.py's ORM get under gunicorn, --connections 16, per worker class, with
   http_bench.py's servers and load generator (targets: p99 < 100 ms, >= 0.5 x the baseline);
7. prints the figures and the ratios (targets: full build / bare <= 1.5, incremental < 1 s) and
   drops the database (not the template).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

from bench.ranking_bench import GIVEN, SURNAMES, make_app, onboard, proc_cpu  # noqa: E402 - after the path
from bench.scratch import Database, log  # noqa: E402

LEDGER_TABLES = ("ledger_transactions", "ledger_postings")

# --- generation ----------------------------------------------------------------------------------

# A UUIDv7 stamped with `ts` (48-bit Unix milliseconds, version 7, random rest): ids compare by the
# time they were written, which the incremental build relies on. Dropped after the load.
UUID7 = """
CREATE FUNCTION bench_uuid7(ts timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT (substr(lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0'), 1, 8) || '-' ||
            substr(lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0'), 9, 4) || '-7' ||
            substr(gen_random_uuid()::text, 16))::uuid
$$"""

CATEGORIES = [("人居环境", "Living environment"), ("文明新风", "Civility"), ("志愿服务", "Volunteering"),
              ("孝老爱亲", "Family care"), ("平安建设", "Safety"), ("产业发展", "Enterprise")]

GENERATE = [
    ("uuid7 function", UUID7),
    ("villages", """
INSERT INTO villages (tenant_id, id, name, code, sort_order, created_at)
SELECT %(t)s, gen_random_uuid(), '村' || i, 'v' || lpad(i::text, 5, '0'), i, now()
FROM generate_series(1, %(villages)s) AS i"""),
    ("village numbers", """
CREATE TEMP TABLE v AS
SELECT row_number() OVER (ORDER BY code) - 1 AS i, id FROM villages WHERE tenant_id = %(t)s"""),
    ("grid: large", """
CREATE TEMP TABLE large AS SELECT i, gen_random_uuid() AS id, id AS village_id FROM v"""),
    ("grid: large rows", """
INSERT INTO grid_nodes (tenant_id, id, parent_id, level, name, village_id, path, sort_order, created_at)
SELECT %(t)s, id, NULL, 1, '大网格', village_id, '/' || id || '/', 0, now() FROM large"""),
    ("grid: medium", """
CREATE TEMP TABLE medium AS
SELECT l.i, m, gen_random_uuid() AS id, l.id AS parent, '/' || l.id || '/' AS ppath, l.village_id
FROM large l CROSS JOIN generate_series(0, 2) AS m"""),
    ("grid: medium rows", """
INSERT INTO grid_nodes (tenant_id, id, parent_id, level, name, village_id, path, sort_order, created_at)
SELECT %(t)s, id, parent, 2, '中网格' || m, village_id, ppath || id || '/', m, now() FROM medium"""),
    ("grid: small", """
CREATE TEMP TABLE small AS
SELECT md.i, md.m * 3 + s AS s, gen_random_uuid() AS id, md.id AS parent, md.ppath || md.id || '/' AS ppath,
       md.village_id
FROM medium md CROSS JOIN generate_series(0, 2) AS s"""),
    ("grid: small rows", """
INSERT INTO grid_nodes (tenant_id, id, parent_id, level, name, village_id, path, sort_order, created_at)
SELECT %(t)s, id, parent, 3, '小网格' || s, village_id, ppath || id || '/', s, now() FROM small"""),
    ("grid: micro", """
CREATE TEMP TABLE micro AS
SELECT sm.i, sm.s * 12 + u AS u, gen_random_uuid() AS id, sm.id AS parent, sm.ppath || sm.id || '/' AS ppath,
       sm.village_id
FROM small sm CROSS JOIN generate_series(0, 11) AS u"""),
    ("grid: micro rows", """
INSERT INTO grid_nodes (tenant_id, id, parent_id, level, name, village_id, path, sort_order, created_at)
SELECT %(t)s, id, parent, 4, '微网格' || u, village_id, ppath || id || '/', u, now() FROM micro"""),
    ("micro index", "CREATE INDEX ON micro (i, u)"),
    ("households", """
INSERT INTO households (tenant_id, id, village_id, grid_node_id, door_plate, head_name, head_pinyin, head_initials,
                        status, note, created_at, updated_at)
SELECT %(t)s, gen_random_uuid(), mi.village_id, mi.id, (n / %(villages)s + 1) || '号',
       substr(%(surnames)s, 1 + (n * 7) %% length(%(surnames)s), 1) ||
       substr(%(given)s, 1 + (n * 13) %% length(%(given)s), 1) ||
       CASE WHEN n %% 3 = 0 THEN '' ELSE substr(%(given)s, 1 + (n * 31) %% length(%(given)s), 1) END,
       'h' || lpad(((n::bigint * 7919) %% 100000)::text, 5, '0'), '',
       CASE WHEN random() < 0.03 THEN 'moved_out' ELSE 'active' END, '', now() - interval '2 years',
       now() - interval '2 years'
FROM generate_series(0, %(households)s - 1) AS n
JOIN micro mi ON mi.i = n %% %(villages)s AND mi.u = (n / %(villages)s) %% 108"""),
    # households numbered in random order: the skewed draws below make some households busy, many
    # quiet, in every village alike
    ("household numbers", """
CREATE TEMP TABLE hh AS
SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS i, id, village_id FROM households WHERE tenant_id = %(t)s"""),
    ("household numbers index", "CREATE UNIQUE INDEX ON hh (i)"),
    ("rule categories", """
INSERT INTO rule_categories (tenant_id, id, name_zh, name_en, sort_order)
SELECT %(t)s, gen_random_uuid(), zh, en, o FROM unnest(%(zh)s::text[], %(en)s::text[]) WITH ORDINALITY AS x(zh, en, o)"""),
    ("rulebook version", """
INSERT INTO rulebook_versions (tenant_id, id, number, title, status, created_at, assembly_date, attendance,
                               votes_for, votes_against, votes_abstain, adopted_on)
VALUES (%(t)s, gen_random_uuid(), 1, '积分规则（基准）', 'adopted', now() - interval '400 days',
        (now() - interval '400 days')::date, 60, 55, 2, 3, (now() - interval '400 days')::date)"""),
    # 30 awards (A01-A30) and 10 deductions (D01-D10), categories in turn, 1-10 points
    ("rule items", """
CREATE TEMP TABLE items AS
SELECT k - 1 AS k, gen_random_uuid() AS id, CASE WHEN k <= 30 THEN 'A' || lpad(k::text, 2, '0')
                                       ELSE 'D' || lpad((k - 30)::text, 2, '0') END AS code,
       1 + (k * 7) %% 10 AS points, k <= 30 AS award
FROM generate_series(1, 40) AS k"""),
    ("rule items rows", """
INSERT INTO rule_items (tenant_id, id, version_id, category_id, code, title_zh, title_en, description, direction,
                        points_min, points_max, points_default, unit, cap_points, cap_period, evidence_required,
                        initiator, review, sort_order)
SELECT %(t)s, i.id, (SELECT id FROM rulebook_versions WHERE tenant_id = %(t)s),
       (SELECT id FROM rule_categories WHERE tenant_id = %(t)s ORDER BY sort_order OFFSET i.k %% 6 LIMIT 1),
       i.code, '规则' || i.code, 'Rule ' || i.code, '', CASE WHEN i.award THEN 'award' ELSE 'deduction' END,
       1, 10, i.points, 'occurrence', NULL, NULL, false, 'household', 'certification', i.k
FROM items i"""),
    ("village rulebooks", """
INSERT INTO village_rulebooks (tenant_id, id, village_id, version_id, status, created_at, adopted_on)
SELECT %(t)s, gen_random_uuid(), v.id, (SELECT id FROM rulebook_versions WHERE tenant_id = %(t)s), 'adopted',
       now() - interval '390 days', (now() - interval '390 days')::date
FROM v"""),
    ("commitment signatures (75 %)", """
INSERT INTO commitment_signatures (tenant_id, id, village_rulebook_id, household_id, signed_on, signer_name,
                                   witness_name, created_at)
SELECT %(t)s, gen_random_uuid(), r.id, h.id, (now() - interval '380 days')::date, '户主', '', now() - interval '380 days'
FROM hh h JOIN village_rulebooks r ON r.tenant_id = %(t)s AND r.village_id = h.village_id
WHERE random() < 0.75"""),
    ("villager accounts (25 %)", """
CREATE TEMP TABLE acc AS
SELECT i, id AS household_id, gen_random_uuid() AS user_id, gen_random_uuid() AS assignment_id
FROM hh WHERE random() < 0.25"""),
    ("users", """
INSERT INTO users (tenant_id, id, username, display_name, status, created_at)
SELECT %(t)s, user_id, 'hh' || i, '户主' || i, 'active', now() - interval '300 days' FROM acc"""),
    ("role assignments", """
INSERT INTO role_assignments (tenant_id, id, user_id, role, created_at)
SELECT %(t)s, assignment_id, user_id, 'villager', now() - interval '300 days' FROM acc"""),
    ("role scopes", """
INSERT INTO role_scopes (tenant_id, id, assignment_id, scope_kind, scope_id)
SELECT %(t)s, gen_random_uuid(), assignment_id, 'household', household_id FROM acc"""),
    # --- a year of ledger entries, staged in unlogged tables first
    # earned entries (86 %% of --transactions): awards from applications (72 points of 86) and
    # activities (8), deductions (6); household drawn skewed (random()^1.6: busy and quiet ones),
    # items skewed towards the first awards; written 5-12 days after the conduct (a notice period)
    ("ledger: earned entries (staged)", """
CREATE UNLOGGED TABLE bench_entries AS
SELECT bench_uuid7(w.written) AS id, w.*, gen_random_uuid() AS source_id
FROM (
    SELECT CASE WHEN x.r < 72.0 / 86 THEN 'application' WHEN x.r < 80.0 / 86 THEN 'activity'
                ELSE 'application' END AS source_kind,
           h.id AS household_id, extract(year FROM x.day)::int AS period,
           CASE WHEN it.award THEN it.points ELSE -it.points END AS points,
           it.id AS item_id, it.code AS item_code, x.day AS occurred_on,
           LEAST(x.day + interval '5 days' + random() * interval '7 days', now() - interval '3 hours') AS written
    FROM (SELECT g, random() AS r, (%(start)s::date + floor(random() * 365)::int) AS day,
                 floor(%(households)s * power(random(), 1.6))::int AS hi, random() AS ri
          FROM generate_series(1, %(entries)s) AS g) x
    JOIN hh h ON h.i = x.hi
    JOIN items it ON it.k = CASE WHEN x.r < 80.0 / 86 THEN floor(30 * power(x.ri, 2))::int
                                 ELSE 30 + floor(10 * x.ri)::int END
) w"""),
    # corrections (2 %%): an award halved or a deduction undone, written 1-90 days after the entry
    ("ledger: corrections (staged)", """
CREATE UNLOGGED TABLE bench_corrections AS
SELECT bench_uuid7(c.written) AS id, c.*, gen_random_uuid() AS source_id
FROM (
    SELECT e.id AS reverses_id, e.household_id, e.period, e.item_id, e.item_code, e.occurred_on,
           CASE WHEN e.points > 0 THEN -(e.points - e.points / 2) ELSE -e.points END AS points,
           LEAST(e.written + interval '1 day' + random() * interval '89 days', now() - interval '3 hours') AS written
    FROM bench_entries e WHERE random() < %(corrections)s::float / %(entries)s
) c"""),
    # store orders (6 %%) and their closes (6 %%): 10-99 points, spent the next day
    ("ledger: store orders (staged)", """
CREATE UNLOGGED TABLE bench_orders AS
SELECT bench_uuid7(o.written) AS id, bench_uuid7(o.written + interval '1 day') AS close_id, o.*
FROM (
    SELECT gen_random_uuid() AS source_id, h.id AS household_id, extract(year FROM x.day)::int AS period, x.day,
           LEAST(x.day + interval '10 hours', now() - interval '1 day 3 hours') AS written,
           10 + floor(random() * 90)::int AS points
    FROM (SELECT floor(%(households)s * power(random(), 1.3))::int AS hi,
                 (%(start)s::date + floor(random() * 364)::int) AS day
          FROM generate_series(1, %(orders)s)) x
    JOIN hh h ON h.i = x.hi
) o"""),
    ("ledger_transactions", """
INSERT INTO ledger_transactions (tenant_id, id, source_kind, source_id, household_id, period, points, item_id,
                                 item_code, version_id, occurred_on, memo, certified_by, reverses_id, reason,
                                 created_by, created_by_name, created_at)
SELECT %(t)s, id, source_kind, source_id, household_id, period, points, item_id, item_code, version_id, occurred_on,
       memo, certified_by, reverses_id, reason, NULL, created_by_name, written
FROM (
    SELECT id, source_kind, source_id, household_id, period, points, item_id, item_code,
           (SELECT id FROM rulebook_versions WHERE tenant_id = %(t)s) AS version_id, occurred_on,
           '规则' || item_code AS memo, '评议组' AS certified_by, NULL::uuid AS reverses_id, '' AS reason,
           '网格员' AS created_by_name, written
    FROM bench_entries
    UNION ALL
    SELECT id, 'correction', source_id, household_id, period, points, item_id, item_code,
           (SELECT id FROM rulebook_versions WHERE tenant_id = %(t)s), occurred_on, '规则' || item_code, '',
           reverses_id, '核查更正', '管理员', written
    FROM bench_corrections
    UNION ALL
    SELECT id, 'order', source_id, household_id, period, 0, NULL, NULL, NULL, day, '积分超市', '', NULL, '',
           '超市管理员', written
    FROM bench_orders
    UNION ALL
    SELECT close_id, 'order_close', source_id, household_id, period, 0, NULL, NULL, NULL, day + 1, '积分超市',
           '', NULL, '', '超市管理员', written + interval '1 day'
    FROM bench_orders
) x ORDER BY id"""),  # heap in time order, as an append-only ledger is written
    ("ledger_postings", """
INSERT INTO ledger_postings (tenant_id, id, transaction_id, account, household_id, period, available, earned)
SELECT %(t)s, gen_random_uuid(), tx, account, household_id, period, available, earned FROM (
    SELECT id AS tx, 'household' AS account, household_id, period, points AS available, points AS earned
    FROM bench_entries
    UNION ALL
    SELECT id, CASE WHEN points > 0 THEN 'issued' ELSE 'deducted' END, NULL, period, -points, 0 FROM bench_entries
    UNION ALL
    SELECT id, 'household', household_id, period, points, points FROM bench_corrections
    UNION ALL
    SELECT id, CASE WHEN points < 0 THEN 'issued' ELSE 'deducted' END, NULL, period, -points, 0
    FROM bench_corrections
    UNION ALL
    SELECT id, 'household', household_id, period, -points, 0 FROM bench_orders
    UNION ALL
    SELECT id, 'reserved', NULL, period, points, 0 FROM bench_orders
    UNION ALL
    SELECT close_id, 'reserved', NULL, period, -points, 0 FROM bench_orders
    UNION ALL
    SELECT close_id, 'redeemed', NULL, period, points, 0 FROM bench_orders
) x ORDER BY tx"""),
    # the cached balances from the postings (a household overspent by the random draws is held at 0:
    # the generated entries are not replayed one by one under the posting rule)
    ("household_balances", """
INSERT INTO household_balances (tenant_id, id, household_id, period, earned, available, updated_at)
SELECT %(t)s, gen_random_uuid(), household_id, period, SUM(earned), GREATEST(SUM(available), 0), now()
FROM ledger_postings WHERE tenant_id = %(t)s AND account = 'household' GROUP BY household_id, period"""),
    ("drop staging", "DROP TABLE bench_entries, bench_corrections, bench_orders"),
    ("drop uuid7 function", "DROP FUNCTION bench_uuid7(timestamptz)"),
]


def ledger_schema(conn) -> tuple[list, list, list]:
    """The ledger tables' keys, indexes and the foreign keys into or out of them, as the migrations
    made them: (drop statements, create statements for keys and indexes, foreign keys to add)."""
    tables = "ARRAY['ledger_transactions', 'ledger_postings']::regclass[]"
    fks = conn.execute(f"""SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE contype = 'f' AND (conrelid = ANY({tables}) OR confrelid = ANY({tables}))""").fetchall()
    keys = conn.execute(f"""SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE contype IN ('p', 'u') AND conrelid = ANY({tables})""").fetchall()
    indexes = conn.execute(f"""SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
        WHERE i.indrelid = ANY({tables})
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""").fetchall()
    drops = [f'ALTER TABLE {t} DROP CONSTRAINT "{n}"' for t, n, _d in fks] + \
            [f'ALTER TABLE {t} DROP CONSTRAINT "{n}"' for t, n, _d in keys] + [f'DROP INDEX "{n}"' for n, _d in indexes]
    creates = [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, d in keys] + [d for _n, d in indexes]
    foreign = [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, d in fks]
    return drops, creates, foreign


def generate(dsn: str, tenant_id, args, start) -> None:
    import psycopg

    entries = round(args.transactions * 0.86)
    corrections = round(args.transactions * 0.02)
    orders = round(args.transactions * 0.06)
    params = {"t": tenant_id, "villages": args.villages, "households": args.households, "surnames": SURNAMES,
              "given": GIVEN, "zh": [c[0] for c in CATEGORIES], "en": [c[1] for c in CATEGORIES], "start": start, "entries": entries,
              "corrections": corrections, "orders": orders}
    with psycopg.connect(dsn) as conn:
        conn.execute("SET session_replication_role = replica")  # generated rows: skip the foreign-key triggers
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET maintenance_work_mem = '1GB'")
        drops, creates, foreign = ledger_schema(conn)
        for sql in drops:
            conn.execute(sql)
        for label, sql in GENERATE:
            t0 = time.perf_counter()
            cur = conn.execute(sql, params)
            log(f"  {label}: {cur.rowcount if cur.rowcount >= 0 else ''} ({time.perf_counter() - t0:.1f} s)")
            if label in ("grid: micro rows", "households"):
                conn.execute("ANALYZE grid_nodes, households")
        for sql in creates + foreign:  # keys and indexes by sorting, not row by row; foreign keys validated
            t0 = time.perf_counter()
            conn.execute(sql)
            log(f"  {sql[:90]} ({time.perf_counter() - t0:.1f} s)")
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        t0 = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        log(f"  VACUUM ANALYZE ({time.perf_counter() - t0:.1f} s)")


def data_key(args) -> str:
    """What the generated data depends on: its size, the generator and the schema's migrations."""
    migrations = sorted(p.name for p in (ROOT / "migrations" / "versions").glob("*.py"))
    text_ = json.dumps([args.households, args.transactions, args.villages, GENERATE, migrations])
    return hashlib.sha1(text_.encode()).hexdigest()[:10]


# --- (a) the bare statements ---------------------------------------------------------------------

def psycopg_sql(sql: str) -> str:
    """SQLAlchemy's `:name` parameters as psycopg's `%(name)s` (the facts' SQL has no `%` or `::`)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)


SHAPES = ("lean", "same")  # the bare side's tables: see bare_statements


def bare_statements(shape: str) -> list[tuple[str, str]]:
    """(part, SQL): the facts as plain `INSERT/CREATE … SELECT … GROUP BY`s through bare psycopg, into
    tables of one of two shapes: "lean", unlogged tables with no key or index (the cheapest place a
    result can be written); "same", logged tables `LIKE` the facts tables (their primary keys and
    indexes, as the build must keep them), rows in key order. Coverage and the histogram are
    small and written lean in both. Needs an app context (the facts module's SQL is dialect-aware)."""
    from jifen.tenants.cockpit import facts
    from jifen.tenants.cockpit.models import MEASURES
    from jifen.tenants.villages.models import LEVELS
    from jifen.tenants.villages.scopes import branch_sql

    measures = ", ".join(MEASURES)
    sums = ", ".join(f"SUM(f.{m}) AS {m}" for m in MEASURES)
    participants = "SUM(CASE WHEN f.entries > 0 AND h.status = 'active' THEN 1 ELSE 0 END)"  # of those there now
    rows = "day facts + household months"  # the build's part of the same name
    month_cols = f"month, scope_kind, scope_id, village_id, item_id, participants, {measures}"
    if shape == "lean":
        out = [(rows, f"CREATE UNLOGGED TABLE bare_day AS {facts.day_facts_sql()}"),
               (rows, f"CREATE UNLOGGED TABLE bare_household_months AS {facts.household_months_sql()}"),
               ("month facts", f"""CREATE UNLOGGED TABLE bare_month AS
                    SELECT NULL::date AS month, NULL::text AS scope_kind, NULL::uuid AS scope_id,
                           NULL::uuid AS village_id, NULL::uuid AS item_id, 0::bigint AS participants,
                           {', '.join(f'0::bigint AS {m}' for m in MEASURES)} WHERE false""")]
        into, tenant = f"bare_month ({month_cols})", ""
    else:
        out = [(rows, "CREATE TABLE bare_day (LIKE cockpit_day_facts INCLUDING ALL)"),
               (rows, f"""INSERT INTO bare_day (tenant_id, day, village_id, grid_node_id, item_id, {measures})
                    SELECT :tenant_id, f.* FROM ({facts.day_facts_sql()}) f
                    ORDER BY village_id, day, grid_node_id, item_id"""),
               (rows, "CREATE TABLE bare_household_months (LIKE cockpit_household_months INCLUDING ALL)"),
               (rows, f"""INSERT INTO bare_household_months
                    (tenant_id, household_id, month, village_id, grid_node_id, {measures})
                    SELECT :tenant_id, f.* FROM ({facts.household_months_sql()}) f ORDER BY household_id, month"""),
               ("month facts", "CREATE TABLE bare_month (LIKE cockpit_month_facts INCLUDING ALL)")]
        into, tenant = f"bare_month (tenant_id, {month_cols})", ":tenant_id, "
    month = facts.month_of("f.day")
    for scope_id, kind, extra in [("f.village_id", "'village'", "")] + [
            (f"b.grid{k}", "'grid'", f"AND b.grid{k} IS NOT NULL") for k in LEVELS]:
        out.append(("month facts", f"""WITH branch AS ({branch_sql()})
            INSERT INTO {into}
            SELECT {tenant}{month}, {kind}, {scope_id}, f.village_id, f.item_id, 0, {sums}
            FROM bare_day f LEFT JOIN branch b ON b.node_id = f.grid_node_id
            WHERE f.item_id <> :none {extra}
            GROUP BY {month}, {scope_id}, f.village_id, f.item_id"""))
        out.append(("month facts", f"""WITH branch AS ({branch_sql()})
            INSERT INTO {into}
            SELECT {tenant}f.month, {kind}, {scope_id}, f.village_id, :none, {participants}, {sums}
            FROM bare_household_months f LEFT JOIN branch b ON b.node_id = f.grid_node_id
            JOIN households h ON h.tenant_id = :tenant_id AND h.id = f.household_id
            WHERE true {extra}
            GROUP BY f.month, {scope_id}, f.village_id"""))
    out.append(("month facts", f"""INSERT INTO {into}
        SELECT {tenant}month, 'township', :tenant_id, :none, item_id, SUM(participants), {sums}
        FROM bare_month f WHERE scope_kind = 'village' GROUP BY month, item_id"""))
    # tonight's coverage and the histogram: the build's statements (facts._coverage, facts._histogram)
    coverage_base = f"""WITH branch AS ({branch_sql()}),
        accounts AS (
            SELECT DISTINCT s.scope_id AS household_id FROM role_scopes s
            JOIN role_assignments a ON a.tenant_id = s.tenant_id AND a.id = s.assignment_id
            JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.user_id
            WHERE s.tenant_id = :tenant_id AND a.role = 'villager' AND s.scope_kind = 'household'
              AND u.status = 'active'),
        signed AS (SELECT DISTINCT c.household_id FROM commitment_signatures c WHERE c.tenant_id = :tenant_id),
        hh AS (
            SELECT h.village_id, b.grid1, b.grid2, b.grid3, b.grid4,
                   CASE WHEN a.household_id IS NULL THEN 0 ELSE 1 END AS with_account,
                   CASE WHEN s.household_id IS NULL THEN 0 ELSE 1 END AS signed
            FROM households h
            LEFT JOIN branch b ON b.node_id = h.grid_node_id
            LEFT JOIN accounts a ON a.household_id = h.id
            LEFT JOIN signed s ON s.household_id = h.id
            WHERE h.tenant_id = :tenant_id AND h.status = 'active')"""
    out.append(("coverage", """CREATE UNLOGGED TABLE bare_coverage (scope_kind text, scope_id uuid, village_id uuid,
        households bigint, with_account bigint, signed bigint)"""))
    histogram_base = f"""WITH branch AS ({branch_sql()}),
        hh AS (
            SELECT h.village_id, b.grid1, b.grid2, b.grid3, b.grid4,
                   CASE WHEN COALESCE(x.earned, 0) >= 0 THEN COALESCE(x.earned, 0) / :width * :width
                        ELSE -((-x.earned + :width - 1) / :width) * :width END AS bucket
            FROM households h
            LEFT JOIN household_balances x ON x.tenant_id = h.tenant_id AND x.household_id = h.id
                                          AND x.period = :period
            LEFT JOIN branch b ON b.node_id = h.grid_node_id
            WHERE h.tenant_id = :tenant_id AND h.status = 'active')"""
    out.append(("histogram", """CREATE UNLOGGED TABLE bare_histogram (scope_kind text, scope_id uuid, bucket int,
        households bigint)"""))
    # a grid node's rows carry the node's own village (None above villages), as the build's do
    node = "JOIN grid_nodes n ON n.tenant_id = :tenant_id AND n.id = hh.grid{k}"
    scopes = [(":tenant_id", "'township'", "NULL", "", "")] + [("hh.village_id", "'village'", "hh.village_id", "", "")] + [
        (f"hh.grid{k}", "'grid'", "n.village_id", "", node.format(k=k)) for k in LEVELS]
    for scope_id, kind, village, where, join in scopes:
        group = "" if scope_id == ":tenant_id" else f"GROUP BY {scope_id}" + (f", {village}" if village != "NULL" else "")
        out.append(("coverage", f"""{coverage_base} INSERT INTO bare_coverage
            SELECT {kind}, {scope_id}, {village}, COUNT(*), COALESCE(SUM(with_account), 0), COALESCE(SUM(signed), 0)
            FROM hh {join} {where} {group}"""))
    out.append(("histogram", "SELECT COALESCE(MAX(earned), 0) FROM household_balances "
                             "WHERE tenant_id = :tenant_id AND period = :period"))
    for scope_id, kind, _village, _where, _join in scopes:
        group = "GROUP BY bucket" if scope_id == ":tenant_id" else f"GROUP BY {scope_id}, bucket"
        grid = f"WHERE {scope_id} IS NOT NULL" if "grid" in scope_id else ""
        out.append(("histogram", f"""{histogram_base} INSERT INTO bare_histogram
            SELECT {kind}, {scope_id}, bucket, COUNT(*) FROM hh {grid} {group}"""))
    assert measures
    return [(part, psycopg_sql(sql)) for part, sql in out]


BARE_TABLES = ("bare_day", "bare_household_months", "bare_month", "bare_coverage", "bare_histogram")


def bare(dsn: str, statements, tenant_id, period: int, shape: str) -> tuple[float, float, dict]:
    import psycopg

    from jifen.tenants.cockpit.facts import bucket_width
    from jifen.tenants.cockpit.models import NO_ID

    parts: dict = {}
    with psycopg.connect(dsn) as conn:
        conn.execute("DROP TABLE IF EXISTS " + ", ".join(BARE_TABLES))
        conn.commit()
        backend = conn.info.backend_pid
        cpu0, t0 = proc_cpu(backend), time.perf_counter()
        params = {"tenant_id": tenant_id, "period": period, "none": NO_ID}
        for part, sql in statements:
            p0 = time.perf_counter()
            cur = conn.execute(sql, params)
            if sql.startswith("SELECT COALESCE(MAX(earned)"):
                params["width"] = bucket_width(int(cur.fetchone()[0]))  # as the build picks it
            parts[part] = parts.get(part, 0.0) + time.perf_counter() - p0
        p0 = time.perf_counter()
        conn.commit()
        parts["commit"] = time.perf_counter() - p0
        elapsed, cpu = time.perf_counter() - t0, proc_cpu(backend) - cpu0
    log(f"bare ({shape}): {elapsed:.2f} s (database CPU {cpu:.2f} s) " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    return elapsed, cpu, parts


# --- (b) the build -------------------------------------------------------------------------------

PARTS = {"_rebuild_all": "day facts + household months", "_rebuild_since": "day facts + household months",
         "_month_facts": "month facts", "_coverage": "coverage", "_histogram": "histogram"}


class Timed:
    """Times the build's parts by wrapping the facts module's functions the build calls (the
    module's own code runs unchanged)."""

    def __init__(self):
        from jifen.tenants.cockpit import facts

        self.parts: dict = {}
        for name, label in PARTS.items():
            setattr(facts, name, self._wrap(getattr(facts, name), label))

    def _wrap(self, fn, label):
        def timed(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.parts[label] = self.parts.get(label, 0.0) + time.perf_counter() - t0
        return timed

    def take(self) -> dict:
        parts, self.parts = self.parts, {}
        return parts


def build(app, tenant_id, day, timed: Timed, *, full: bool) -> tuple[float, float, dict, dict]:
    from sqlalchemy import text

    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.cockpit import facts

    with app.app_context(), tenant_scope(db.session.get(Tenant, tenant_id)):
        backend = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        db.session.commit()
        timed.take()
        own0 = time.process_time()
        cpu0, t0 = proc_cpu(backend), time.perf_counter()
        result = facts.build(day, full=full)
        p0 = time.perf_counter()
        db.session.commit()
        commit = time.perf_counter() - p0
        elapsed = time.perf_counter() - t0
        cpu = proc_cpu(backend) - cpu0 + time.process_time() - own0
        parts = timed.take() | {"commit": commit}
    parts["other"] = elapsed - sum(parts.values())
    log(f"build ({'full' if full else 'incremental'}): {elapsed:.2f} s (database + Python CPU {cpu:.2f} s) "
        + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()) + f"; {result}")
    return elapsed, cpu, parts, result


# --- checks ----------------------------------------------------------------------------------------

def check_same(dsn: str, tenant_id, day, period: int) -> dict:
    """Rows differing between the build's facts and the bare statements' (EXCEPT both ways)."""
    import psycopg

    from jifen.tenants.cockpit.models import MEASURES

    m = ", ".join(MEASURES)
    pairs = {
        "day facts": (f"SELECT day, village_id, grid_node_id, item_id, {m} FROM cockpit_day_facts WHERE tenant_id = %(t)s",
                      f"SELECT day, village_id, grid_node_id, item_id, {m} FROM bare_day"),
        "household months": (f"""SELECT household_id, month, village_id, grid_node_id, {m} FROM cockpit_household_months
                                 WHERE tenant_id = %(t)s""",
                             f"SELECT household_id, month, village_id, grid_node_id, {m} FROM bare_household_months"),
        "month facts": (f"""SELECT month, scope_kind, scope_id, village_id, item_id, participants, {m}
                            FROM cockpit_month_facts WHERE tenant_id = %(t)s""",
                        f"SELECT month, scope_kind, scope_id, village_id, item_id, participants, {m} FROM bare_month"),
        "coverage": ("""SELECT scope_kind, scope_id, village_id, households, with_account, signed
                        FROM cockpit_coverage_facts WHERE tenant_id = %(t)s AND day = %(d)s""",
                     "SELECT scope_kind, scope_id, village_id, households, with_account, signed FROM bare_coverage"),
        "histogram": ("""SELECT scope_kind, scope_id, bucket, households FROM cockpit_points_histograms
                         WHERE tenant_id = %(t)s AND period = %(p)s""",
                      "SELECT scope_kind, scope_id, bucket, households FROM bare_histogram"),
    }
    out = {}
    with psycopg.connect(dsn) as conn:
        for label, (ours, theirs) in pairs.items():
            n, diff = conn.execute(f"""SELECT (SELECT count(*) FROM ({theirs}) a),
                (SELECT count(*) FROM (({ours} EXCEPT {theirs}) UNION ALL ({theirs} EXCEPT {ours})) x)""",
                                   {"t": tenant_id, "d": day, "p": period}).fetchone()
            out[label] = {"rows": n, "differing": diff}
    log(f"build vs bare: {out}")
    return out


def late_correction(app, tenant_id, today) -> dict:
    """Correct an award posted about five months ago (to 0), as an admin's correction does; commit."""
    from sqlalchemy import select

    from jifen.platform.db import db, new_id
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.households.models import Household
    from jifen.tenants.points import ledger
    from jifen.tenants.points.models import LedgerTransaction

    with app.app_context(), tenant_scope(db.session.get(Tenant, tenant_id)):
        day = today - timedelta(days=150)
        corrected = select(LedgerTransaction.reverses_id).where(LedgerTransaction.reverses_id.is_not(None))
        tx = db.session.execute(select(LedgerTransaction).where(
            LedgerTransaction.occurred_on == day, LedgerTransaction.source_kind == "application",
            LedgerTransaction.points > 0, LedgerTransaction.id.not_in(corrected)).limit(1)).scalar_one()
        village = db.session.execute(select(Household.village_id).where(Household.id == tx.household_id)).scalar_one()
        t0 = time.perf_counter()
        ledger.correct(tx, new_points=0, reason="基准：补录更正", request_id=new_id(), created_by_name="管理员")
        db.session.commit()
        took = time.perf_counter() - t0
    log(f"late correction of an entry of {day} ({tx.points} points): {took * 1000:.0f} ms")
    return {"day": day, "village_id": village, "points": tx.points}


def check_day(dsn: str, app, tenant_id, day, village_id) -> int:
    """Rows differing between the build's day facts of (day, village) and the bare statement's."""
    import psycopg

    from jifen.tenants.cockpit import facts
    from jifen.tenants.cockpit.models import MEASURES, NO_ID

    with app.app_context():
        sql = psycopg_sql(facts.day_facts_sql("AND t.occurred_on = :day AND h.village_id = :village"))
    m = ", ".join(MEASURES)
    ours = f"""SELECT day, village_id, grid_node_id, item_id, {m} FROM cockpit_day_facts
               WHERE tenant_id = %(tenant_id)s AND day = %(day)s AND village_id = %(village)s"""
    theirs = f"SELECT day, village_id, grid_node_id, item_id, {m} FROM ({sql}) b"
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT count(*) FROM (({ours} EXCEPT {theirs}) UNION ALL ({theirs} EXCEPT {ours})) x",
                            {"tenant_id": tenant_id, "day": day, "village": village_id, "none": NO_ID}).fetchone()[0]


def counts(dsn: str, tenant_id) -> dict:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("""SELECT (SELECT count(*) FROM households WHERE tenant_id = %(t)s),
                                     (SELECT count(*) FROM villages WHERE tenant_id = %(t)s),
                                     (SELECT count(*) FROM grid_nodes WHERE tenant_id = %(t)s),
                                     (SELECT count(*) FROM ledger_transactions WHERE tenant_id = %(t)s),
                                     (SELECT count(*) FROM ledger_postings WHERE tenant_id = %(t)s),
                                     (SELECT min(occurred_on) FROM ledger_transactions WHERE tenant_id = %(t)s),
                                     (SELECT max(occurred_on) FROM ledger_transactions WHERE tenant_id = %(t)s),
                                     pg_database_size(current_database())""", {"t": tenant_id}).fetchone()
    keys = ("households", "villages", "grid_nodes", "transactions", "postings", "first_day", "last_day", "bytes")
    return dict(zip(keys, row, strict=True))


# --- (c) the dashboard page over HTTP --------------------------------------------------------------

PASSWORD = "Bench-password-2026"


def dashboard_http(args, database: Database, app, tenant_id) -> list[dict]:
    """The township dashboard page at --connections connections against the bare ORM get, the way
    bench/http_bench.py measures (its servers, load generator and baseline app; production
    settings), per worker class in --worker-class. The admin signs in through the login form."""
    import secrets as secrets_

    from sqlalchemy import select

    from bench import http_bench as hb
    from jifen.platform.accounts import passwords
    from jifen.platform.accounts.models import User
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.villages.models import Village

    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        slug = tenant.slug
        with tenant_scope(tenant):
            admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
            admin.password_hash = passwords.hash_password(PASSWORD)
            villages = [str(v) for v in db.session.execute(select(Village.id).order_by(Village.code)).scalars()]
            village_id = villages[0]
            db.session.commit()
        db.engine.dispose()
    hb.TENANT, hb.USERNAME, hb.PASSWORD = slug, "admin", PASSWORD  # the page sign-in of http_bench, here
    secret = secrets_.token_urlsafe(48)
    redis_url = os.environ.get("JIFEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    prefix = f"jifen-bench-{os.getpid()}-{secrets_.token_hex(4)}"
    logdir = Path(__import__("tempfile").mkdtemp(prefix="jifen-cockpit-bench-"))
    loadgen = "wrk" if __import__("shutil").which("wrk") else "python"
    results, servers = [], []
    try:
        for worker_class in args.worker_class or ["sync", "gthread"]:
            env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
            env |= {"JIFEN_ENV": "production", "JIFEN_SECRET_KEY": secret, "JIFEN_DATABASE_URL": database.url,
                    "JIFEN_REDIS_URL": redis_url, "JIFEN_WORKER_CLASS": worker_class, **hb.id_keys(secret),
                    "JIFEN_RATELIMIT_KEY_PREFIX": prefix, "JIFEN_GRACEFUL_TIMEOUT": "10", "PYTHONUNBUFFERED": "1"}
            real = hb.Server(f"jifen-{worker_class}", "jifen:create_app()", env, logdir)
            base = hb.Server(f"baseline-{worker_class}", "baseline_app:create_app()", env, logdir,
                             ["--pythonpath", str(ROOT / "bench")])
            servers += [real, base]
            real.wait_ready(timeout=180)  # five workers each creating the app: slow on a busy machine
            base.wait_ready(timeout=180)
            cookie = hb.page_session(real.base)
            # the default view again and again (a hall's screen, leaders opening the page), and every
            # village in every month of the year at random (most requests render a page not kept yet)
            year = date.today().year
            mix = [f"/t/{slug}/cockpit/?village={v}&month={year}-{m:02d}" for v in villages for m in range(1, 13)]
            targets = [("dashboard", real, f"/t/{slug}/cockpit/", {"Cookie": cookie}, b"cockpit", None),
                       ("dashboard-mix", real, mix[0], {"Cookie": cookie}, b"cockpit", mix),
                       ("dashboard-mix-kept", real, mix[0], {"Cookie": cookie}, b"cockpit", mix),
                       ("baseline", base, f"/villages/{tenant_id}/{village_id}", {}, village_id.encode(), None)]
            rows = []
            for name, server, path, headers, expect, paths in targets:
                url = server.base + path
                t0 = time.perf_counter()
                hb.check_answer(name, url, headers, expect)
                first_ms = (time.perf_counter() - t0) * 1000
                if name == "dashboard-mix-kept":  # every page of the mix opened once before: all kept
                    log(f"opening each of the {len(paths)} pages of the mix once ({time.perf_counter() - t0:.0f} s)")
                    open_each(server.base, paths, headers, args.connections)
                if args.warmup > 0:
                    hb.drive(loadgen, url, headers, args.connections, args.warmup, paths)
                hb.wait_quiet(15)
                others = hb.OtherCpu([real.proc.pid, base.proc.pid], database.name)
                n, secs, rps, p50, p99, errors = hb.drive(loadgen, url, headers, args.connections, args.duration, paths)
                other = others.share()
                rows.append({"worker_class": worker_class, "target": name, "requests": n, "rps": rps, "p50_ms": p50,
                             "p99_ms": p99, "errors": errors, "other_cpu": other, "first_ms": first_ms})
                log(f"{worker_class:7} {name:9} {rps:8.1f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
                    f"errors {errors}  other CPU {other if other is None else f'{other:.0%}'}")
            for row in rows[:-1]:
                row["ratio"] = row["rps"] / rows[-1]["rps"] if rows[-1]["rps"] else None
            results += rows
            for s in (real, base):
                s.stop()
                servers.remove(s)
    finally:
        for s in servers:
            s.stop()
        hb.forget_ratelimits(redis_url, prefix)
    return results


def open_each(base: str, paths: list, headers: dict, connections: int) -> None:
    """GET every path once, `connections` at a time (renders and keeps each page)."""
    from concurrent.futures import ThreadPoolExecutor

    from bench import http_bench as hb

    def get(path):
        status, _, _ = hb.request("GET", base + path, headers=headers)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(get, paths))


# --- the run ----------------------------------------------------------------------------------------

def template_name(args) -> str:
    return f"jifen_cockpit_bench_tmpl_{data_key(args)}"


def template_exists(admin_url: str, name: str) -> bool:
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def save_template(database: Database, name: str) -> None:
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(database.admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{database.name}" STRATEGY = FILE_COPY')
    log(f"saved the generated data as template {name} ({time.perf_counter() - t0:.1f} s)")


class Existing:
    """A database of an earlier run (--keep, or a run stopped with SIGKILL), used as it is and kept."""

    def __init__(self, url: str, name: str):
        from sqlalchemy.engine import make_url

        base = make_url(url)
        self.admin = base.set(drivername="postgresql", database=base.database or "postgres")
        self.name = name
        self.dsn = self.admin.set(database=name).render_as_string(hide_password=False)
        self.url = base.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)

    def drop(self) -> None:
        log(f"kept database {self.name}")


def facts_built(dsn: str, tenant_id) -> bool:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT 1 FROM cockpit_facts_state WHERE tenant_id = %s AND counted_through IS NOT NULL",
                            (tenant_id,)).fetchone() is not None


def median(values):
    return statistics.median(values)


def measure_facts(args, database: Database, app, tenant_id, today, size) -> dict:
    """Steps 3-5 of the docstring; prints the tables, returns the figures (and "ok": the checks)."""
    period = today.year
    with app.app_context():
        statements = {shape: bare_statements(shape) for shape in SHAPES}
    timed = Timed()
    load0 = os.getloadavg()
    bare_s, bare_cpu, bare_parts, full_s, full_cpu, full_parts = [], [], [], [], [], []
    lean_s, lean_cpu, lean_parts = [], [], []
    for _ in range(args.pairs):
        elapsed, cpu, parts = bare(database.dsn, statements["lean"], tenant_id, period, "lean")
        lean_s.append(elapsed)
        lean_cpu.append(cpu)
        lean_parts.append(parts)
        elapsed, cpu, parts = bare(database.dsn, statements["same"], tenant_id, period, "same")
        bare_s.append(elapsed)
        bare_cpu.append(cpu)
        bare_parts.append(parts)
        elapsed, cpu, parts, _result = build(app, tenant_id, today, timed, full=True)
        full_s.append(elapsed)
        full_cpu.append(cpu)
        full_parts.append(parts)
    load1 = os.getloadavg()
    same = check_same(database.dsn, tenant_id, today, period)

    ratio = median(full_s) / median(bare_s)
    cpu_ratio = median(full_cpu) / median(bare_cpu)
    lean_ratio = median(full_s) / median(lean_s)
    n = args.pairs

    def cells(values, fmt="{:.2f}"):
        return " | ".join(fmt.format(v) for v in values)

    print(f"\nCockpit facts, {size['households']:,} households in {size['villages']} villages "
          f"({size['grid_nodes']:,} grid nodes), {size['transactions']:,} ledger transactions "
          f"({size['postings']:,} postings) from {size['first_day']} to {size['last_day']}, database "
          f"{size['bytes'] / 2**30:.1f} GB, PostgreSQL; load average {load0[0]:.1f} before, {load1[0]:.1f} after "
          f"the full builds\n")
    print("| | " + " | ".join(f"pair {i + 1}" for i in range(n)) + " | median |")
    print("|---|" + "---:|" * (n + 1))
    print(f"| (a) bare GROUP BYs into the facts tables' shape, s | {cells(bare_s)} | {median(bare_s):.2f} |")
    print(f"| (a0) bare GROUP BYs into lean tables (unlogged, no key), s | {cells(lean_s)} | {median(lean_s):.2f} |")
    print(f"| (b) facts.build(full=True) + commit, s | {cells(full_s)} | {median(full_s):.2f} |")
    print(f"| **build / bare (wall)** | {cells([f / b for f, b in zip(full_s, bare_s, strict=True)])} | "
          f"**{ratio:.2f}** ({'met' if ratio <= 1.5 else 'missed'}: <= 1.5) |")
    print(f"| build / lean bare (wall) | {cells([f / b for f, b in zip(full_s, lean_s, strict=True)])} | "
          f"{lean_ratio:.2f} |")
    print(f"| (a) database CPU, s | {cells(bare_cpu)} | {median(bare_cpu):.2f} |")
    print(f"| (b) database + Python CPU, s | {cells(full_cpu)} | {median(full_cpu):.2f} |")
    print(f"| build / bare (CPU) | {cells([f / b for f, b in zip(full_cpu, bare_cpu, strict=True)])} | "
          f"{cpu_ratio:.2f} |")
    labels = list(dict.fromkeys([*PARTS.values(), "commit", "other"]))
    print("\n| part (median s) | lean bare | bare | build | build / bare |\n|---|---:|---:|---:|---:|")
    for label in labels:
        b0 = median([p.get(label, 0.0) for p in lean_parts])
        b = median([p.get(label, 0.0) for p in bare_parts])
        f = median([p.get(label, 0.0) for p in full_parts])
        print(f"| {label} | {b0:.2f} | {b:.2f} | {f:.2f} | {f'{f / b:.2f}' if b >= 0.005 else '–'} |")
    print("\nbuild vs bare, rows differing: " + "; ".join(
        f"{k} {v['differing']} of {v['rows']:,}" for k, v in same.items()))
    inc = incremental(args, database, app, tenant_id, today, timed)
    ok = all(v["differing"] == 0 for v in same.values()) and inc["ok"]
    return {"ok": ok, "bare_s": bare_s, "lean_s": lean_s, "lean_ratio": lean_ratio, "full_s": full_s, "bare_cpu": bare_cpu, "full_cpu": full_cpu,
            "bare_parts": bare_parts, "full_parts": full_parts, "ratio": ratio, "cpu_ratio": cpu_ratio,
            "same": same} | inc


def incremental(args, database: Database, app, tenant_id, today, timed: Timed) -> dict:
    """Step 5: --corrections times a late correction and the build after it; prints the table."""
    inc_s, inc_cpu, inc_parts, inc_diff, inc_results = [], [], [], [], []
    for _ in range(args.corrections):
        corrected = late_correction(app, tenant_id, today)
        elapsed, cpu, parts, result = build(app, tenant_id, today, timed, full=False)
        inc_s.append(elapsed)
        inc_cpu.append(cpu)
        inc_parts.append(parts)
        inc_results.append(result)
        inc_diff.append(check_day(database.dsn, app, tenant_id, corrected["day"], corrected["village_id"]))
    labels = list(dict.fromkeys([*PARTS.values(), "commit", "other"]))

    def cells(values, fmt="{:.2f}"):
        return " | ".join(fmt.format(v) for v in values)

    if inc_s:
        print("\n| after one late correction | " + " | ".join(f"{i + 1}" for i in range(len(inc_s)))
              + " | median |\n|---|" + "---:|" * (len(inc_s) + 1))
        print(f"| **facts.build (incremental) + commit, s** | {cells(inc_s)} | **{median(inc_s):.2f}** "
              f"({'met' if median(inc_s) < 1 else 'missed'}: < 1) |")
        print(f"| database + Python CPU, s | {cells(inc_cpu)} | {median(inc_cpu):.2f} |")
        for label in labels:
            print(f"| {label}, s | {cells([p.get(label, 0.0) for p in inc_parts])} | "
                  f"{median([p.get(label, 0.0) for p in inc_parts]):.2f} |")
        print(f"\ncorrected day's facts differing from the bare statement: {inc_diff}; what the last build "
              f"rewrote: {inc_results[-1]}")
    return {"ok": not any(inc_diff), "incremental_s": inc_s, "incremental_cpu": inc_cpu,
            "incremental_parts": inc_parts, "incremental_diff": inc_diff, "incremental_results": inc_results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("JIFEN_BENCH_ADMIN_URL", DEFAULT_ADMIN))
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=12_000_000, help="ledger transactions in the year")
    parser.add_argument("--villages", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=3, help="bare/full-build measurements, alternating")
    parser.add_argument("--corrections", type=int, default=3, help="late corrections, each with a build after it")
    parser.add_argument("--cache", action="store_true",
                        help="reuse (or leave behind) a template database with the generated data")
    parser.add_argument("--keep", action="store_true", help="do not drop the database (prints its name)")
    parser.add_argument("--database", help="use this database of an earlier run as it is (kept)")
    parser.add_argument("--http", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the dashboard page over HTTP (default on)")
    parser.add_argument("--worker-class", action="append", choices=["sync", "gthread"])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per HTTP target")
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--skip-facts", action="store_true", help="build once, untimed; measure only HTTP")
    parser.add_argument("--json")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # drop the database on kill too
    template = template_name(args)
    cached = args.cache and template_exists(args.database_url, template)
    t0 = time.perf_counter()
    if args.database:
        database, cached = Existing(args.database_url, args.database), True
    else:
        database = Database(args.database_url, "cockpit", template=template if cached else None)
    try:
        app = make_app(database.url)
        from jifen.platform import clock
        from jifen.platform.db import db
        from jifen.platform.townships.models import Tenant

        if cached:
            with app.app_context():
                tenant = db.session.execute(db.select(Tenant).where(Tenant.slug == "bench")).scalar_one()
                tenant_id, today = tenant.id, clock.today(tenant)
            log(f"data from {args.database or 'template ' + template} in {time.perf_counter() - t0:.1f} s")
        else:
            tenant_id, _slug = onboard(app)
            with app.app_context():
                today = clock.today(db.session.get(Tenant, tenant_id))
            log(f"generating {args.households:,} households, {args.transactions:,} transactions")
            generate(database.dsn, tenant_id, args, today - timedelta(days=365))
            log(f"setup in {time.perf_counter() - t0:.1f} s")
            if args.cache:
                with app.app_context():
                    db.engine.dispose()
                save_template(database, template)
        size = counts(database.dsn, tenant_id)
        log(f"data: {size}")
        out = {"size": {k: str(v) for k, v in size.items()}}
        ok = True
        if args.skip_facts:
            build(app, tenant_id, today, Timed(), full=True)
        elif args.pairs == 0:  # the facts built once, untimed (unless they are); then the late corrections
            timed = Timed()
            if not facts_built(database.dsn, tenant_id):
                build(app, tenant_id, today, timed, full=True)
            out |= incremental(args, database, app, tenant_id, today, timed)
        else:
            facts_out = measure_facts(args, database, app, tenant_id, today, size)
            ok = facts_out.pop("ok")
            out |= facts_out
        if args.http:
            out["http"] = rows = dashboard_http(args, database, app, tenant_id)
            print(f"\nDashboard page at {args.connections} connections, {args.duration:.0f} s each after "
                  f"{args.warmup:.0f} s warm-up, production settings (deploy/gunicorn.conf.py)\n")
            print("| class | target | req/s | p50 ms | p99 ms | errors | other CPU | dashboard/baseline | target |")
            print("|---|---|---:|---:|---:|---:|---:|---:|---|")
            for r in rows:
                ratio = r.get("ratio")
                verdict = "" if ratio is None else (
                    "met" if ratio >= 0.5 and r["p99_ms"] < 100 and not r["errors"] else "missed")
                other = "?" if r["other_cpu"] is None else f"{r['other_cpu']:.0%}"
                print(f"| {r['worker_class']} | {r['target']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                      f"{r['errors']} | {other} | {'' if ratio is None else f'{ratio:.3f}'} | {verdict} |")
            print("\ntargets: dashboard/baseline req/s >= 0.5, p99 < 100 ms, no errors; first request (cold) ms: "
                  + ", ".join(f"{r['worker_class']} {r['target']} {r['first_ms']:.0f}" for r in rows))
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2, default=str))
        return 0 if ok else 1
    finally:
        if args.keep:
            log(f"kept database {database.name}")
        else:
            database.drop()


if __name__ == "__main__":
    sys.exit(main())
