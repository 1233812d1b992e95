"""The end-of-day storm: every tablet of a township syncs at once (prints figures only).

    python bench/storm_bench.py                    # 300 devices x 200 changes, 10 villages
    python bench/storm_bench.py --devices 40 --villages 2 --changes 100   # a quick run

A township of ``--villages`` villages (1,000 households each, loaded as in bench/sync_bench.py)
and ``--devices`` tablets spread over them, each its own user (a 村干部 of its village), device
id and session. Each tablet holds a pull cursor from before the storm and ``--changes`` changes:
edits of existing records with their real ``base_version`` (every tablet its own records), edits
of a few records that every tablet of the village also edits (conflicts or merges), new visits and
new households with their head. All tablets start within ``--spread`` seconds, push (retrying as
the tablet does: a 429/503 ``Retry-After`` is waited out, capped; network errors and other 5xx
back off; a retry after a busy answer carries ``X-Ruhu-Retry`` unless ``--no-retry-header``),
then pull from their cursor until ``has_more`` is false. They run in ``--procs``
processes other than the server's, a thread per tablet, against a real
``ruhu serve --workers N`` over HTTP.

Printed: total time, the time until the last push was merged, p50/p95/p99 per push (the request
that was answered, and the whole push including back-pressure waits) and per pull page, the worst
pushes with each attempt (busy answers and how long each took), pull pages per tablet and records
per page, busy answers (429/503 with Retry-After), errors (anything else that is not a 200: 5xx,
timeouts, refused connections), the load of the machine, and then the check against the database:
every change a tablet was told ``applied``/``merged``/``conflict`` has its receipt, and each value
it sent is the record's current value or a value kept in a conflict (lost), and no change was
written twice (duplicated: more than one change-log row, or a receipt that says otherwise).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync_protocol.retry import RETRY_HEADER, format_retry  # noqa: E402 (after the path)

HEADERS = {"X-Ruhu-Protocol": "1", "X-Ruhu-App-Version": "0.1.0"}
RETRY_AFTER_CAP = 30.0  # the tablet's cap (kivy_client/sync.py)
TARGET_MERGE_S = 30.0
TARGET_P95_PUSH_S = 2.0
EDITABLE = ("household", "member", "measure", "checklist_item")


# --- the tablets (run in other processes; only httpx and the standard library) ----------------


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


def _tablet(plan: dict[str, Any], base: str, start_at: float, out: list[dict[str, Any]]) -> None:
    import httpx

    rec: dict[str, Any] = {"device": plan["device_id"], "push_s": None, "push_total_s": None,
                           "push_busy": 0, "push_attempts": [], "pull_records": [],
                           "pull_pages": [], "pull_total_s": None, "results": [],
                           "busy": 0, "errors": [], "push_done_at": None, "rejected": []}
    out.append(rec)
    # as the tablet asks (kivy_client/sync.py): zstd when it can decode it; --pull-limit
    headers = {**HEADERS, "Authorization": f"Bearer {plan['token']}",
               "Accept-Encoding": plan.get("accept", "zstd, gzip")}
    rnd = random.Random(plan["device_id"])

    def send(http: httpx.Client, method: str, path: str, **kw: Any) -> tuple[httpx.Response,
                                                                             float, int]:
        """One request with the tablet's retry rules; (answer, seconds of the last attempt,
        busy answers before it). A retry after a busy answer says so, as the tablet does."""
        backoff, attempts, turned_away = 0.5, 0, 0
        first_sent = time.monotonic()
        while True:
            t0 = time.perf_counter()
            if turned_away and plan.get("retry_header", True):
                kw["headers"] = {**kw["headers"], RETRY_HEADER: format_retry(
                    turned_away, time.monotonic() - first_sent)}
            try:
                resp = http.request(method, path, **kw)
            except httpx.HTTPError as exc:
                rec["errors"].append(f"{type(exc).__name__}")
                resp = None
            took = time.perf_counter() - t0
            if method == "POST":
                rec["push_attempts"].append((resp.status_code if resp is not None else 0, took))
            if resp is not None and resp.status_code < 400:
                return resp, took, turned_away
            if resp is not None and resp.status_code in (429, 503) and \
                    "retry-after" in resp.headers:
                rec["busy"] += 1
                turned_away += 1
                wait = min(RETRY_AFTER_CAP, float(resp.headers["retry-after"]))
                time.sleep(wait * (1 + 0.5 * rnd.random()))  # jitter: not all back at once
                continue
            if resp is not None:
                rec["errors"].append(f"HTTP {resp.status_code} {resp.text[:120]}")
                if resp.status_code < 500:
                    raise RuntimeError(f"{method} {path}: {resp.status_code}")
            attempts += 1
            if attempts > 8:
                raise RuntimeError(f"{method} {path}: gave up")
            time.sleep(min(30.0, backoff * 2 ** attempts))

    with httpx.Client(base_url=base, timeout=120) as http:
        time.sleep(max(0.0, start_at - time.time()))
        try:
            t0 = time.perf_counter()
            resp, took, turned_away = send(
                http, "POST", "/api/v1/sync/push", content=plan["body"],
                headers={**headers, "Content-Type": "application/json"})
            rec["push_s"], rec["push_total_s"] = took, time.perf_counter() - t0
            rec["push_busy"] = turned_away
            rec["push_done_at"] = time.time()
            rec["results"] = [(r["change_id"], r["status"], r.get("version"))
                              for r in resp.json()["results"]]
            rec["rejected"] = [(r.get("error") or {}).get("code") for r in resp.json()["results"]
                               if r["status"] == "rejected"]
            cursor, t0 = plan["cursor"], time.perf_counter()
            while True:
                resp, took, _ = send(http, "GET", "/api/v1/sync/pull",
                                  params={"cursor": cursor, "limit": plan.get("limit", 500),
                                          "form": plan.get("form", "columns")},
                                  headers=headers)
                rec["pull_pages"].append(took)
                page = resp.json()
                rec["pull_records"].append(
                    sum(b["count"] for b in page["columns"]) if "columns" in page
                    else len(page["changes"]))
                cursor = page["next_cursor"]
                if not page["has_more"]:
                    break
            rec["pull_total_s"] = time.perf_counter() - t0
        except Exception as exc:  # counted, the storm goes on
            rec["errors"].append(f"gave up: {exc}"[:200])


def run_tablets(plans: list[dict[str, Any]], base: str, start_at: float, spread: float
                ) -> list[dict[str, Any]]:
    """A process's share of the tablets, a thread each, each starting within ``spread`` s."""
    out: list[dict[str, Any]] = []
    rnd = random.Random(len(plans))
    threads = [threading.Thread(target=_tablet, args=(p, base, start_at + rnd.random() * spread,
                                                      out)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


# --- set-up (this process) --------------------------------------------------------------------


def make_tablets(engine: Any, codes: list[str], devices: int, secret: str
                 ) -> list[dict[str, Any]]:
    """Users (村干部 of one village each), devices and sessions, in one transaction."""
    from sqlmodel import Session

    from server.db.tables import Device, User
    from server.security import hash_password
    from server.sessions import start_session
    from server.settings import Settings

    settings = Settings(environment="test", secret_key=secret, token_ttl_seconds=36000)
    password = hash_password("storm-Passw0rd")  # one hash for all: hashing is not measured
    tablets = []
    with Session(engine, expire_on_commit=False) as session:
        users = []
        for n in range(devices):
            village = codes[n % len(codes)]
            user = User(username=f"storm{n:04d}", name=f"村干部{n}", role="village_cadre",
                        scopes=[village], password_hash=password)
            session.add(user)
            users.append((user, village))
        session.flush()
        for n, (user, village) in enumerate(users):
            device_id = f"storm-tab-{n:04d}"
            session.add(Device(device_id=device_id, user_id=user.id))
            session.flush()
            token = start_session(session, settings, user.id, device_id, 1)
            tablets.append({"n": n, "user_id": str(user.id), "village": village,
                            "device_id": device_id, "token": token})
        session.commit()
    return tablets


FIELDS = {
    "household": lambda n: {"phone": f"139{n:08d}", "address": f"张庄村{n}号"},
    # health is a list since household file v2 (a v1 code is read as a one-code list)
    "member": lambda n: {"health": ["chronic"] if n % 2 else ["healthy"],
                         "migrant_place": f"郑州{n}"},
    "measure": lambda n: {"provider": f"水屯镇农业服务中心{n}"},
    "checklist_item": lambda n: {"verdict": "clear" if n % 2 else "unclear",
                                 "note": f"已核实{n}"},
}


class _Outbox:
    """A tablet's pending changes, as its outbox would send them (seq order, UUIDv7 ids)."""

    def __init__(self, tablet: dict[str, Any], sent: dict[str, dict[str, Any]]) -> None:
        self.tablet, self.sent = tablet, sent
        self.out: list[dict[str, Any]] = []
        self.now_ms = int(time.time() * 1000)

    def add(self, entity: str, rid: str, base: int | None, fields: dict[str, Any]) -> None:
        import uuid6

        seq = len(self.out) + 1
        cid = str(uuid6.uuid7())
        device = self.tablet["device_id"]
        self.out.append({"change_id": cid, "seq": seq, "entity": entity, "record_id": rid,
                         "op": "upsert", "base_version": base, "fields": fields,
                         "hlc": f"{self.now_ms:013d}-{seq:04d}-{device}"})
        self.sent[cid] = {"entity": entity, "record_id": rid, "fields": fields,
                          "create": base is None, "device": device}


def plan_changes(engine: Any, tablets: list[dict[str, Any]], changes: int, shared: int,
                 visits: int, households: int) -> dict[str, dict[str, Any]]:
    """Each tablet's push body. Returns what each change sent, by change id (for the check)."""
    import sqlalchemy as sa
    import uuid6

    from server.sync.cursor import Cursor

    sent: dict[str, dict[str, Any]] = {}
    by_village: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in tablets:
        by_village[t["village"]].append(t)
    with engine.connect() as conn:
        xmin = conn.execute(sa.text(
            "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")).scalar_one()
        for village, group in by_village.items():
            pools: dict[str, list[tuple[str, int, str | None]]] = {}
            for entity in EDITABLE:
                hh = "id" if entity == "household" else "household_id"
                # 村书记心里清 is the 村书记's verdict alone (checklist.role_forbidden)
                only = " AND item_code <> 'secretary_knows'" if entity == "checklist_item" else ""
                rows = conn.execute(sa.text(
                    f"SELECT id::text, version, {hh}::text FROM {entity} "
                    f"WHERE village_code = :v AND NOT deleted{only} ORDER BY id"),
                    {"v": village}).all()
                pools[entity] = [tuple(r) for r in rows]
                random.Random(village + entity).shuffle(pools[entity])
            hot = pools["household"][:shared]  # every tablet of the village edits these
            pools["household"] = pools["household"][shared:]
            household_ids = [r[2] for r in pools["member"]]
            mix = ["household", "member", "member", "measure", "checklist_item"]
            own = changes - shared - visits - 2 * households
            for t in group:
                box = _Outbox(t, sent)
                change = box.add
                for i in range(own):
                    entity = mix[i % len(mix)]
                    if not pools[entity]:  # many tablets in a village: take what is left
                        entity = max(EDITABLE, key=lambda e: len(pools[e]))
                    rid, version, _ = pools[entity].pop()
                    change(entity, rid, version, FIELDS[entity](t["n"] * 1000 + i))
                for i, (rid, version, _) in enumerate(hot):
                    # half the tablets change the phone (conflicts), half the address (merges)
                    key = "phone" if t["n"] % 2 else "address"
                    change("household", rid, version,
                           {key: FIELDS["household"](t["n"] * 1000 + 900 + i)[key]})
                for i in range(visits):
                    hh = household_ids[(t["n"] * visits + i) % len(household_ids)]
                    change("visit", str(uuid6.uuid7()), None, {
                        "household_id": hh, "visitor_id": t["user_id"],
                        "visited_at": dt.datetime.now(dt.UTC).isoformat(),
                        "purpose": "日常走访", "notes": f"入户了解收入和务工情况{i}"})
                for i in range(households):
                    new = str(uuid6.uuid7())
                    change("household", new, None, {
                        "village_code": village, "head_name": f"新户{t['n']}-{i}",
                        "group_name": "一组", "poverty_status": "none"})
                    change("member", str(uuid6.uuid7()), None, {
                        "household_id": new, "name": f"新户{t['n']}-{i}", "relation": "head"})
                t["body"] = json.dumps({"protocol": 1, "device_id": t["device_id"],
                                        "changes": box.out}, ensure_ascii=False).encode()
                t["cursor"] = Cursor(t["user_id"], 1, xmin).encode()
    return sent


@contextmanager
def live_server(url: str, workers: int, secret: str, env: dict[str, str], log: Path
                ) -> Iterator[str]:
    """``ruhu serve --workers N`` on the bench database; its log goes to ``log``."""
    import httpx

    from tests.live import free_port

    port = free_port()
    environ = {**os.environ, "DATABASE_URL": url, "RUHU_SECRET_KEY": secret,
               "RUHU_ENVIRONMENT": "test", "RUHU_WORKERS": str(workers), **env}
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-c", "from server.cli import app; app()",
                                 "serve", "--port", str(port)], env=environ,
                                stdout=sink, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"ruhu serve did not start (log: {log})")
                time.sleep(0.3)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=60)


# --- the check --------------------------------------------------------------------------------


def check(engine: Any, sent: dict[str, dict[str, Any]], results: list[tuple[str, str, Any]]
          ) -> dict[str, int]:
    """Lost and duplicated changes among those a tablet was told were taken."""
    import sqlalchemy as sa

    acked = {cid: (status, version) for cid, status, version in results
             if status in ("applied", "merged", "conflict")}
    out = Counter(acked=len(acked))
    ids = list(acked)
    with engine.connect() as conn:
        receipts = {str(r[0]): (r[1], r[2]) for r in conn.execute(sa.text(
            "SELECT change_id, status, version FROM sync_receipt "
            "WHERE change_id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids})}
        logs = Counter(str(r[0]) for r in conn.execute(sa.text(
            "SELECT change_id FROM change_log WHERE change_id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": ids}))
        by_entity: dict[str, set[str]] = defaultdict(set)
        for cid in ids:
            by_entity[sent[cid]["entity"]].add(sent[cid]["record_id"])
        current: dict[str, dict[str, Any]] = {}
        for entity, rids in by_entity.items():
            for rid, doc in conn.execute(sa.text(
                    f"SELECT id::text, to_jsonb(t) FROM {entity} t "
                    "WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": list(rids)}):
                current[rid] = doc
        kept: dict[tuple[str, str], list[Any]] = defaultdict(list)
        all_rids = [rid for rids in by_entity.values() for rid in rids]
        for rid, field, server, client in conn.execute(sa.text(
                "SELECT record_id::text, field, server_value, client_value FROM conflict "
                "WHERE record_id = ANY(CAST(:ids AS uuid[]))"), {"ids": all_rids}):
            kept[(rid, field)] += [server, client]
    for cid, (status, version) in acked.items():
        change = sent[cid]
        if receipts.get(cid) is None:
            out["lost: no receipt"] += 1
            continue
        if receipts[cid] != (status, version):
            out["duplicated: receipt says otherwise"] += 1
        if logs[cid] > 1:
            out["duplicated: written twice"] += 1
        doc = current.get(change["record_id"])
        if doc is None:
            out["lost: record missing"] += 1
            continue
        for field, value in change["fields"].items():
            if field == "visited_at":
                continue  # stored as a timestamp, compared below by existence
            if doc.get(field) != value and value not in kept.get((change["record_id"], field),
                                                                 ()):
                out["lost: value neither stored nor in a conflict"] += 1
                break
    out.setdefault("lost: no receipt", 0)
    out.setdefault("duplicated: written twice", 0)
    return dict(out)


# --- main -------------------------------------------------------------------------------------


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=300)
    parser.add_argument("--changes", type=int, default=200, help="changes per device")
    parser.add_argument("--villages", type=int, default=10, help="villages of the township")
    parser.add_argument("--workers", type=int, default=4, help="ruhu serve --workers")
    parser.add_argument("--procs", type=int, default=4, help="processes playing the tablets")
    parser.add_argument("--spread", type=float, default=3.0, help="start within seconds")
    parser.add_argument("--shared", type=int, default=6,
                        help="households every tablet of a village edits (conflicts, merges)")
    parser.add_argument("--visits", type=int, default=10, help="new visits per device")
    parser.add_argument("--households", type=int, default=5, help="new households per device")
    parser.add_argument("--pull-limit", type=int, default=500,
                        help="records per pull page (a tablet after its first download: 500)")
    parser.add_argument("--accept", default="zstd, gzip",
                        help="the tablets' Accept-Encoding (the tablet: zstd, gzip)")
    parser.add_argument("--form", default="columns", choices=["columns", "rows"],
                        help="pull pages in column form (the tablet since session 9) or rows")
    parser.add_argument("--no-retry-header", action="store_true",
                        help="retries without X-Ruhu-Retry (as tablets before session 8)")
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=VALUE for the server (e.g. RUHU_SYNC_CONCURRENCY=2)")
    args = parser.parse_args()

    import sqlalchemy as sa

    from bench.sync_bench import BENCH_SECRET, database, load_county, villages
    from server.db.engine import make_engine

    print(f"machine: {os.cpu_count()} CPUs, load average {loadavg()} at start")
    url, server = database()
    engine = make_engine(url, pool_size=5)
    codes = villages(min(args.villages, 10))  # one township: 10 villages at most
    t0 = time.perf_counter()
    counts = load_county(engine, codes)
    print(f"loaded {len(codes)} villages in {time.perf_counter() - t0:.0f} s: "
          f"{sum(counts.values()):,} rows")
    tablets = make_tablets(engine, codes, args.devices, BENCH_SECRET)
    sent = plan_changes(engine, tablets, args.changes, args.shared, args.visits, args.households)
    total_changes = sum(len(json.loads(t["body"])["changes"]) for t in tablets)
    with engine.connect() as conn:  # a serving database holds its villages' pages in memory
        for table in ("household", "member", "measure", "checklist_item", "visit"):
            conn.execute(sa.text(f"SELECT sum(length(t::text)) FROM {table} t"))
    env = dict(e.split("=", 1) for e in args.env)
    log = Path(tempfile.gettempdir()) / f"storm-serve-{os.getpid()}.log"
    print(f"{args.devices} tablets in {len(codes)} villages, {total_changes:,} changes; "
          f"ruhu serve --workers {args.workers} {env or ''}; tablets in {args.procs} processes, "
          f"starting within {args.spread:.0f} s; pull pages of {args.pull_limit}, "
          f"Accept-Encoding: {args.accept}, form {args.form}")
    with live_server(url, args.workers, BENCH_SECRET, env, log) as base:
        shares = [tablets[i::args.procs] for i in range(args.procs)]
        plans = [[{**{k: t[k] for k in ("device_id", "token", "body", "cursor")},
                   "limit": args.pull_limit, "accept": args.accept, "form": args.form,
                   "retry_header": not args.no_retry_header} for t in share]
                 for share in shares]
        start_at = time.time() + 3 + args.devices / 150  # time for the processes to start
        load_before = loadavg()
        with multiprocessing.get_context("spawn").Pool(args.procs) as pool:
            parts = pool.starmap(run_tablets, [(p, base, start_at, args.spread) for p in plans])
        end = time.time()
        load_after = loadavg()
    recs = [r for part in parts for r in part]
    push = [r["push_s"] for r in recs if r["push_s"] is not None]
    push_total = [r["push_total_s"] for r in recs if r["push_total_s"] is not None]
    pages = [p for r in recs for p in r["pull_pages"]]
    pull_total = [r["pull_total_s"] for r in recs if r["pull_total_s"] is not None]
    done = [r["push_done_at"] for r in recs if r["push_done_at"]]
    errors = Counter(e.split(" {")[0][:60] for r in recs for e in r["errors"])
    statuses = Counter(s for r in recs for _, s, _ in r["results"])
    results = [x for r in recs for x in r["results"]]
    log_text = log.read_text(errors="replace")
    merged_s = (max(done) - start_at) if done else float("nan")

    def pcts(values: list[float]) -> str:
        return (f"p50 {_pct(values, 50):.2f} s, p95 {_pct(values, 95):.2f} s, "
                f"p99 {_pct(values, 99):.2f} s, max {max(values, default=float('nan')):.2f} s")

    print(f"\nload average (1/5/15 min): {load_before} before the storm, {load_after} after")
    print(f"total time (first start to last pull): {end - start_at:.1f} s")
    print(f"all pushes merged after {merged_s:.1f} s: {len(push)} pushes, "
          f"{sum(statuses.values()):,} changes, {sum(statuses.values()) / merged_s:,.0f} "
          f"changes/s   target: {total_changes:,} in <= {TARGET_MERGE_S:.0f} s")
    print(f"push, answered request: {pcts(push)}   target p95 <= {TARGET_P95_PUSH_S} s")
    print(f"push, with back-pressure waits: {pcts(push_total)}")
    worst = sorted((r for r in recs if r["push_total_s"] is not None),
                   key=lambda r: r["push_total_s"], reverse=True)[:3]
    print("worst pushes per device (with waits): " + "; ".join(
        f"{r['device']} {r['push_total_s']:.1f} s, turned away {r['push_busy']} times ("
        + ", ".join(f"{status} after {took:.1f} s" for status, took in r["push_attempts"]) + ")"
        for r in worst))
    busy_took = [took for r in recs for status, took in r["push_attempts"] if status == 503]
    if busy_took:
        print(f"push attempts answered busy, time to the answer: {pcts(busy_took)}")
    turned = Counter(r["push_busy"] for r in recs if r["push_total_s"] is not None)
    print(f"pushes by times turned away: {dict(sorted(turned.items()))}")
    print(f"pull, per page ({len(pages)} pages): {pcts(pages)}")
    print(f"pull, whole catch-up per tablet: {pcts(pull_total)}")
    sizes = [n for r in recs for n in r["pull_records"]]
    if sizes:
        print(f"pull pages: {len(sizes) / len(recs):.1f} per tablet, {sum(sizes):,} records, "
              f"{sum(sizes) / len(sizes):.0f} per page, {sum(1 for n in sizes if n == 0)} empty, "
              f"{sum(1 for n in sizes if 0 < n < 100)} with fewer than 100")
    rejected = Counter(c for r in recs for c in r["rejected"])
    print(f"statuses {dict(statuses)}; rejected: {dict(rejected)}")
    print(f"busy answers (429/503 + Retry-After, waited out): {sum(r['busy'] for r in recs)}")
    print(f"errors: {sum(errors.values())} {dict(errors) if errors else ''}; tablets that gave up: "
          f"{sum(1 for r in recs if any(e.startswith('gave up') for e in r['errors']))}; "
          f"server log: {log_text.count(' 500 ')} answers 500, "
          f"{log_text.count('Traceback')} tracebacks")
    print(f"check: {check(engine, sent, results)}")
    engine.dispose()
    if server is not None:
        server.cleanup()


if __name__ == "__main__":
    main()
