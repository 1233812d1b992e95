"""Report benchmark: every report of server.queries.reports over a county of 20,000 households
(prints figures only; docs/performance.md records them).

    python bench/report_bench.py            # 20 villages x 1,000 households
    python bench/report_bench.py --quick    # 2 villages

The county is built by ``bench/sync_bench.py``'s generator (the demo generator's village, copied
in SQL). About 8% of households are then made monitoring objects (status, category, risk types,
monitoring since; a third of them eliminated) with an approved 纳入监测 procedure, a few open
ones, and the county gets monitoring lines, so every report has work to do. Uses
``DATABASE_URL`` when set, else an embedded Postgres. Target: each report < 1 s (issue 15).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_bench import database, load_county, villages  # noqa: E402

from server import cards  # noqa: E402
from server.db.engine import make_engine  # noqa: E402
from server.db.tables import CountyPolicy  # noqa: E402
from server.queries.reports import REPORTS, ReportFilters, build_report  # noqa: E402
from server.scope import Principal  # noqa: E402
from sync_protocol.policy import china_today  # noqa: E402

TARGET_S = 1.0
COUNTY = "411702"

MONITOR_SQL = """
UPDATE household SET
  monitoring_category = (ARRAY['unstable','marginal','sudden_hardship'])[1 + (h % 3)],
  monitoring_status = CASE WHEN h % 3 = 0 THEN 'eliminated' ELSE 'monitored' END,
  risk_types = to_jsonb(ARRAY[(ARRAY['illness','disability','schooling','housing_unsafe',
      'income_drop','large_expense'])[1 + (h % 6)]]),
  monitoring_since = CAST(:today AS date) - (h % 700),
  eliminated_on = CASE WHEN h % 3 = 0 THEN CAST(:today AS date) - (h % 90) END,
  elimination_method = CASE WHEN h % 3 = 0 THEN (ARRAY['assisted','natural'])[1 + (h % 2)] END
FROM (SELECT id, abs(hashtext(id::text)) AS h FROM household) s
WHERE household.id = s.id AND s.h % 100 < 8
"""
PROCEDURE_SQL = """
INSERT INTO procedure (id, household_id, village_code, version, deleted, field_versions,
  field_hlcs, created_at, updated_at, kind, source, category, risk_types, stage,
  proposed_on, verifiers, stage_at)
SELECT md5(h.id::text || 'entry')::uuid, h.id, h.village_code, 1, false,
  CAST('{}' AS jsonb), CAST('{}' AS jsonb), now(),
  now(), 'entry', (ARRAY['self_report','screening','department_alert'])[1 + (abs(hashtext(
  h.id::text)) % 3)], h.monitoring_category, h.risk_types, 'approved', h.monitoring_since - 10,
  CAST('[]' AS jsonb), h.monitoring_since
FROM household h WHERE h.monitoring_category NOT IN ('none', '')
UNION ALL
SELECT md5(h.id::text || 'open')::uuid, h.id, h.village_code, 1, false,
  CAST('{}' AS jsonb), CAST('{}' AS jsonb), now(),
  now(), 'entry', 'screening', 'marginal', CAST('["illness"]' AS jsonb), 'notice',
  CAST(:today AS date) - (abs(hashtext(h.id::text)) % 40), CAST('[]' AS jsonb), now()
FROM household h WHERE abs(hashtext(h.id::text)) % 100 = 50
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 villages")
    parser.add_argument("--villages", type=int, help="villages of 1,000 households (default 20)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per report")
    parser.add_argument("--cards", type=int, default=200, help="明白卡 households in one PDF")
    args = parser.parse_args()
    n_villages = args.villages or (2 if args.quick else 20)
    url, _server = database()
    engine = make_engine(url, pool_size=5)
    t0 = time.perf_counter()
    counts = load_county(engine, villages(n_villages))
    today = china_today()
    with engine.begin() as conn:
        conn.execute(sa.text(MONITOR_SQL), {"today": today})
        conn.execute(sa.text(PROCEDURE_SQL), {"today": today})
    with Session(engine) as s:
        s.merge(CountyPolicy(county_code=COUNTY, monitoring_lines={
            str(y): 7000.0 for y in range(today.year - 6, today.year + 1)}))
        s.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
        monitored = conn.execute(sa.text(
            "SELECT count(*) FILTER (WHERE monitoring_category NOT IN ('none', '')), "
            "count(*) FROM household")).one()
    print(f"loaded {n_villages} villages in {time.perf_counter() - t0:.0f} s: "
          f"{counts['household']} households, {monitored[0]} monitoring objects, "
          f"{counts['visit']} visits, {counts['measure']} measures, "
          f"{counts['checklist_item']} 五清 items")

    admin = Principal(user_id=uuid.uuid4(), username="bench_admin", name="bench",
                      role="county_admin", scopes=(COUNTY,), device_id="bench",
                      scope_version=1)
    filters = ReportFilters(today=today)
    print(f"\nserver time per report (county admin, whole county; median of {args.runs} runs "
          f"after one warm-up)   target < {TARGET_S} s")
    for name in REPORTS:
        times = []
        for i in range(args.runs + 1):
            with Session(engine) as session:
                start = time.perf_counter()
                report = build_report(session, admin, name, filters)
                elapsed = time.perf_counter() - start
            if i:
                times.append(elapsed)
        head = ", ".join(f"{label} {value}" for _, label, value in report.summary[:3])
        print(f"    {name:<12} {statistics.median(times):.3f} s (max {max(times):.3f})   {head}")

    # 明白卡: one village's first households in one PDF (load + layout + font subset), as
    # village_cards builds it (--cards 1000: a whole village)
    village = villages(n_villages)[0]
    with Session(engine) as session:
        households = cards.village_households(session, village)[:args.cards]
        start = time.perf_counter()
        built = cards.cards_for(session, households, today)
        loaded = time.perf_counter() - start
        pdf = cards.render_pdf(built)
        elapsed = time.perf_counter() - start
    print(f"\n明白卡 PDF of {len(households)} households of one village: {elapsed:.2f} s "
          f"({elapsed / max(1, len(households)) * 1000:.1f} ms a household; loading "
          f"{loaded:.2f} s, layout and PDF {elapsed - loaded:.2f} s), {len(pdf) / 1024:.0f} kB")


if __name__ == "__main__":
    main()
