#!/usr/bin/env python3
"""TAXII 2.1 benchmark: Cairn (SQLite, PostgreSQL) against medallion, plus Cairn's raw store rate.

    bench/run.sh                                   # 100,000 objects, all three targets
    bench/run.sh --objects 20000                   # quick
    bench/run.sh --objects 1000000 --targets cairn-sqlite --phase-budget 900

What it does, per target (each started fresh on a free 127.0.0.1 port and stopped at the end):

1. ingest, envelopes of 100 objects: every object of the dataset, on a server of its own that is
   then stopped (so the 100- and 1,000-object runs are two separate fresh runs, not halves);
2. ingest, envelopes of 1,000 objects: every object, on a second fresh server, which the reads
   below then use;
3. full paged read: GET objects/?limit=1000, following `next` to the end;
4. object by id: 1,000 random ids (seeded), one client, one keep-alive session, p50/p99;
5. filtered reads, paged as in 3: match[type]=indicator, and added_after = the date_added of the
   object in the middle of the full read;
6. the server's peak RSS (VmHWM of its process, read at the end).

Rates are objects divided by the summed wall time of the HTTP requests as the client saw them
(request sent -> whole body received); the client's own preparation and checking are outside the
timed part. Bodies are checked after the timed part: every POST's status must report all its
objects as successes, and the full read must return every object exactly once.

"Cairn store raw" times `cairn import` (files of 1,000 objects, batches of 1,000) and `cairn
export` (pages of 1,000) against a fresh store of the same engine, with no HTTP.

Every loop is bounded in count and, per phase, in time (--phase-budget); a phase that hits its
budget is reported as partial with the number of objects it covered. Only 127.0.0.1 is contacted.
Standard library and `requests` only.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gc
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

TAXII = "application/taxii+json;version=2.1"
GET_HEADERS = {"Accept": TAXII}
POST_HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
PAGE = 1000
DATASET_VERSION = 1  # bump when the generator changes, so cached datasets are remade
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

MORE_RE = re.compile(rb'"more"\s*:\s*(true|false)')
NEXT_RE = re.compile(rb'"next"\s*:\s*"([^"]+)"')
SUCCESS_RE = re.compile(rb'"success_count"\s*:\s*(\d+)')
FAILURE_RE = re.compile(rb'"failure_count"\s*:\s*(\d+)')
TOKEN_RE = re.compile(r"token for (\S+) \(([^)]*)\): (cairn_[0-9a-f]+)")


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# dataset
# ---------------------------------------------------------------------------------------------

def _ms(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


# One block of 20 objects: 10 indicators, 2 malware, 5 relationships (indicator indicates
# malware of the same block), 3 sightings (of an indicator of the same block).
BLOCK = ["indicator"] * 10 + ["malware"] * 2 + ["relationship"] * 5 + ["sighting"] * 3
MALWARE_TYPES = ["trojan", "ransomware", "backdoor", "remote-access-trojan", "dropper", "worm"]
WORDS = ["amber", "basalt", "cinder", "delta", "ember", "fjord", "granite", "harbor", "ion",
         "juniper", "kestrel", "lumen", "marsh", "nimbus", "onyx", "pylon", "quartz", "rill",
         "slate", "tundra", "umber", "vortex", "willow", "xenon", "yarrow", "zephyr"]


def generate_objects(n: int, seed: int):
    """Yield n valid STIX 2.1 objects, deterministically from the seed."""
    rng = random.Random(seed)
    base = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)

    def sid(kind: str) -> str:
        return f"{kind}--{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    def stamp() -> dt.datetime:
        return base + dt.timedelta(milliseconds=rng.randrange(0, 200 * 86_400_000))

    made = 0
    while made < n:
        indicators: list[str] = []
        malware: list[str] = []
        for kind in BLOCK:
            if made >= n:
                return
            created = stamp()
            modified = created + dt.timedelta(milliseconds=rng.randrange(0, 3_600_000))
            obj = {"type": kind, "spec_version": "2.1", "id": sid(kind),
                   "created": _ms(created), "modified": _ms(modified)}
            if kind == "indicator":
                flavour = rng.randrange(3)
                if flavour == 0:
                    value = ".".join(str(rng.randrange(1, 255)) for _ in range(4))
                    pattern = f"[ipv4-addr:value = '{value}']"
                    name = f"Malicious IPv4 address {value}"
                elif flavour == 1:
                    value = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}{rng.randrange(1000)}.example.net"
                    pattern = f"[domain-name:value = '{value}']"
                    name = f"Malicious domain {value}"
                else:
                    value = f"{rng.getrandbits(256):064x}"
                    pattern = f"[file:hashes.'SHA-256' = '{value}']"
                    name = f"Malicious file {value[:12]}"
                obj.update({"name": name, "description": f"{name}, reported by a member.",
                            "pattern": pattern, "pattern_type": "stix",
                            "valid_from": _ms(created), "indicator_types": ["malicious-activity"]})
                indicators.append(obj["id"])
            elif kind == "malware":
                family = f"{rng.choice(WORDS).capitalize()}{rng.choice(WORDS).capitalize()}"
                obj.update({"name": family, "is_family": True,
                            "malware_types": [rng.choice(MALWARE_TYPES)],
                            "description": f"The {family} family, seen in the benchmark's fiction."})
                malware.append(obj["id"])
            elif kind == "relationship":
                obj.update({"relationship_type": "indicates",
                            "source_ref": rng.choice(indicators), "target_ref": rng.choice(malware)})
            else:
                obj.update({"sighting_of_ref": rng.choice(indicators),
                            "count": rng.randrange(1, 50),
                            "first_seen": _ms(created), "last_seen": _ms(modified)})
            made += 1
            yield obj


def ensure_dataset(n: int, seed: int, cache: Path) -> dict:
    """The dataset in files of 1,000 objects (TAXII envelopes), made once and reused."""
    folder = cache / f"v{DATASET_VERSION}-n{n}-s{seed}"
    meta_path = folder / "dataset.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        meta["folder"] = str(folder)
        log(f"dataset: reusing {folder} ({meta['objects']} objects in {len(meta['files'])} files)")
        return meta
    log(f"dataset: generating {n} objects (seed {seed}) into {folder}")
    tmp = cache / f".tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "parts").mkdir(parents=True)
    files, ids, types, chunk = [], [], [], []
    counts: dict[str, int] = {}
    size = 0

    def flush() -> None:
        nonlocal size
        name = f"parts/part-{len(files):06d}.json"
        data = json.dumps({"objects": chunk}, separators=(",", ":")).encode()
        (tmp / name).write_bytes(data)
        size += len(data)
        files.append(name)
        chunk.clear()

    for obj in generate_objects(n, seed):
        chunk.append(obj)
        ids.append(obj["id"])
        counts[obj["type"]] = counts.get(obj["type"], 0) + 1
        if len(chunk) == PAGE:
            flush()
    if chunk:
        flush()
    (tmp / "ids.json").write_text(json.dumps(ids))
    meta = {"objects": n, "seed": seed, "version": DATASET_VERSION, "files": files,
            "types": counts, "bytes": size}
    (tmp / "dataset.json").write_text(json.dumps(meta, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    meta["folder"] = str(folder)
    log(f"dataset: {n} objects, {size / 1e6:.1f} MB, types {counts}")
    return meta


def dataset_ids(meta: dict) -> list[str]:
    return json.loads((Path(meta["folder"]) / "ids.json").read_text())


def dataset_files(meta: dict) -> list[Path]:
    return [Path(meta["folder"]) / f for f in meta["files"]]


# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS of a process, in kB."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


def stop_process(p: subprocess.Popen, grace: float = 20.0) -> None:
    if p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        log(f"pid {p.pid} did not stop within {grace:.0f}s of SIGTERM; killing it")
        p.kill()
        p.wait(10)


def cairn_env() -> dict[str, str]:
    # Cairn refuses unknown CAIRN_* variables, so the benchmark's own CAIRN_BENCH_* stay out.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_BENCH_")}
    env.setdefault("CAIRN_LOG_LEVEL", "warn")
    env.setdefault("RUST_LOG", "warn")
    return env


def psql(sql: str) -> None:
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres",
                    "-d", "postgres", "-c", sql], check=True, capture_output=True, timeout=120)


class PgDatabase:
    """A fresh PostgreSQL database, dropped on close."""

    counter = 0

    def __init__(self, base_url: str):
        PgDatabase.counter += 1
        self.name = f"cairn_bench_{os.getpid()}_{PgDatabase.counter}"
        psql(f"CREATE DATABASE {self.name}")
        self.url = base_url.rstrip("/") + "/" + self.name

    def close(self) -> None:
        try:
            psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        except Exception as e:  # noqa: BLE001
            log(f"could not drop database {self.name}: {e}")


BENCH_PLAN = """\
[[organizations]]
short_name = "bench-org"
name = "Benchmark Organization"
sector = "energy"
org_type = "private"
country = "DE"
verified = true

[[users]]
username = "bench.analyst"
organization = "bench-org"
role = "analyst"
  [[users.tokens]]
  name = "bench"
  generate = true

[[communities]]
slug = "bench-isac"
name = "Benchmark ISAC"
default_tlp = "green"
  [[communities.members]]
  organization = "bench-org"
  role = "chair"
  representatives = ["bench.analyst"]
"""


class Server:
    """A running TAXII server; subclasses start it."""

    kind = ""
    label = ""

    def __init__(self, args, work: Path):
        self.args = args
        self.work = work
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = work / "server.log"
        self.auth: tuple[str, str] | None = None
        self.api_root = ""
        self.collection = ""
        self.session = requests.Session()
        self.has_metrics = False

    # --- lifecycle ---
    def start(self) -> None:
        raise NotImplementedError

    def _spawn(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     env=env, cwd=self.work, start_new_session=True)

    def _wait(self, probe, what: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.label} exited ({self.proc.returncode}) before it was ready; "
                                 f"log tail:\n{self.log_tail()}")
            try:
                if probe():
                    return
            except (requests.RequestException, OSError, ValueError):
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.label}: {what} not ready after {timeout:.0f}s; log tail:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-n:]
        except OSError:
            return ""
        return "\n".join(re.sub(r"cairn_[0-9a-f]{16,}", "cairn_<token>", l) for l in lines)

    def rss(self) -> dict[str, int]:
        return proc_status(self.proc.pid) if self.proc else {}

    def stop(self) -> None:
        self.session.close()
        if self.proc:
            stop_process(self.proc)
            self._log_file.close()
            if self.proc.returncode not in (0, -signal.SIGTERM, 143):
                log(f"{self.label}: exit status {self.proc.returncode} after SIGTERM")

    def cleanup(self) -> None:
        pass

    # --- TAXII ---
    def discover(self) -> None:
        r = self.session.get(self.api_root + "collections/", headers=GET_HEADERS, auth=self.auth, timeout=30)
        if r.status_code != 200:
            raise BenchError(f"GET {self.api_root}collections/ -> {r.status_code}: {r.text[:300]}")
        cols = r.json().get("collections", [])
        if not cols:
            raise BenchError(f"{self.label}: no collection under {self.api_root}")
        self.collection = f"{self.api_root}collections/{cols[0]['id']}/"

    def metrics(self) -> dict[tuple[str, str], float]:
        """Server-side seconds by (method, route), from Cairn's /metrics."""
        if not self.has_metrics:
            return {}
        try:
            r = self.session.get(self.base + "/metrics", timeout=10)
        except requests.RequestException:
            return {}
        out: dict[tuple[str, str], float] = {}
        for line in r.text.splitlines():
            if line.startswith("cairn_http_request_duration_seconds_sum{"):
                m = re.match(r'.*method="([^"]+)",route="([^"]+)".*\}\s+([0-9.eE+-]+)$', line)
                if m:
                    key = (m.group(1), m.group(2))
                    out[key] = out.get(key, 0.0) + float(m.group(3))
        return out


class CairnSqlite(Server):
    kind = "cairn-sqlite"
    label = "Cairn on SQLite"

    def start(self) -> None:
        data = self.work / "data"
        self._spawn([self.args.cairn_bin, "demo", "--data-dir", str(data),
                     "--listen", f"127.0.0.1:{self.port}"], cairn_env())
        creds = data / "demo-credentials.json"
        self._wait(lambda: creds.exists() and creds.stat().st_size > 0
                   and self.session.get(self.base + "/readyz", timeout=2).status_code == 200, "/readyz")
        c = json.loads(creds.read_text())
        user = next(u for u in c["users"] if u["username"] == "nils.analyst")
        self.auth = (user["username"], user["token"])
        self.api_root = f"{self.base}/taxii2/{c['community']}/"
        self.has_metrics = True
        self.discover()


class CairnPostgres(Server):
    kind = "cairn-postgres"
    label = "Cairn on PostgreSQL"

    def start(self) -> None:
        self.db = PgDatabase(self.args.postgres_url)
        key = self.work / "master.key"
        key.write_text(secrets.token_hex(32) + "\n")
        key.chmod(0o600)
        plan = self.work / "plan.toml"
        plan.write_text(BENCH_PLAN)
        self._spawn([self.args.cairn_bin, "serve", "--database-url", self.db.url,
                     "--master-key-file", str(key), "--listen", f"127.0.0.1:{self.port}",
                     "--bootstrap", str(plan)], cairn_env())
        token: list[str] = []

        def ready() -> bool:
            if not token:
                m = TOKEN_RE.search(self.log_path.read_text(errors="replace"))
                if not m:
                    return False
                token.append(m.group(3))
            return self.session.get(self.base + "/readyz", timeout=2).status_code == 200

        self._wait(ready, "/readyz and the bootstrap token")
        self.auth = ("bench.analyst", token[0])
        self.api_root = f"{self.base}/taxii2/bench-isac/"
        self.has_metrics = True
        self.discover()

    def cleanup(self) -> None:
        if getattr(self, "db", None):
            self.db.close()


MEDALLION_COLLECTION = "5c8a1e0f-6d2b-4b7a-9e3c-1f0d2a4b6c8e"


class Medallion(Server):
    kind = "medallion"
    label = "medallion 3 (MemoryBackend)"

    def start(self) -> None:
        if not self.args.medallion or not Path(self.args.medallion).exists():
            raise BenchError(f"medallion not found at {self.args.medallion!r}")
        data = {
            "/discovery": {"title": "medallion (benchmark)", "default": "/bench/", "api_roots": ["/bench/"]},
            "bench": {
                "information": {"title": "Benchmark", "versions": [TAXII],
                                "max_content_length": 64 * 1024 * 1024},
                "status": [],
                "collections": [{
                    "id": MEDALLION_COLLECTION, "title": "Benchmark collection", "can_read": True,
                    "can_write": True, "media_types": ["application/stix+json;version=2.1"],
                    "objects": [], "manifest": []}],
            },
        }
        (self.work / "data.json").write_text(json.dumps(data))
        # No "users" section: medallion's default credentials (user / pass). session_timeout:
        # how long a `next` token lives (default 30 s, too short for slow full reads).
        conf = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                            "filename": str(self.work / "data.json"), "interop_requirements": True,
                            "session_timeout": 3600},
                "taxii": {"max_page_size": PAGE}}
        (self.work / "medallion.json").write_text(json.dumps(conf))
        self._spawn([self.args.medallion, "--host", "127.0.0.1", "--port", str(self.port),
                     "--log-level", "WARN", str(self.work / "medallion.json")])
        self.auth = ("user", "pass")
        self._wait(lambda: self.session.get(self.base + "/taxii2/", headers=GET_HEADERS, auth=self.auth,
                                            timeout=2).status_code == 200, "/taxii2/")
        self.api_root = f"{self.base}/bench/"
        self.discover()


TARGETS = {"cairn-sqlite": CairnSqlite, "cairn-postgres": CairnPostgres, "medallion": Medallion}


# ---------------------------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------------------------

class Run:
    """Anomalies seen (unexpected status codes, wrong counts, pagination problems)."""

    def __init__(self) -> None:
        self.anomalies: list[str] = []

    def anomaly(self, text: str) -> None:
        log("ANOMALY: " + text)
        self.anomalies.append(text)


def server_secs(before: dict, after: dict, method: str, route_part: str) -> float | None:
    if not after:
        return None
    return sum(v - before.get(k, 0.0) for k, v in after.items() if k[0] == method and route_part in k[1])


def ingest(srv: Server, meta: dict, envelope: int, budget: float, run: Run) -> dict:
    """POST the whole dataset in envelopes of `envelope` objects; only the POSTs are timed."""
    url = srv.collection + "objects/"
    posted_ids: list[str] = []
    objects = requests_n = 0
    timed = 0.0
    lat: list[float] = []
    partial = timed_out = False
    m0 = srv.metrics()
    for path in dataset_files(meta):
        raw = path.read_bytes()
        objs = json.loads(raw)["objects"]
        if envelope == PAGE and len(objs) <= PAGE:
            chunks = [(raw, objs)]
        else:
            chunks = [(json.dumps({"objects": objs[i:i + envelope]}, separators=(",", ":")).encode(),
                       objs[i:i + envelope]) for i in range(0, len(objs), envelope)]
        for body, part in chunks:
            t = time.perf_counter()
            try:
                r = srv.session.post(url, data=body, headers=POST_HEADERS, auth=srv.auth,
                                     timeout=(10, max(30.0, budget - timed + 30)))
                content = r.content
            except requests.Timeout:
                timed += time.perf_counter() - t
                timed_out = partial = True
                log(f"{srv.label}: a POST of {len(part)} objects got no answer within the budget")
                break
            d = time.perf_counter() - t
            timed += d
            lat.append(d)
            requests_n += 1
            if r.status_code != 202:
                raise BenchError(f"POST {url} ({len(part)} objects, {len(body)} bytes) -> {r.status_code}: "
                                 f"{content[:400]!r}")
            ok = SUCCESS_RE.search(content)
            bad = FAILURE_RE.search(content)
            if not ok or int(ok.group(1)) != len(part) or (bad and int(bad.group(1)) != 0):
                run.anomaly(f"{srv.label}: POST {url} with {len(part)} objects: status says "
                            f"success_count={ok and ok.group(1)!r} failure_count={bad and bad.group(1)!r}: "
                            f"{content[:300]!r}")
            objects += len(part)
            posted_ids.extend(o["id"] for o in part)
            if timed > budget:
                partial = True
                break
        if partial:
            break
    m1 = srv.metrics()
    res = {"envelope": envelope, "objects": objects, "requests": requests_n, "seconds": timed,
           "rate": objects / timed if timed else 0.0, "partial": partial, "timed_out": timed_out,
           "request_p50_ms": 1000 * pct(lat, 50), "request_max_ms": 1000 * max(lat) if lat else 0,
           "server_seconds": server_secs(m0, m1, "POST", "/objects/")}
    log(f"{srv.label}: ingest envelope={envelope}: {objects} objects in {timed:.2f}s = "
        f"{res['rate']:,.0f}/s{' (PARTIAL: budget)' if partial else ''}; server-side "
        f"{res['server_seconds'] if res['server_seconds'] is not None else '-'} s")
    res["_ids"] = posted_ids
    return res


def paged_read(srv: Server, params: dict, budget: float, run: Run, what: str,
               expected_max: int) -> dict:
    """GET objects/ with limit=1000, following `next`; timed, then checked."""
    url = srv.collection + "objects/"
    bodies: list[bytes] = []
    timed = 0.0
    count = pages = 0
    nxt = None
    partial = timed_out = False
    max_pages = expected_max // PAGE + 20
    m0 = srv.metrics()
    first_headers = None
    while True:
        p = dict(params)
        p["limit"] = str(PAGE)
        if nxt:
            p["next"] = nxt
        t = time.perf_counter()
        try:
            r = srv.session.get(url, params=p, headers=GET_HEADERS, auth=srv.auth,
                                timeout=(10, max(30.0, budget - timed + 30)))
            body = r.content
        except requests.Timeout:
            timed += time.perf_counter() - t
            timed_out = partial = True
            log(f"{srv.label}: {what}: page {pages + 1} got no answer within the budget "
                f"({timed:.0f} s spent, {count} objects read)")
            break
        timed += time.perf_counter() - t
        pages += 1
        if r.status_code != 200:
            raise BenchError(f"{what}: GET {r.request.url} -> {r.status_code} after {count} objects: {body[:400]!r}")
        if first_headers is None:
            first_headers = dict(r.headers)
        bodies.append(body)
        count += body.count(b'"spec_version"')
        head = body[:4096]
        more = MORE_RE.search(head) or MORE_RE.search(body)
        nm = NEXT_RE.search(head) or NEXT_RE.search(body)
        if not more or more.group(1) == b"false":
            if nm:
                run.anomaly(f"{srv.label}: {what}: page {pages} has more=false but a next token")
            break
        if not nm:
            run.anomaly(f"{srv.label}: {what}: page {pages} ({r.request.url}) says more=true without `next`")
            break
        nxt = nm.group(1).decode()
        if pages >= max_pages:
            run.anomaly(f"{srv.label}: {what}: still more=true after {pages} pages ({count} objects); stopped")
            break
        if timed > budget:
            partial = True
            break
    m1 = srv.metrics()
    # Checks, outside the timed part.
    seen: dict[tuple[str, str], int] = {}
    order: list[str] = []
    for i, b in enumerate(bodies):
        doc = json.loads(b)
        objs = doc.get("objects", [])
        if len(objs) > PAGE:
            run.anomaly(f"{srv.label}: {what}: page {i + 1} has {len(objs)} objects > limit {PAGE}")
        for o in objs:
            k = (o.get("id"), o.get("modified") or o.get("created") or "")
            seen[k] = seen.get(k, 0) + 1
            order.append(o.get("id"))
    parsed = sum(seen.values())
    if parsed != count:
        run.anomaly(f"{srv.label}: {what}: quick count {count} != parsed count {parsed}")
    dups = sum(v - 1 for v in seen.values() if v > 1)
    if dups:
        run.anomaly(f"{srv.label}: {what}: {dups} objects returned more than once across pages")
    res = {"params": params, "objects": parsed, "distinct": len(seen), "pages": pages, "seconds": timed,
           "rate": parsed / timed if timed and parsed else 0.0, "partial": partial,
           "timed_out": timed_out, "server_seconds": server_secs(m0, m1, "GET", "/objects/"),
           "bytes": sum(len(b) for b in bodies)}
    log(f"{srv.label}: {what}: {parsed} objects, {pages} pages, {timed:.2f}s = {res['rate']:,.0f}/s"
        f"{' (PARTIAL: budget)' if partial else ''}; server-side {res['server_seconds']}")
    res["_order"] = order
    return res


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def by_id(srv: Server, ids: list[str], samples: int, seed: int, budget: float, run: Run) -> dict:
    rng = random.Random(seed + 1)
    pick = [rng.choice(ids) for _ in range(samples)]
    warm = [rng.choice(ids) for _ in range(3)]
    for oid in warm:
        srv.session.get(f"{srv.collection}objects/{oid}/", headers=GET_HEADERS, auth=srv.auth,
                        timeout=(10, budget + 30))
    lat: list[float] = []
    partial = timed_out = False
    t_all = time.perf_counter()
    m0 = srv.metrics()
    for oid in pick:
        url = f"{srv.collection}objects/{oid}/"
        t = time.perf_counter()
        try:
            r = srv.session.get(url, headers=GET_HEADERS, auth=srv.auth, timeout=(10, budget + 30))
            body = r.content
        except requests.Timeout:
            partial = timed_out = True
            break
        lat.append(time.perf_counter() - t)
        if r.status_code != 200:
            run.anomaly(f"{srv.label}: GET {url} -> {r.status_code}: {body[:300]!r}")
        elif oid.encode() not in body:
            run.anomaly(f"{srv.label}: GET {url} -> 200 without the object: {body[:300]!r}")
        if time.perf_counter() - t_all > budget:
            partial = True
            break
    m1 = srv.metrics()
    srv_s = server_secs(m0, m1, "GET", "/objects/{object}/")
    res = {"samples": len(lat), "p50_ms": 1000 * pct(lat, 50), "p99_ms": 1000 * pct(lat, 99),
           "mean_ms": 1000 * statistics.fmean(lat), "max_ms": 1000 * max(lat), "partial": partial, "timed_out": timed_out,
           "server_mean_ms": 1000 * srv_s / len(lat) if srv_s is not None and lat else None}
    # The client's own floor: a trivial endpoint over the same session.
    if srv.has_metrics:
        floor = []
        for _ in range(200):
            t = time.perf_counter()
            srv.session.get(srv.base + "/healthz", timeout=10).content
            floor.append(time.perf_counter() - t)
        res["healthz_p50_ms"] = 1000 * pct(floor, 50)
    log(f"{srv.label}: by id: n={len(lat)} p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms "
        f"max {res['max_ms']:.2f} ms{' (PARTIAL: budget)' if partial else ''}")
    return res


def date_added_of(srv: Server, oid: str, run: Run) -> str | None:
    r = srv.session.get(f"{srv.collection}manifest/", params={"match[id]": oid, "limit": "1"},
                        headers=GET_HEADERS, auth=srv.auth, timeout=120)
    if r.status_code == 200:
        objs = r.json().get("objects", [])
        if objs and objs[0].get("date_added"):
            return objs[0]["date_added"]
    run.anomaly(f"{srv.label}: GET {r.request.url} -> {r.status_code}: no date_added for {oid}: {r.text[:200]}")
    r = srv.session.get(f"{srv.collection}objects/{oid}/", headers=GET_HEADERS, auth=srv.auth, timeout=120)
    return r.headers.get("X-TAXII-Date-Added-First")


def measure_target(cls, args, meta: dict, run: Run) -> dict:
    res: dict = {"target": cls.kind, "label": cls.label, "loadavg_before": os.getloadavg()}
    budget = args.phase_budget
    all_ids = dataset_ids(meta)
    types = meta["types"]
    # The client's garbage collector would scan every id held here on each full collection,
    # milliseconds that would count as the server's latency: what is held now is kept out of it.
    gc.collect()
    gc.freeze()

    # 1. envelopes of 100, on a server of its own.
    with tempfile.TemporaryDirectory(prefix=f"cairn-bench-{cls.kind}-") as tmp:
        srv = cls(args, Path(tmp))
        try:
            srv.start()
            res["ingest_100"] = ingest(srv, meta, 100, budget, run)
            res["ingest_100"].pop("_ids")
            res["ingest_100"]["server_hwm_kb"] = srv.rss().get("VmHWM")
        finally:
            srv.stop()
            srv.cleanup()

    # 2-6. envelopes of 1,000, then the reads, on a second fresh server.
    with tempfile.TemporaryDirectory(prefix=f"cairn-bench-{cls.kind}-") as tmp:
        srv = cls(args, Path(tmp))
        try:
            srv.start()
            base = paged_read(srv, {}, budget, run, "baseline read (before ingest)", 100_000)
            baseline = base["objects"]
            base_order = base.pop("_order")
            res["baseline_objects"] = baseline
            ing = ingest(srv, meta, PAGE, budget, run)
            posted = ing.pop("_ids")
            res["ingest_1000"] = ing
            expected = baseline + len(posted)
            res["loaded_objects"] = len(posted)
            busy = ing["timed_out"]

            # By id first: a server still busy with a read that timed out (medallion) would
            # distort it.
            if not busy:
                res["by_id"] = by_id(srv, posted, args.by_id_samples, args.seed, budget, run)
                busy = res["by_id"]["timed_out"]

            if not busy:
                full = paged_read(srv, {}, budget, run, "full read", expected)
                order = full.pop("_order")
                busy = full["timed_out"]
                if not full["partial"] and full["objects"] != expected:
                    run.anomaly(f"{srv.label}: full read returned {full['objects']} objects, expected {expected} "
                                f"({baseline} before + {len(posted)} posted)")
                if not full["partial"]:
                    missing = set(posted) - set(order)
                    if missing:
                        run.anomaly(f"{srv.label}: full read misses {len(missing)} posted ids, "
                                    f"e.g. {sorted(missing)[:3]}")
                    if order != base_order + posted:
                        run.anomaly(f"{srv.label}: full read order differs from the order of adding")
                res["full_read"] = full

            if not busy:
                ft = paged_read(srv, {"match[type]": "indicator"}, budget, run, "match[type]=indicator", expected)
                ft.pop("_order")
                busy = ft["timed_out"]
                want = sum(1 for i in base_order + posted if i and i.startswith("indicator--"))
                if not ft["partial"] and ft["objects"] != want:
                    run.anomaly(f"{srv.label}: match[type]=indicator returned {ft['objects']}, expected {want}")
                res["filter_type"] = ft

            # The object in the middle of the collection (in order of adding).
            everything = base_order + posted
            mid_index = len(everything) // 2
            if not busy and everything:
                mid = everything[mid_index]
                added = date_added_of(srv, mid, run)
                if added:
                    fa = paged_read(srv, {"added_after": added}, budget, run, f"added_after={added}", expected)
                    fa.pop("_order")
                    upper = len(everything) - mid_index - 1
                    if not fa["partial"] and not (upper - 2 * PAGE <= fa["objects"] <= upper):
                        run.anomaly(f"{srv.label}: added_after={added} (date_added of object #{mid_index} of "
                                    f"{len(everything)}) returned {fa['objects']} objects; expected at most {upper}")
                    fa["middle_index"] = mid_index
                    fa["date_added"] = added
                    res["filter_added_after"] = fa
            if busy:
                res["note"] = ("a request got no answer within the phase budget; the reads after it were "
                               "skipped (the server was still working on it)")
            res["rss_kb"] = srv.rss()
            log(f"{srv.label}: VmHWM {res['rss_kb'].get('VmHWM', 0) / 1024:.0f} MB")
        finally:
            srv.stop()
            srv.cleanup()
    return res


# ---------------------------------------------------------------------------------------------
# raw store: cairn import / export
# ---------------------------------------------------------------------------------------------

def timed_cmd(cmd: list[str], env: dict, what: str, timeout: float) -> tuple[float, str, str]:
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    d = time.perf_counter() - t
    if p.returncode != 0:
        raise BenchError(f"{what} exited {p.returncode}: {p.stderr[-800:]} {p.stdout[-400:]}")
    return d, p.stdout, p.stderr


def raw_store(engine: str, args, meta: dict, run: Run) -> dict:
    """`cairn import` then `cairn export` on a fresh store, no HTTP."""
    res: dict = {"engine": engine, "loadavg_before": os.getloadavg()}
    parts = Path(meta["folder"]) / "parts"
    with tempfile.TemporaryDirectory(prefix=f"cairn-bench-raw-{engine}-") as tmp:
        tmp = Path(tmp)
        env = cairn_env()
        db = None
        try:
            if engine == "sqlite":
                # The same seed as the HTTP target: start `cairn demo` once and stop it.
                data = tmp / "data"
                port = free_port()
                with open(tmp / "demo.log", "wb") as lf:
                    p = subprocess.Popen([args.cairn_bin, "demo", "--data-dir", str(data), "--listen",
                                          f"127.0.0.1:{port}"], stdout=lf, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
                    deadline = time.monotonic() + 90
                    while time.monotonic() < deadline:
                        if p.poll() is not None:
                            raise BenchError("cairn demo exited while seeding the raw store")
                        try:
                            if (data / "demo-credentials.json").exists() and requests.get(
                                    f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                                break
                        except requests.RequestException:
                            pass
                        time.sleep(0.2)
                    stop_process(p)
                env["CAIRN_DATABASE_URL"] = f"sqlite://{data / 'cairn.db'}"
                env["CAIRN_MASTER_KEY_FILE"] = str(data / "master.key")
                community, user = "energy-water-isac", "nils.analyst"
            else:
                db = PgDatabase(args.postgres_url)
                key = tmp / "master.key"
                key.write_text(secrets.token_hex(32) + "\n")
                plan = tmp / "plan.toml"
                plan.write_text(BENCH_PLAN)
                env["CAIRN_DATABASE_URL"] = db.url
                env["CAIRN_MASTER_KEY_FILE"] = str(key)
                timed_cmd([args.cairn_bin, "admin", "apply", str(plan)], env, "cairn admin apply", 120)
                community, user = "bench-isac", "bench.analyst"
            secs, out, err = timed_cmd([args.cairn_bin, "import", str(parts), "--community", community,
                                        "--user", user], env, "cairn import", args.raw_timeout)
            m = re.search(r"(\d+) stored, (\d+) duplicate, (\d+) refused", out)
            stored = int(m.group(1)) if m else 0
            if not m or stored != meta["objects"]:
                run.anomaly(f"raw {engine}: cairn import said {out.strip()!r} for {meta['objects']} objects")
            res["import"] = {"objects": stored, "seconds": secs, "rate": stored / secs}
            log(f"raw {engine}: import {stored} objects in {secs:.2f}s = {stored / secs:,.0f}/s")
            outfile = tmp / "export.json"
            secs, out, err = timed_cmd([args.cairn_bin, "export", "--community", community, "--user", user,
                                        "--output", str(outfile)], env, "cairn export", args.raw_timeout)
            m = re.search(r"exported (\d+) objects", err)
            n = int(m.group(1)) if m else 0
            res["export"] = {"objects": n, "seconds": secs, "rate": n / secs if secs else 0,
                             "bytes": outfile.stat().st_size}
            log(f"raw {engine}: export {n} objects in {secs:.2f}s = {n / secs:,.0f}/s")
        finally:
            if db:
                db.close()
    return res


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------

def f_rate(d: dict | None, key: str = "rate") -> str:
    if not d:
        return "–"
    if d.get("timed_out") and not d.get("objects"):
        return f"no answer in {d['seconds']:.0f} s"
    s = f"{d[key]:,.0f}"
    if d.get("partial"):
        s += f" (partial: {d['objects']:,} in {d['seconds']:.0f} s)"
    return s


def f_ms(v) -> str:
    return "–" if v is None else f"{v:.2f}"


def report(args, meta: dict, results: list[dict], raws: dict[str, dict], failures: dict[str, str],
           run: Run, started: float, env_info: dict) -> str:
    L: list[str] = []
    L.append(f"### TAXII 2.1 benchmark, {meta['objects']:,} objects\n")
    L.append(f"- date: {env_info['date']}; host: {env_info['cpu']}; `nproc` = {env_info['nproc']}; "
             f"memory {env_info['mem_gb']:.0f} GiB; {env_info['python']}")
    L.append(f"- command: `{env_info['command']}`")
    L.append(f"- dataset: seed {meta['seed']}, {meta['bytes'] / 1e6:.1f} MB in files of 1,000 objects; types "
             + ", ".join(f"{k} {v:,}" for k, v in sorted(meta["types"].items())))
    L.append(f"- load average (1/5/15 min) before the run: {env_info['loadavg']}; other work may have been "
             f"running on the machine at the same time (see each row's load average)")
    L.append(f"- phase budget {args.phase_budget:.0f} s; by-id samples {args.by_id_samples}; total time "
             f"{time.time() - started:.0f} s\n")
    L.append("| target | objects | ingest obj/s (env 100) | ingest obj/s (env 1000) | full read obj/s | "
             "by id p50 ms | by id p99 ms | match[type] obj/s | added_after obj/s | peak RSS MB | load avg before |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    notes: list[str] = []
    for r in results:
        b = r.get("by_id") or {}
        rss = (r.get("rss_kb") or {}).get("VmHWM")
        by_n = f" (n={b['samples']})" if b and b.get("samples") != args.by_id_samples else ""
        if r.get("note"):
            notes.append(f"- {r['label']}: {r['note']}")
        L.append(f"| {r['label']} | {r.get('loaded_objects', 0):,} | {f_rate(r.get('ingest_100'))} | "
                 f"{f_rate(r.get('ingest_1000'))} | {f_rate(r.get('full_read'))} | "
                 f"{f_ms(b.get('p50_ms'))}{by_n} | {f_ms(b.get('p99_ms'))} | {f_rate(r.get('filter_type'))} | "
                 f"{f_rate(r.get('filter_added_after'))} | {'–' if rss is None else f'{rss / 1024:.0f}'} | "
                 f"{r['loadavg_before'][0]:.2f} |")
    for engine, raw in raws.items():
        name = "SQLite" if engine == "sqlite" else "PostgreSQL"
        if "error" in raw:
            L.append(f"| Cairn store raw ({name}, no HTTP) | – | – | failed: {raw['error'][:80]} | – | – | – | – | – | – | – |")
            continue
        L.append(f"| Cairn store raw ({name}, no HTTP) | {raw['import']['objects']:,} | – | "
                 f"{raw['import']['rate']:,.0f} (import) | {raw['export']['rate']:,.0f} (export) | – | – | – | – | – | "
                 f"{raw['loadavg_before'][0]:.2f} |")
    for kind, err in failures.items():
        L.append(f"| {TARGETS[kind].label} | – | failed: {err.splitlines()[0][:120]} | | | | | | | | |")
    L.append("")
    if notes:
        L.extend(notes)
        L.append("")
    # Ratios.
    lines = []
    for r in results:
        if not r["target"].startswith("cairn"):
            continue
        for engine, raw in raws.items():
            if "error" in raw or "ingest_1000" not in r or "full_read" not in r or engine not in r["target"]:
                continue
            name = "SQLite" if engine == "sqlite" else "PostgreSQL"
            ri = raw["import"]["rate"] / r["ingest_1000"]["rate"] if r["ingest_1000"]["rate"] else float("inf")
            rr = raw["export"]["rate"] / r["full_read"]["rate"] if r["full_read"]["rate"] else float("inf")
            lines.append(f"- {r['label']} vs raw {name}: raw import / HTTP ingest (env 1000) = **{ri:.2f}x**; "
                         f"raw export / HTTP full read = **{rr:.2f}x**")
    if lines:
        L.append("Raw store rate over HTTP rate (1.0 = no HTTP overhead; the target is ≤ 2):\n")
        L.extend(lines)
        L.append("")
    # Timing split.
    split = []
    for r in results:
        ing, full, b = r.get("ingest_1000"), r.get("full_read"), r.get("by_id") or {}
        if ing and ing.get("server_seconds") is not None:
            split.append(f"- {r['label']}: ingest (env 1000) {ing['seconds']:.2f} s at the client, "
                         f"{ing['server_seconds']:.2f} s inside the server's handlers; full read "
                         f"{(full or {}).get('seconds', 0):.2f} s / {(full or {}).get('server_seconds') or 0:.2f} s; by id mean "
                         f"{b.get('mean_ms', 0):.2f} ms / {f_ms(b.get('server_mean_ms'))} ms in the handler; "
                         f"GET /healthz p50 over the same session {f_ms(b.get('healthz_p50_ms'))} ms")
        ing100 = r.get("ingest_100")
        if ing100:
            hwm = ing100.get("server_hwm_kb")
            split.append(f"  - {r['label']}: ingest env 100 on its own server: {ing100['requests']} POSTs, "
                         f"p50 {ing100['request_p50_ms']:.1f} ms, that server's VmHWM "
                         f"{'–' if not hwm else f'{hwm / 1024:.0f} MB'}")
    if split:
        L.append("Where the time goes (client wall time vs the server's own per-route timer from `/metrics`):\n")
        L.extend(split)
        L.append("")
    if run.anomalies:
        L.append("Anomalies seen:\n")
        L.extend(f"- {a}" for a in run.anomalies)
        L.append("")
    else:
        L.append("No anomalies seen: every POST's status counted all its objects, every paged read returned "
                 "each object once with correct `more`/`next`, every object by id answered 200.\n")
    return "\n".join(L)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--targets", default="cairn-sqlite,cairn-postgres,medallion")
    ap.add_argument("--out", default=None, help="markdown report (also printed); a .json of the details beside it")
    ap.add_argument("--seed", type=int, default=20260)
    ap.add_argument("--cache", default=os.environ.get("CAIRN_BENCH_CACHE", str(Path.home() / ".cache" / "cairn-bench-data")))
    ap.add_argument("--cairn-bin", default=str(ROOT / "target" / "release" / "cairn"))
    ap.add_argument("--medallion", default=shutil.which("medallion"))
    ap.add_argument("--postgres-url", default=os.environ.get("CAIRN_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
                    help="server URL without a database name; a fresh database is made per run and dropped")
    ap.add_argument("--phase-budget", type=float, default=120.0,
                    help="seconds of timed requests after which a phase stops and is reported partial")
    ap.add_argument("--by-id-samples", type=int, default=1000)
    ap.add_argument("--raw-timeout", type=float, default=1800.0)
    ap.add_argument("--no-raw", action="store_true", help="skip the cairn import/export rows")
    ap.add_argument("--command-line", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for t in targets:
        if t not in TARGETS:
            ap.error(f"unknown target {t!r}; choose from {', '.join(TARGETS)}")
    if "medallion" in targets and args.objects > 200_000:
        log(f"medallion skipped at {args.objects:,} objects (MemoryBackend: everything in one Python process, "
            f"with a deep copy of the collection on every request)")
        targets.remove("medallion")
    if any(t.startswith("cairn") for t in targets) and not Path(args.cairn_bin).exists():
        ap.error(f"no cairn binary at {args.cairn_bin} (build with cargo build --release -p cairn-cli)")

    started = time.time()
    mem_kb = 0
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    env_info = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "nproc": os.cpu_count(), "cpu": cpu,
                "mem_gb": mem_kb / 1024 / 1024, "python": f"Python {platform.python_version()}",
                "loadavg": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
                "command": args.command_line or "python3 bench/taxii_bench.py " + " ".join(sys.argv[1:])}
    log(f"nproc {env_info['nproc']}, load average {env_info['loadavg']}, targets {targets}")

    meta = ensure_dataset(args.objects, args.seed, Path(args.cache))
    run = Run()
    results: list[dict] = []
    failures: dict[str, str] = {}
    raws: dict[str, dict] = {}
    for kind in targets:
        log(f"=== {kind} (load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())})")
        try:
            results.append(measure_target(TARGETS[kind], args, meta, run))
        except Exception as e:  # noqa: BLE001 - one target failing must not stop the others
            log(f"{kind} FAILED: {e}")
            failures[kind] = str(e)
        if kind.startswith("cairn") and not args.no_raw:
            engine = kind.split("-", 1)[1]
            log(f"=== raw store {engine} (load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())})")
            try:
                raws[engine] = raw_store(engine, args, meta, run)
            except Exception as e:  # noqa: BLE001
                log(f"raw {engine} FAILED: {e}")
                raws[engine] = {"error": str(e), "loadavg_before": os.getloadavg()}

    text = report(args, meta, results, raws, failures, run, started, env_info)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        out.with_suffix(".json").write_text(json.dumps(
            {"env": env_info, "args": vars(args), "dataset": {k: v for k, v in meta.items() if k != "files"},
             "results": results, "raw": raws, "failures": failures, "anomalies": run.anomalies},
            indent=1, default=str))
        log(f"wrote {out} and {out.with_suffix('.json')}")
    return 1 if failures and not results else 0


if __name__ == "__main__":
    sys.exit(main())
