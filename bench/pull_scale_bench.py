"""Incremental pull cost as the county grows, and the cost of opening a pull round (prints only).

    python bench/pull_scale_bench.py                       # 20 villages, then grown to 200
    python bench/pull_scale_bench.py --villages 2 --grow-to 6 --runs 3   # quick

Issue 17 asks that the incremental pull of one village stay flat from 20 to 200 villages (a
province's county tables are ten times larger than a county's). The county is loaded as in
``sync_bench.py`` (the first village from the demo generator, the others SQL copies of it), one
village cadre pulls their village to the end, then for N in (10, 100, 1000) N records of the
village are updated through the push service and the pull after them is timed (server time of
``pull_json``, pages summed, and HTTP through the in-process app). The county is then grown to
``--grow-to`` villages by more copies of the first village, vacuumed, and the same is measured
again with a fresh cursor.

Also printed: what a pull round's durability marker costs (``pg_logical_emit_message`` in the
round's opening transaction, server/sync/pull.py), as the median of the same read-only
transaction with and without it. Without a standby this is one WAL flush; with a synchronous
standby it adds the round trip to it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import sync_bench as sb  # noqa: E402
from server.db.engine import make_engine  # noqa: E402
from server.db.tables import SYNCED_TABLES, ChangeLog  # noqa: E402
from server.settings import Settings  # noqa: E402


def grow(engine: Any, first: str, new: list[str]) -> None:
    """Copy the first village's records and change log to ``new`` villages (fresh ids)."""
    with engine.begin() as conn:
        for table in SYNCED_TABLES.values():
            sb.copy_rows(conn, table.__table__, new, source=first)  # type: ignore[attr-defined]
        sb.copy_rows(conn, ChangeLog.__table__, new, source=first,  # type: ignore[attr-defined]
                     skip=("id", "txid"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))


def incremental(engine: Any, client: Any, principal: Any, headers: dict[str, str],
                village: str, runs: int) -> dict[int, list[float]]:
    """Server seconds of the pull after N updates, ``runs`` times each N (fresh cursor first)."""
    out: dict[int, list[float]] = {10: [], 100: [], 1000: []}
    for _ in range(runs):
        cursor = sb.pull_all(client, headers)["cursor"]
        for row in sb.bench_incremental(engine, client, principal, headers, village, cursor):
            out[row["n"]].append(row["service_s"])
    return out


def round_marker_cost(engine: Any, rounds: int = 200) -> tuple[float, float]:
    """Median ms of a pull round's opening transaction without and with the WAL marker."""
    plain: list[float] = []
    marked: list[float] = []
    with engine.connect() as conn:
        for i in range(rounds * 2):
            mark = i % 2 == 1
            t0 = time.perf_counter()
            with conn.begin():
                conn.execute(sa.text(
                    "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"))
                if mark:
                    conn.execute(sa.text("SELECT pg_logical_emit_message(true, 'ruhu.pull', '')"))
            (marked if mark else plain).append((time.perf_counter() - t0) * 1000)
    return statistics.median(plain), statistics.median(marked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--villages", type=int, default=20)
    parser.add_argument("--grow-to", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each N")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()) + " at start")
    url, server = sb.database()
    engine = make_engine(url, pool_size=5)
    codes = sb.villages(args.grow_to)
    t0 = time.perf_counter()
    counts = sb.load_county(engine, codes[:args.villages])
    print(f"loaded {args.villages} villages in {time.perf_counter() - t0:.0f} s: {counts}")

    from fastapi.testclient import TestClient

    from server.app import create_app

    app = create_app(Settings(environment="test", secret_key=sb.BENCH_SECRET,
                              database_url=None), engine)
    village = codes[0]
    principal, headers = sb.make_device(engine, "scale_cadre", "village_cadre", [village],
                                        "scale-tab")
    plain, marked = round_marker_cost(engine)
    print(f"pull round opening transaction: {plain:.3f} ms without the WAL marker, "
          f"{marked:.3f} ms with it (median of 200 each, no standby)")
    results: dict[int, dict[int, list[float]]] = {}
    with TestClient(app) as client:
        results[args.villages] = incremental(engine, client, principal, headers, village,
                                             args.runs)
        t0 = time.perf_counter()
        grow(engine, village, codes[args.villages:])
        with engine.connect() as conn:
            rows = sum(conn.execute(sa.text(f"SELECT count(*) FROM {t.__tablename__}"))
                       .scalar_one() for t in SYNCED_TABLES.values())
        print(f"grown to {args.grow_to} villages in {time.perf_counter() - t0:.0f} s: "
              f"{rows:,} records")
        results[args.grow_to] = incremental(engine, client, principal, headers, village,
                                            args.runs)
    print(f"\nincremental pull of one village, server time (pull_json, pages summed), "
          f"median of {args.runs} [min–max]")
    print(f"    {'N':>5}  " + "  ".join(f"{v:>4} villages".rjust(24) for v in results))
    for n in (10, 100, 1000):
        cells = []
        for v in results:
            xs = results[v][n]
            cells.append(f"{statistics.median(xs) * 1000:7.1f} ms [{min(xs) * 1000:.1f}–"
                         f"{max(xs) * 1000:.1f}]".rjust(24))
        print(f"    {n:>5}  " + "  ".join(cells))
    engine.dispose()
    if server is not None:
        server.cleanup()


if __name__ == "__main__":
    main()
