"""Load test of the dashboard: HUD and series server time over a large store, webhook throughput.

1. Creates a PostgreSQL database (dropped at the end), migrates it, and bulk-loads it with COPY:
   2,000 commits x 200 benchmarks x 2 hosts (800,000 results with 5 raw samples each).
   ``--keep`` keeps it and ``--database NAME`` reuses a kept one (seeding takes minutes).
2. Times the HUD (100 commits, every benchmark, one host) and the series page in-process
   through the Flask app, interleaved, ``--repeats`` times each: server time, no network;
   once without the HUD's covering index ``ix_result_grid`` and once with it (as migrated).
3. Starts gunicorn (2 workers, 127.0.0.1 only) on that store with a Redis broker, and sends
   signed push deliveries, each carrying one new commit, plus ``--duplicate-share`` repeats
   of earlier deliveries; bounded by ``--deliveries`` and ``--webhook-seconds``. Reports
   deliveries/s and latency percentiles, then checks that each delivery made exactly one set
   of jobs, each repeat made none, and that the web processes published one message per job.
   ``--app-dir`` serves another checkout of the dashboard; given more than once, each
   checkout is served in turn on the same store (``--rounds`` times, alternating) and the
   table has a row per run, so two versions are compared side by side under the same load.
   ``--gunicorn-args="FLAGS"`` passes flags to gunicorn (the ``=`` keeps a leading ``--`` from
   being read as an option); given more than once, each set is a variant served in turn like a
   checkout (e.g. ``--gunicorn-args=--preload --gunicorn-args="--preload --threads 2"``).
   ``--webhook-only`` seeds a tiny store and skips step 2 (what a delivery writes does not
   depend on the store's size).

Usage::

    python benchmarks/scripts/dashboard_load.py \\
        --admin-url postgresql://postgres@127.0.0.1:5432/postgres --redis-url redis://127.0.0.1:6379/13
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run as a file (python benchmarks/scripts/dashboard_load.py): make the repository importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

FAMILIES = ("cnn", "transformer", "recsys", "gnn", "llm")
MODES = ("eval", "train")
PRECISIONS = ("fp32", "bf16")
VARIANTS = ("eager", "optlib")
SECRET = "load-test-webhook-secret-0123456789"
REPO = "perf/load"


@dataclass(frozen=True)
class Shape:
    commits: int
    benchmarks: int
    hosts: int
    samples: int

    @property
    def results(self) -> int:
        return self.commits * self.benchmarks * self.hosts


# --------------------------------------------------------------------------- environment


def environment() -> dict[str, str]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
        isa = " ".join(sorted(f for f in flags.split(":", 1)[1].split() if f.startswith(("avx512", "amx", "avx2"))))
    except (OSError, StopIteration):
        isa = "unknown"
    import sqlalchemy
    from importlib.metadata import version

    return {
        "cpu": cpu, "isa": isa, "cpus": str(os.cpu_count()), "python": platform.python_version(),
        "flask": version("flask"), "sqlalchemy": sqlalchemy.__version__, "gunicorn": version("gunicorn"),
        "psycopg": version("psycopg"), "postgres": "",
    }


# --------------------------------------------------------------------------- seeding


def _copy(cursor, table: str, columns: list[str], rows) -> int:  # type: ignore[no-untyped-def]
    count = 0
    with cursor.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def seed(url: str, shape: Shape, rng: random.Random) -> dict[str, object]:
    """Bulk-load the store with psycopg's COPY; returns ids the timing phase needs."""
    import psycopg
    from sqlalchemy.engine import make_url

    sa_url = make_url(url)
    conninfo = f"host={sa_url.host} port={sa_url.port or 5432} user={sa_url.username} dbname={sa_url.database}"
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO repository (full_name, clone_url, default_branch, enabled, created_at) "
                    "VALUES (%s, %s, 'main', true, %s) RETURNING id", (REPO, f"https://github.com/{REPO}.git", now))
        repo_id = cur.fetchone()[0]
        host_ids = []
        for h in range(shape.hosts):
            cur.execute(
                "INSERT INTO host (name, cpu_model, isa, cores, threads, torch_version, kernel, fingerprint, "
                "registered_at, last_seen) VALUES (%s, 'Load CPU', '[\"avx512f\"]', %s, 4, '2.13.0', '6.1', %s, %s, %s) "
                "RETURNING id", (f"host-{h}", f"{h * 4}-{h * 4 + 3}", f"fp{h}", now, now))
            host_ids.append(cur.fetchone()[0])
        bench_rows = []
        models_needed = -(-shape.benchmarks // (len(MODES) * len(PRECISIONS) * len(VARIANTS)))
        for m in range(models_needed):
            for mode in MODES:
                for precision in PRECISIONS:
                    for variant in VARIANTS:
                        bench_rows.append((f"model{m:03d}", mode, precision, variant, "latency_p50", "ms", "lower",
                                           FAMILIES[m % len(FAMILIES)]))
        bench_rows = bench_rows[: shape.benchmarks]
        _copy(cur, "benchmark", ["model", "mode", "precision", "variant", "metric", "unit", "direction", "family"],
              bench_rows)
        cur.execute("SELECT id FROM benchmark ORDER BY id")
        bench_ids = [r[0] for r in cur.fetchall()]

        shas = [hashlib.sha1(f"load-{i}".encode()).hexdigest() for i in range(shape.commits)]
        _copy(cur, "commit", ["repository_id", "sha", "parents", "author", "message", "committed_at", "created_at"], (
            (repo_id, sha, json.dumps([shas[i - 1]] if i else []), f"dev{i % 17}",
             f"change {i}: tune kernel <{i % 5}>\n\nbody", t0 + timedelta(minutes=30 * i), now)
            for i, sha in enumerate(shas)))
        cur.execute("SELECT id FROM commit WHERE repository_id = %s ORDER BY committed_at", (repo_id,))
        commit_ids = [r[0] for r in cur.fetchall()]
        per_push = 10
        push_rows = []
        for p in range(0, shape.commits, per_push):
            chunk = commit_ids[p:p + per_push]
            push_rows.append((repo_id, "main", shas[p - 1] if p else None, shas[p + len(chunk) - 1], "push", now))
        _copy(cur, "push", ["repository_id", "branch", "before_sha", "after_sha", "source", "received_at"], push_rows)
        cur.execute("SELECT id FROM push WHERE repository_id = %s ORDER BY id", (repo_id,))
        push_ids = [r[0] for r in cur.fetchall()]
        _copy(cur, "push_commit", ["push_id", "commit_id", "position"], (
            (push_ids[i // per_push], cid, i % per_push) for i, cid in enumerate(commit_ids)))

        pending = set(commit_ids[-3:])  # the newest commits are still being measured: grey cells
        job_rows = []
        for cid in commit_ids:
            for h, hid in enumerate(host_ids):
                status = "queued" if cid in pending else "succeeded"
                job_rows.append((cid, "ci", "regular", status, f"bench.host-{h}", hid if status != "queued" else None,
                                 f"regular:{cid}:ci:bench.host-{h}", "{}", 0, 1, now, now))
        _copy(cur, "job", ["commit_id", "suite", "kind", "status", "queue", "host_id", "dedup_key", "params",
                           "priority", "attempts", "queued_at", "published_at"], job_rows)
        cur.execute("SELECT id, commit_id, host_id FROM job WHERE host_id IS NOT NULL")
        job_of = {(c, h): j for j, c, h in cur.fetchall()}

        levels = {b: rng.uniform(1.0, 50.0) for b in bench_ids}

        def result_rows():  # type: ignore[no-untyped-def]
            for cid in commit_ids:
                if cid in pending:
                    continue
                for hid in host_ids:
                    job_id = job_of[(cid, hid)]
                    for b in bench_ids:
                        level = levels[b]
                        samples = sorted(round(level * (1 + rng.gauss(0, 0.01)), 5) for _ in range(shape.samples))
                        r = rng.random()
                        verdict, change = ("no_change", round(rng.gauss(0, 0.5), 2))
                        if r < 0.004:
                            verdict, change = "regression", round(rng.uniform(5, 30), 2)
                        elif r < 0.007:
                            verdict, change = "improvement", round(-rng.uniform(5, 30), 2)
                        elif r < 0.012:
                            verdict, change = "suspect", round(rng.uniform(3, 10), 2)
                        median = samples[len(samples) // 2]
                        yield (job_id, b, repo_id, cid, hid, json.dumps(samples), len(samples), median,
                               sum(samples) / len(samples), level * 0.01, samples[-1], samples[-1], now, verdict,
                               change, 0.99)

        started = time.perf_counter()
        n = _copy(cur, "result", ["job_id", "benchmark_id", "repository_id", "commit_id", "host_id", "samples", "n",
                                  "median", "mean", "stdev", "p90", "p99", "created_at", "verdict", "change_pct",
                                  "confidence"], result_rows())
        copy_s = time.perf_counter() - started
        conn.commit()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {"repo_id": repo_id, "host_ids": host_ids, "bench_ids": bench_ids, "results": n, "copy_s": copy_s}


# --------------------------------------------------------------------------- page timing


def grid_index_ddl() -> str:
    """The covering index the HUD's cell query is answered from (an index-only scan), as the
    model declares it: the figures are printed without it and with it."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex

    from db.models import Result

    index = next(i for i in Result.__table__.indexes if i.name == "ix_result_grid")
    return str(CreateIndex(index, if_not_exists=True).compile(dialect=postgresql.dialect()))


def time_pages(settings, bench_ids: list[int], repeats: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    from dashboard import create_app

    app = create_app(settings)
    client = app.test_client()
    optlib = bench_ids[1]  # an optlib variant: the series page also draws its baseline
    urls = {
        "HUD page (up to 100 commits x every benchmark)": "/?per_page=100&host=host-0",
        "HUD API (same grid as JSON)": "/api/v1/hud?per_page=100&host=host-0",
        "series page (up to 500 newest points + baseline)": f"/series?benchmark={optlib}&host=host-0",
        "series page (up to 2000 points + baseline)": f"/series?benchmark={optlib}&host=host-0&limit=2000",
    }
    for url in urls.values():  # warm caches and the connection pool
        assert client.get(url).status_code == 200, url
    times: dict[str, list[float]] = {name: [] for name in urls}
    for _ in range(repeats):
        for name, url in urls.items():
            started = time.perf_counter()
            response = client.get(url)
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    sizes = {name: len(client.get(url).data) for name, url in urls.items()}
    return {name: values + [sizes[name]] for name, values in times.items()}


# --------------------------------------------------------------------------- webhook load


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def push_body(i: int, before: str, branch: str = "load") -> tuple[bytes, str]:
    sha = hashlib.sha1(f"webhook-{uuid.uuid4()}-{i}".encode()).hexdigest()
    body = {
        "ref": f"refs/heads/{branch}", "before": before, "after": sha, "created": False, "deleted": False,
        "repository": {"full_name": REPO}, "pusher": {"name": "load"},
        "commits": [{"id": sha, "message": f"load commit {i}", "timestamp": "2026-01-01T00:00:00Z",
                     "url": f"https://github.com/{REPO}/commit/{sha}",
                     "author": {"name": "Load", "email": "load@example.com", "username": "load"}}],
    }
    return json.dumps(body).encode(), sha


def post(port: int, body: bytes, delivery: str) -> tuple[int, float]:
    from dashboard.github import signature_for

    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
               "X-Hub-Signature-256": signature_for(SECRET, body)}
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/webhooks/github", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        status = response.status
    finally:
        conn.close()
    return status, (time.perf_counter() - started) * 1000


def run_gunicorn(env: dict[str, str], port: int, app_dir: Path, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
           "--log-level", "warning", "--chdir", str(app_dir), *extra, "dashboard.wsgi:app"]
    env = {**env, "PYTHONPATH": str(app_dir)}
    proc = subprocess.Popen(cmd, env=env, cwd=app_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {proc.stderr.read().decode()[-2000:]}")
        try:  # gunicorn listens before its workers have imported the app: wait for an answer
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        except OSError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("gunicorn did not answer within 60 s")


def cpu_seconds(gunicorn_pid: int) -> dict[str, float]:
    """CPU time used so far (user + system) by the web server's processes, by PostgreSQL's, by
    Redis and by this script (the load generator), from /proc; empty where /proc is missing."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = {"web": 0.0, "postgres": 0.0, "redis": 0.0}
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ppid, used = int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
        if int(pid) == gunicorn_pid or ppid == gunicorn_pid:
            totals["web"] += used
        elif name.startswith("postgres"):
            totals["postgres"] += used
        elif name.startswith("redis-server"):
            totals["redis"] += used
    usage = os.times()
    totals["load generator"] = usage.user + usage.system
    return totals


def webhook_phase(port: int, *, count: int, seconds: float, concurrency: int, rate: float | None,
                  duplicate_share: float, rng: random.Random, branch: str) -> dict[str, object]:
    """Send up to ``count`` deliveries within ``seconds``; closed loop if ``rate`` is None, else
    open loop at ``rate``/s (latency measured from the scheduled send time)."""
    sent: list[tuple[str, bytes]] = []
    plan: list[tuple[str, bytes, bool]] = []
    for i in range(count):
        if sent and rng.random() < duplicate_share:
            delivery, body = rng.choice(sent)
            plan.append((delivery, body, True))
        else:
            body, _ = push_body(i, "0" * 40, branch)
            delivery = str(uuid.uuid4())
            sent.append((delivery, body))
            plan.append((delivery, body, False))
    results: list[tuple[int, float, bool, str]] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    start = time.perf_counter()

    def one(index: int) -> None:
        if time.perf_counter() > stop_at:
            return
        delivery, body, dup = plan[index]
        lag = 0.0
        if rate is not None:
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                lag = -delay * 1000
        status, ms = post(port, body, delivery)
        with lock:
            results.append((status, ms + lag, dup, delivery))

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(len(plan))))
    wall = time.perf_counter() - start
    latencies = sorted(r[1] for r in results)
    statuses: dict[int, int] = {}
    for r in results:
        statuses[r[0]] = statuses.get(r[0], 0) + 1
    done_dup = sum(1 for r in results if r[2])
    return {
        "sent": len(results), "wall_s": wall, "per_s": len(results) / wall,
        "p50": latencies[len(latencies) // 2], "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max": latencies[-1], "statuses": statuses, "duplicates": done_dup,
        "unique_deliveries": {r[3] for r in results}, "load": os.getloadavg()[0],
    }


# --------------------------------------------------------------------------- main


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def time_both_schemas(url: str, settings, bench_ids: list[int], repeats: int) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    work = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        for label, ddl in (("without ix_result_grid", "DROP INDEX IF EXISTS ix_result_grid"),
                           ("with ix_result_grid (as migrated)", grid_index_ddl())):
            with work.connect() as conn:
                conn.execute(sa.text(ddl))
                conn.execute(sa.text("VACUUM ANALYZE result"))
            timings = time_pages(settings, bench_ids, repeats)
            print(f"\nserver time in-process, {label}, {repeats} interleaved runs each (ms)")
            print(f"{'page':<50} {'median':>8} {'p10':>8} {'p90':>8} {'bytes':>10}")
            for page, values in timings.items():
                size, values = int(values[-1]), values[:-1]
                print(f"{page:<50} {statistics.median(values):>8.1f} {pct(values, 0.1):>8.1f} "
                      f"{pct(values, 0.9):>8.1f} {size:>10}")
            print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        with work.connect() as conn:  # leave the store as migrated
            conn.execute(sa.text(grid_index_ddl()))
        work.dispose()


def webhook_run(args: argparse.Namespace, url: str, data_dir: Path, app_dir: Path, flags: list[str],
                rng: random.Random) -> tuple[dict[str, dict[str, object]], dict[str, float], bool]:
    """Serve ``app_dir`` under gunicorn with ``flags``, run both phases on a branch of its own, stop it and
    check the outcome; returns the phases, the CPU per delivery and whether the check passed."""
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    branch = f"load-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {**os.environ, "PERFHUD_DATA_DIR": str(data_dir), "PERFHUD_DATABASE_URL": url,
           "PERFHUD_WEBHOOK_SECRET": SECRET, "PERFHUD_BROKER_URL": args.redis_url, "PERFHUD_SUITES": "ci"}
    gunicorn = run_gunicorn(env, port, app_dir, flags)
    try:
        warm = set()
        for i in range(20):  # warm both workers (imports, connection pools, broker connection)
            delivery = f"warm-{uuid.uuid4()}"
            post(port, push_body(i, "0" * 40, branch)[0], delivery)
            warm.add(delivery)
        cpu_before = cpu_seconds(gunicorn.pid)
        phases = {
            f"closed loop, {args.concurrency} clients": webhook_phase(
                port, count=args.deliveries, seconds=args.webhook_seconds, concurrency=args.concurrency,
                rate=None, duplicate_share=args.duplicate_share, rng=rng, branch=branch),
            f"open loop at {args.rate:.0f}/s": webhook_phase(
                port, count=min(args.deliveries, int(args.rate * args.webhook_seconds)),
                seconds=args.webhook_seconds + 5, concurrency=64, rate=args.rate,
                duplicate_share=args.duplicate_share, rng=rng, branch=branch),
        }
        cpu_after = cpu_seconds(gunicorn.pid)
        answered = sum(int(r["sent"]) for r in phases.values())  # type: ignore[call-overload]
        per = {k: (cpu_after[k] - cpu_before[k]) * 1000 / answered for k in cpu_after} if cpu_after else {}
        unique = set(warm)
        for r in phases.values():
            unique |= r["unique_deliveries"]  # type: ignore[arg-type]
        print(f"\n{app_dir} {' '.join(flags)}:")
        ok = check_webhook_outcome(url, args.redis_url, branch, unique, settle_s=30.0)
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        try:
            gunicorn.wait(timeout=15)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
    return phases, per, ok


def check_webhook_outcome(url: str, redis_url: str, branch: str, deliveries: set[str],
                          settle_s: float) -> bool:
    """Exactly one push and one job per unique delivery of this run, none for a repeat; and one
    broker message per job, each job stamped published (the relay publishes after the answer,
    so this waits up to ``settle_s`` for it)."""
    import redis
    import sqlalchemy as sa

    check = sa.create_engine(url)
    ids = sorted(deliveries)
    on_branch = ("SELECT pc.commit_id FROM push_commit pc JOIN push p ON p.id = pc.push_id "
                 "WHERE p.branch = :branch")
    try:
        deadline = time.time() + settle_s
        while True:
            with check.connect() as conn:
                recorded = conn.execute(sa.text("SELECT count(*) FROM webhook_delivery WHERE delivery_id = ANY(:ids)"),
                                        {"ids": ids}).scalar()
                pushes = conn.execute(sa.text("SELECT count(*) FROM push WHERE branch = :branch"),
                                      {"branch": branch}).scalar()
                jobs, published = conn.execute(sa.text(
                    f"SELECT count(*), count(published_at) FROM job WHERE commit_id IN ({on_branch})"),
                    {"branch": branch}).one()
                dup_jobs = conn.execute(sa.text(
                    "SELECT count(*) FROM (SELECT commit_id, suite, queue FROM job GROUP BY commit_id, suite, queue "
                    "HAVING count(*) > 1) d")).scalar()
            if published == jobs or time.time() > deadline:
                break
            time.sleep(0.5)
    finally:
        check.dispose()
    messages = redis.Redis.from_url(redis_url).llen("bench.any")
    expected = len(deliveries)
    print(f"exactly-once check: {recorded} deliveries recorded, {pushes} pushes and {jobs} jobs on {branch!r} "
          f"(expected {expected} of each: unique deliveries incl. warm-up); "
          f"duplicate jobs per (commit, suite, queue): {dup_jobs}")
    print(f"outbox: {published} of {jobs} jobs stamped published, {messages} messages in bench.any")
    ok = recorded == pushes == jobs == expected and dup_jobs == 0
    print("exactly one set of jobs per delivery: " + ("yes" if ok else "NO"))
    relayed = published == jobs == messages
    print("one message per job, published by the web processes: " + ("yes" if relayed else "NO"))
    return ok and relayed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL URL allowed to CREATE and DROP a database")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13",
                        help="broker for the webhook phase; its database number is flushed before and after")
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--benchmarks", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--deliveries", type=int, default=3000, help="upper bound per webhook phase")
    parser.add_argument("--webhook-seconds", type=float, default=20.0, help="upper bound per webhook phase")
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop delivery rate (per second)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads in the closed-loop phase")
    parser.add_argument("--duplicate-share", type=float, default=0.1)
    parser.add_argument("--keep", action="store_true", help="keep the load database (its name is printed)")
    parser.add_argument("--database", help="reuse a database kept by an earlier run (--keep) instead of seeding")
    parser.add_argument("--app-dir", type=Path, action="append",
                        help="a checkout whose dashboard gunicorn serves (default: this one); repeat to compare")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each checkout and flag set, alternating")
    parser.add_argument("--gunicorn-args", action="append",
                        help='extra gunicorn flags, e.g. --gunicorn-args="--preload --threads 2"; repeat to compare variants')
    parser.add_argument("--webhook-only", action="store_true",
                        help="seed a tiny store (20 commits x 4 benchmarks x 1 host) and skip the page timings")
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--skip-webhook", action="store_true")
    args = parser.parse_args(argv)
    if args.webhook_only:
        args.commits, args.benchmarks, args.hosts, args.skip_pages = 20, 4, 1, True
    app_dirs = [d.resolve() for d in (args.app_dir or [Path(__file__).resolve().parents[2]])]

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from db.migrate import upgrade
    from perfhud.settings import load_settings, normalize_database_url

    shape = Shape(args.commits, args.benchmarks, args.hosts, args.samples)
    rng = random.Random(20260101)
    env_info = environment()
    admin_url = normalize_database_url(args.admin_url, "--admin-url")
    name = args.database or f"perfhud_load_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        env_info["postgres"] = conn.execute(sa.text("SHOW server_version")).scalar() or ""
        if not args.database:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / name
    try:
        upgrade(url)
        print("environment: " + ", ".join(f"{k}={v}" for k, v in env_info.items()))
        if args.database:
            with sa.create_engine(url).connect() as conn:
                bench_ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM benchmark ORDER BY id"))]
                results = conn.execute(sa.text("SELECT count(*) FROM result")).scalar()
            print(f"store: {name} (reused): {results} results")
        else:
            started = time.perf_counter()
            seeded = seed(url, shape, rng)
            seed_s = time.perf_counter() - started
            bench_ids = seeded["bench_ids"]  # type: ignore[assignment]
            print(f"store: {name}: {shape.commits} commits x {shape.benchmarks} benchmarks x {shape.hosts} hosts = "
                  f"{seeded['results']} results ({shape.samples} samples each); seeded in {seed_s:.1f} s "
                  f"(COPY of results {seeded['copy_s']:.1f} s)")
        settings = load_settings({"PERFHUD_DATA_DIR": str(data_dir), "PERFHUD_DATABASE_URL": url,
                                  "PERFHUD_WEBHOOK_SECRET": SECRET, "PERFHUD_BROKER_URL": args.redis_url})
        if not args.skip_pages:
            time_both_schemas(url, settings, bench_ids, args.repeats)
        if args.skip_webhook:
            return 0

        variants = [(app_dir, flags.split()) for app_dir in app_dirs for flags in (args.gunicorn_args or [""])]
        runs = [(f"{str(app_dir)[-20:]} {' '.join(flags)}".strip(), webhook_run(args, url, data_dir, app_dir, flags, rng))
                for _ in range(args.rounds) for app_dir, flags in variants]
        width = max(len(label) for label, _ in runs)
        print(f"\nwebhook under gunicorn (2 workers, 127.0.0.1), one new commit per delivery, "
              f"{args.duplicate_share:.0%} repeated deliveries; load = 1-minute load average on {os.cpu_count()} CPUs")
        print(f"{'checkout and flags':<{width}} {'phase':<28} {'sent':>6} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8}"
              f" {'max ms':>8} {'load':>5}  statuses")
        for label, (phases, _, _) in runs:
            for phase, r in phases.items():
                print(f"{label:<{width}} {phase:<28} {r['sent']:>6} {r['per_s']:>8.1f} {r['p50']:>8.1f}"
                      f" {r['p99']:>8.1f} {r['max']:>8.1f} {r['load']:>5.1f}  {r['statuses']}")
        # What one delivery costs the machine: the ceiling on deliveries/s is the CPU the
        # machine can give these processes divided by this.
        for label, (_, per, _) in runs:
            if per:
                print(f"CPU per delivery (ms), {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in per.items())
                      + f"; total {sum(per.values()):.2f}")
        return 0 if all(ok for _, (_, _, ok) in runs) else 1
    finally:
        try:
            import redis

            redis.Redis.from_url(args.redis_url).flushdb()
        except Exception as exc:  # noqa: BLE001 - cleanup only
            print(f"could not flush {args.redis_url}: {exc}", file=sys.stderr)
        if args.keep or args.database:
            print(f"kept database {name}")
        else:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
