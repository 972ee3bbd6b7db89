"""Throughput and latency of the Orders API under gunicorn on PostgreSQL.

    .venv/bin/python bench/api.py                      # both parts, 60 s of writes
    .venv/bin/python bench/api.py --duration 20 --skip-list

1. Writes: makes a fresh database (``--write-db``, default ``bench_api``: dropped and created again, then
   migrated), an API key, and starts gunicorn (``--workers`` sync workers, default 2, DEBUG off) on a free
   port of 127.0.0.1. A load generator in this process (``--concurrency`` threads, default 8, one
   connection per request, as gunicorn's sync workers close each one) posts 3-item orders for
   ``--duration`` seconds after a short warm-up: inline customers from a pool of 5,000, products from a
   pool of 300 (so the catalog and customers are mostly found, sometimes created), half PAID (customer
   summaries move), a metadata object. Prints orders/s and latency percentiles, and the target.
2. Reads: ``GET /v1/orders?limit=100`` (and two filtered/sorted variants) against ``--read-db`` (default
   ``bench_1m``), read only but for a temporary API key: when that database has no API key table, it is
   made for the run and dropped at the end (its migration history is not touched); else the key is
   deleted at the end.

Every request goes to 127.0.0.1; each phase stops by itself. Prints one table per part, plus the load
average before and after (other work on the machine skews the figures).
"""

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(PROJECT_ROOT / ".venv" / "bin" / "python")
GUNICORN = str(PROJECT_ROOT / ".venv" / "bin" / "gunicorn")
TARGET_RATE, TARGET_P95_MS = 150.0, 200.0
CUSTOMERS, PRODUCTS = 5000, 300


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server")
    parser.add_argument("--write-db", default="bench_api", help="database made afresh for the writes")
    parser.add_argument("--read-db", default="bench_1m", help="existing large database for the list")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of timed writes (default 60)")
    parser.add_argument("--read-duration", type=float, default=20.0, help="seconds per list scenario")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of untimed load first")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--read-concurrency", type=int, default=4, help="client threads for the list")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per worker (default 1: sync workers; more: gthread workers, which keep connections open)",
    )
    parser.add_argument("--skip-write", action="store_true")
    parser.add_argument("--skip-list", action="store_true")
    return parser.parse_args(argv)


# --- processes -------------------------------------------------------------------------------------------


def env_for(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DEBUG="0",
        SECRET_KEY="bench-api-" + "k" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    )
    return env


def manage(database_url: str, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env_for(database_url),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def recreate_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def new_key(database_url: str, name: str) -> tuple[str, str]:
    lines = dict(
        line.split(": ", 1) for line in manage(database_url, "create_api_key", name).splitlines() if ": " in line
    )
    return lines["X-App-Id"], lines["X-App-Token"]


def delete_key(database_url: str, app_id: str) -> None:
    code = f"from orders_dashboard.models import ApiKey; ApiKey.objects.filter(app_id={app_id!r}).delete()"
    manage(database_url, "shell", "-c", code)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, database_url: str, workers: int, threads: int = 1):
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                GUNICORN,
                "orders_dashboard.wsgi",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--backlog",
                "512",
                "--timeout",
                "60",
                "--log-level",
                "warning",
                *(["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []),
            ],
            cwd=PROJECT_ROOT,
            env=env_for(database_url),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status, _ = request(self.port, "GET", "/api/v1/orders?limit=1", None, {})
                if status:
                    print(f"gunicorn (pid {self.process.pid}) on 127.0.0.1:{self.port}", flush=True)
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        sys.exit("gunicorn did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- load ------------------------------------------------------------------------------------------------


def request(port: int, method: str, path: str, body: bytes | None, headers: dict, conn=None) -> tuple[int, bytes]:
    """One request; on ``conn`` when given (kept open when the server allows; http.client opens a new
    socket by itself when the server closed the last one), else on a connection of its own."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        content = response.read()
        if response.will_close:
            conn.close()
        return response.status, content
    except (OSError, http.client.HTTPException):
        conn.close()
        raise
    finally:
        if own:
            conn.close()


def order_body(rng: random.Random, serial: int) -> bytes:
    customer = rng.randrange(CUSTOMERS)
    items = []
    for product in rng.sample(range(PRODUCTS), 3):
        items.append(
            {
                "source_id": f"bench-prod-{product}",
                "related_object": "product",
                "quantity": rng.randint(1, 3),
                "price": 500 + product * 10,
                "product": {"name": f"Product {product}"},
            }
        )
    body = {
        "source_id": f"bench-{os.getpid()}-{serial}",
        "status": "PAID" if serial % 2 else "CREATED",
        "customer": {"source_id": f"bench-cust-{customer}", "name": f"Customer {customer}"},
        "items": items,
        "metadata": {"channel": rng.choice(["web", "pos", "app"])},
    }
    return json.dumps(body).encode()


def run_load(port: int, headers: dict, make_request, *, seconds: float, threads: int) -> dict:
    """``threads`` clients, each sending ``make_request(rng, serial) -> (method, path, body)`` back to back
    until the time is up. Returns the latencies (ms) of 2xx answers, the other statuses, the elapsed time."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    failures: dict[str, int] = {}
    lock = threading.Lock()
    counter = iter(range(10**9))

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = [], {}
        while time.monotonic() < deadline:
            with lock:
                serial = next(counter)
            method, path, body = make_request(rng, serial)
            started = time.perf_counter()
            try:
                status, content = request(port, method, path, body, headers, conn)
            except (OSError, http.client.HTTPException) as exc:
                status, content = type(exc).__name__, b""
            elapsed = (time.perf_counter() - started) * 1000
            if isinstance(status, int) and 200 <= status < 300:
                mine.append(elapsed)
            else:
                key = f"{status} {content[:80]!r}"
                bad[key] = bad.get(key, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for key, count in bad.items():
                failures[key] = failures.get(key, 0) + count

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(seed,)) for seed in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {"latencies": latencies, "failures": failures, "elapsed": time.monotonic() - started}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def row(name: str, result: dict) -> str:
    lat = result["latencies"]
    rate = len(lat) / result["elapsed"]
    fails = sum(result["failures"].values())
    return (
        f"| {name:<40} | {len(lat):>7} | {rate:>7.1f} | {percentile(lat, 50):>7.1f} | {percentile(lat, 95):>7.1f} "
        f"| {percentile(lat, 99):>7.1f} | {statistics.fmean(lat) if lat else float('nan'):>7.1f} | {fails:>6} |"
    )


COLUMNS = ("ok", "req/s", "p50 ms", "p95 ms", "p99 ms", "mean ms", "errors")
HEADER = (
    f"| {'scenario':<40} | " + " | ".join(f"{c:>7}" for c in COLUMNS) + " |\n"
    f"|{'-' * 42}|" + "|".join("-" * 9 for _ in COLUMNS) + "|"
)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def backends(server_url: str, database: str) -> list[int]:
    import psycopg

    with psycopg.connect(f"{server_url}/{database}", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
        ).fetchall()
    return [row[0] for row in rows]


class CpuMeter:
    """CPU used by the gunicorn workers, by the PostgreSQL backends of the database, and by this process
    (the load generator) between start() and stop(): what one request costs, whatever else the machine
    is doing (wall-clock figures move with the machine's other work; these move much less). Processes are
    sampled twice a second, so backends that come and go during the run (connections are recycled) count
    up to their last sample."""

    def __init__(self, server: "Server", server_url: str, database: str):
        self.server, self.server_url, self.database = server, server_url, database
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.stopping = threading.Event()

    def _sample(self, *, initial: bool = False) -> None:
        master = self.server.process.pid
        pids = [("gunicorn", pid) for pid in [master, *children(master)]]
        pids += [("postgres", pid) for pid in backends(self.server_url, self.database)]
        for key in pids:
            used = cpu_seconds(key[1])
            if used:
                # a process first seen after the start began after it: all its CPU is the run's
                self.first.setdefault(key, used if initial else 0.0)
                self.last[key] = used

    def _loop(self) -> None:
        while not self.stopping.wait(0.5):
            self._sample()

    def start(self) -> None:
        self._sample(initial=True)
        self.client_start = time.process_time()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self, requests: int) -> str:
        self.stopping.set()
        self.thread.join()
        self._sample()
        per = {"gunicorn": 0.0, "postgres": 0.0}
        for key, used in self.last.items():
            per[key[0]] += used - self.first[key]
        per["client"] = time.process_time() - self.client_start
        per = {name: value * 1000 / max(requests, 1) for name, value in per.items()}
        total = sum(per.values())
        parts = ", ".join(f"{name} {value:.1f}" for name, value in per.items())
        ceiling = 1000 * (os.cpu_count() or 1) / total if total else float("nan")
        return (
            f"CPU per request: {parts} ms (total {total:.1f} ms) → at most {ceiling:.0f} requests/s on "
            f"{os.cpu_count()} idle cores"
        )


# --- parts -----------------------------------------------------------------------------------------------


def bench_writes(args) -> bool:
    url = f"{args.server_url}/{args.write_db}"
    print(f"Writes: fresh database {args.write_db}, migrate …", flush=True)
    recreate_database(args.server_url, args.write_db)
    manage(url, "migrate", "--no-input")
    app_id, token = new_key(url, "bench-writes")
    headers = {"X-App-Id": app_id, "X-App-Token": token, "Content-Type": "application/json"}
    server = Server(url, args.workers, args.threads)
    try:

        def create(rng, serial):
            return "POST", "/api/v1/orders", order_body(rng, serial)

        print(f"Warm-up {args.warmup:.0f} s, then {args.duration:.0f} s of 3-item orders, {args.concurrency} clients …")
        run_load(server.port, headers, create, seconds=args.warmup, threads=args.concurrency)
        load_before = load_average()
        meter = CpuMeter(server, args.server_url, args.write_db)
        meter.start()
        result = run_load(server.port, headers, create, seconds=args.duration, threads=args.concurrency)
        cpu = meter.stop(len(result["latencies"]) + sum(result["failures"].values()))
        load_after = load_average()
    finally:
        server.stop()
    print()
    kind = (
        f"{args.workers} gthread workers × {args.threads} threads"
        if args.threads > 1
        else f"{args.workers} sync workers"
    )
    print(f"POST /api/v1/orders (3 items), gunicorn {kind}, {args.concurrency} clients,")
    print(f"{args.duration:.0f} s; load average before {load_before}, after {load_after}")
    print(HEADER)
    print(row("create 3-item order", result))
    print(cpu)
    for failure, count in sorted(result["failures"].items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {count} × {failure}")
    rate = len(result["latencies"]) / result["elapsed"]
    p95 = percentile(result["latencies"], 95)
    met = rate >= TARGET_RATE and p95 < TARGET_P95_MS
    verdict = "met" if met else "MISSED"
    target = f"≥ {TARGET_RATE:.0f} orders/s with p95 < {TARGET_P95_MS:.0f} ms"
    print(f"Target {target}: {verdict} ({rate:.1f}/s, p95 {p95:.1f} ms)")
    return met


KEY_TABLE_SETUP = """
from django.db import connection
from orders_dashboard.models import ApiKey
if ApiKey._meta.db_table in connection.introspection.table_names():
    print("existed")
else:
    with connection.schema_editor() as editor:
        editor.create_model(ApiKey)
    print("made")
"""
KEY_TABLE_DROP = """
from django.db import connection
from orders_dashboard.models import ApiKey
with connection.schema_editor() as editor:
    editor.delete_model(ApiKey)
"""


def bench_list(args) -> None:
    url = f"{args.server_url}/{args.read_db}"
    # The only write to the read database: the API key table when it has none (made here and dropped at
    # the end, without touching its migration history) and one key, deleted at the end.
    print(f"\nReads: {args.read_db} (a temporary API key) …", flush=True)
    made_table = manage(url, "shell", "-c", KEY_TABLE_SETUP).strip().endswith("made")
    try:
        app_id, token = new_key(url, "bench-list")
    except SystemExit:
        if made_table:
            manage(url, "shell", "-c", KEY_TABLE_DROP)
        raise
    headers = {"X-App-Id": app_id, "X-App-Token": token}
    server = Server(url, args.workers, args.threads)
    scenarios = [
        ("GET /v1/orders?limit=100", "/api/v1/orders?limit=100"),
        ("… &order=-created_at&page=50", "/api/v1/orders?limit=100&order=-created_at&page=50"),
        ("… &status=PAID&order=-updated_at", "/api/v1/orders?limit=100&status=PAID&order=-updated_at"),
    ]
    results = []
    try:
        for name, path in scenarios:
            run_load(server.port, headers, lambda rng, serial, p=path: ("GET", p, None), seconds=2, threads=1)
            meter = CpuMeter(server, args.server_url, args.read_db)
            meter.start()
            result = run_load(
                server.port,
                headers,
                lambda rng, serial, p=path: ("GET", p, None),
                seconds=args.read_duration,
                threads=args.read_concurrency,
            )
            result["cpu"] = meter.stop(len(result["latencies"]) + sum(result["failures"].values()))
            results.append((name, result))
        status, content = request(server.port, "GET", scenarios[0][1], None, headers)
        page = json.loads(content)
        sample = (status, len(page.get("orders", [])), page.get("total"))
    finally:
        server.stop()
        if made_table:
            manage(url, "shell", "-c", KEY_TABLE_DROP)
        else:
            delete_key(url, app_id)
    print(f"\nGET lists against {args.read_db}, {args.read_concurrency} clients, {args.read_duration:.0f} s each;")
    print(f"load average after: {load_average()}")
    print(HEADER)
    for name, result in results:
        print(row(name, result))
    for name, result in results:
        print(f"{name}: {result['cpu']}")
    print(f"(first scenario answered {sample[0]} with {sample[1]} orders, total {sample[2]})")


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"Load average at start: {load_average()} ({os.cpu_count()} cores)")
    met = True
    if not args.skip_write:
        met = bench_writes(args)
    if not args.skip_list:
        bench_list(args)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
