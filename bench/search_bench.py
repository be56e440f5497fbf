#!/usr/bin/env python3
"""Correlation, value lookup and full-text search benchmark (see docs/PERFORMANCE.md).

    bench/search.sh                                 # 1,000,000 objects on SQLite
    bench/search.sh --objects 20000                 # quick
    bench/search.sh --objects 100000 --engine postgres

What it does:

1. Dataset (generated once from a seeded PRNG, cached): N indicators, each holding one observable
   value (an IPv4 address, a domain or a SHA-256, in its pattern) and a name and description drawn
   from a synthetic vocabulary of 20,000 words with Zipf-distributed frequencies (one in ten has a
   report-length description). 80 % are published by the organization the client acts for
   (`bench-org`, TLP:GREEN); 20 % by another member (`owner-org`): half AMBER for itself only,
   a quarter RED for one of its users, a quarter GREEN. So 15 % of the store is hidden from the
   client.
2. Store: `cairn serve --bootstrap PLAN` on a fresh database creates the organizations, users and
   community and is stopped; `cairn import` loads the dataset (timed: the raw ingest rate with
   indexing), then `cairn serve` runs for the measured phases.
3. Ingest cost of correlation: envelopes of 1,000 new indicators POSTed over REST as
   `bench.analyst`, 30 of each of three kinds, in blocks of 5 envelopes of one kind posted back
   to back (the order of kinds rotating from round to round, so that the store grows alike for
   each). Correlation with hidden objects runs after a publish has answered, so a block is timed
   until the server's `/metrics` say it has also correlated every envelope of the block:
   *no values* (patterns Cairn extracts no value from: nothing to index or correlate),
   *new values* (values nobody holds: indexed and looked up, no match), and *hidden matches*
   (each value also held by one of owner-org's hidden objects: indexed, looked up, and 1,000
   notices written). The cost of correlation is the difference to *no values*.
4. Value lookup: `GET /api/v1/search/values?value=…` for values held by visible objects, by hidden
   objects (the answer is empty for the client) and by nobody, in equal parts, one client, one
   keep-alive connection (the standard library's http.client); p50, p99.
5. Full-text search: `GET /api/v1/search?q=…` with one word of each frequency tier (common: among
   the 50 most frequent words, medium: rank 51 to 2,000, rare: beyond) and two-word queries
   (medium + common); p50, p95 per tier and overall.
6. Correlations of single objects: `GET …/objects/{id}/correlations`; p50, p99.

Latencies are the client's wall time per request (request sent to whole body received), over one
keep-alive http.client connection; the floor of that client (GET /healthz) and of `requests` on
the same route are printed with the table. The server's own time per route comes from its
/metrics. Only 127.0.0.1 is contacted. Standard
library and `requests` only.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import gc
import http.client
import json
import os
import platform
import re
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import taxii_bench as tb  # noqa: E402  (shared process and statistics helpers)

log = tb.log
pct = tb.pct
DATASET_VERSION = 1
ENVELOPE = 1000
# Envelopes of one kind posted back to back in the ingest phase, timed as one block.
BLOCK = 5
# Value lookups before the measured ones.
WARMUP_LOOKUPS = 200
VOCABULARY = 20_000
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
AUDIENCE = "extension-definition--39d4868d-fa3b-477b-b138-a83c8ea8e300"

PLAN = """\
[[organizations]]
short_name = "bench-org"
name = "Benchmark Organization"
sector = "energy"
org_type = "private"
country = "DE"
verified = true

[[organizations]]
short_name = "owner-org"
name = "Owner Organization"
sector = "water"
org_type = "public"
country = "NL"
verified = true

[[users]]
username = "bench.analyst"
organization = "bench-org"
role = "analyst"
  [[users.tokens]]
  name = "bench"
  generate = true

[[users]]
username = "owner.analyst"
organization = "owner-org"
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
  [[communities.members]]
  organization = "owner-org"
  role = "member"
"""


# ---------------------------------------------------------------------------------------------
# dataset
# ---------------------------------------------------------------------------------------------

SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"] + ["an", "el", "or", "us", "ix"]


def vocabulary(rng: random.Random) -> list[str]:
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCABULARY:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randrange(2, 5)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def zipf_cum(n: int, s: float = 1.07) -> list[float]:
    cum, total = [], 0.0
    for r in range(1, n + 1):
        total += 1.0 / r ** s
        cum.append(total)
    return cum


class Words:
    def __init__(self, rng: random.Random, words: list[str] | None = None):
        self.rng = rng
        self.words = words or vocabulary(rng)
        self.cum = zipf_cum(len(self.words))

    def draw(self, k: int) -> list[str]:
        top = self.cum[-1]
        return [self.words[bisect.bisect_left(self.cum, self.rng.random() * top)] for _ in range(k)]


def _ms(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def value_for(rng: random.Random) -> tuple[str, str]:
    flavour = rng.randrange(3)
    if flavour == 0:
        v = ".".join(str(rng.randrange(1, 255)) for _ in range(4))
        return f"[ipv4-addr:value = '{v}']", v
    if flavour == 1:
        v = f"{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}.example.net"
        return f"[domain-name:value = '{v}']", v
    v = f"{rng.getrandbits(256):064x}"
    return f"[file:hashes.'SHA-256' = '{v}']", v


def indicator(rng: random.Random, words: Words, pattern: str, marking: str | None,
              audience: dict | None, base: dt.datetime) -> dict:
    created = base + dt.timedelta(milliseconds=rng.randrange(0, 200 * 86_400_000))
    long = rng.random() < 0.1
    obj = {"type": "indicator", "spec_version": "2.1",
           "id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
           "created": _ms(created), "modified": _ms(created),
           "name": " ".join(words.draw(rng.randrange(2, 5))).capitalize(),
           "description": " ".join(words.draw(rng.randrange(40, 80) if long else rng.randrange(8, 20))) + ".",
           "pattern": pattern, "pattern_type": "stix", "valid_from": _ms(created),
           "indicator_types": ["malicious-activity"]}
    if marking:
        obj["object_marking_refs"] = [marking]
    if audience:
        obj["extensions"] = {AUDIENCE: dict({"extension_type": "property-extension"}, **audience)}
    return obj


def ensure_dataset(n: int, seed: int, cache: Path) -> dict:
    folder = cache / f"search-v{DATASET_VERSION}-n{n}-s{seed}"
    meta_path = folder / "dataset.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        meta["folder"] = str(folder)
        log(f"dataset: reusing {folder}")
        return meta
    log(f"dataset: generating {n} indicators (seed {seed}) into {folder}")
    rng = random.Random(seed)
    words = Words(rng)
    base = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
    tmp = cache / f".tmp-search-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for who in ("bench", "owner"):
        (tmp / who).mkdir(parents=True)
    chunks: dict[str, list] = {"bench": [], "owner": []}
    files: dict[str, int] = {"bench": 0, "owner": 0}
    samples = {"visible": [], "hidden": [], "hidden_ids": [], "visible_ids": []}
    index = {w: i for i, w in enumerate(words.words)}
    df = [0] * len(words.words)  # objects whose text holds each word

    def flush(who: str) -> None:
        path = tmp / who / f"part-{files[who]:06d}.json"
        path.write_text(json.dumps({"objects": chunks[who]}, separators=(",", ":")))
        files[who] += 1
        chunks[who].clear()

    for i in range(n):
        pattern, value = value_for(rng)
        if rng.random() < 0.8:
            who, marking, audience, hidden = "bench", GREEN, None, False
        else:
            who = "owner"
            r = rng.random()
            if r < 0.5:
                marking, audience, hidden = AMBER, {"organizations": ["owner-org"]}, True
            elif r < 0.75:
                marking, audience, hidden = RED, {"users": ["owner.analyst"]}, True
            else:
                marking, audience, hidden = GREEN, None, False
        obj = indicator(rng, words, pattern, marking, audience, base)
        for w in set((obj["name"].lower() + " " + obj["description"][:-1]).split()):
            df[index[w]] += 1
        chunks[who].append(obj)
        key = "hidden" if hidden else "visible"
        if len(samples[key]) < 20_000 and rng.random() < 0.05:
            samples[key].append(value)
            samples[key + "_ids"].append(obj["id"])
        if len(chunks[who]) == ENVELOPE:
            flush(who)
    for who in chunks:
        if chunks[who]:
            flush(who)
    meta = {"objects": n, "seed": seed, "version": DATASET_VERSION, "files": files,
            "words": words.words, "df": df, "samples": samples}
    (tmp / "dataset.json").write_text(json.dumps(meta))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    meta["folder"] = str(folder)
    log(f"dataset: {n} indicators, files {files}")
    return meta


# ---------------------------------------------------------------------------------------------
# the node
# ---------------------------------------------------------------------------------------------

class Node:
    def __init__(self, args, work: Path, reuse: bool = False):
        self.args = args
        self.work = work
        self.key = work / "master.key"
        if not reuse:
            self.key.write_text(secrets.token_hex(32) + "\n")
            self.key.chmod(0o600)
        self.db = None
        if args.engine == "postgres":
            self.db = tb.PgDatabase(args.postgres_url)
            self.url = self.db.url
        else:
            self.url = f"sqlite://{work / 'data' / 'cairn.db'}"
        self.proc = None
        self.tokens: dict[str, str] = {}
        self.session = requests.Session()
        self.lean: LeanClient | None = None
        self.port = 0
        self.base = ""

    def cmd(self, *rest: str) -> list[str]:
        return [self.args.cairn_bin, "--database-url", self.url, "--master-key-file", str(self.key), *rest]

    def start(self, bootstrap: bool) -> None:
        self.port = tb.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = ["serve", "--listen", f"127.0.0.1:{self.port}"]
        if bootstrap:
            plan = self.work / "plan.toml"
            plan.write_text(PLAN)
            args += ["--bootstrap", str(plan)]
        self.log_path = self.work / f"server-{int(time.time())}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd(*args), stdout=self._log, stderr=subprocess.STDOUT,
                                     env=tb.cairn_env(), cwd=self.work, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise tb.BenchError(f"cairn exited ({self.proc.returncode}): {self.log_path.read_text()[-2000:]}")
            if bootstrap and len(self.tokens) < 2:
                for m in tb.TOKEN_RE.finditer(self.log_path.read_text(errors="replace")):
                    self.tokens[m.group(1)] = m.group(3)
            try:
                if (not bootstrap or len(self.tokens) == 2) and \
                        self.session.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise tb.BenchError("cairn did not become ready")

    def stop(self) -> None:
        if self.proc:
            tb.stop_process(self.proc)
            self._log.close()
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self.db:
            self.db.close()

    def auth(self, user: str = "bench.analyst") -> dict:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def wait_for_correlation(self, timeout: float = 300.0) -> None:
        """Until every publish queued for correlation has been correlated (from /metrics)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.session.get(self.base + "/metrics", timeout=10).text
            m = dict(re.findall(r"^(cairn_correlation_jobs_(?:submitted|finished)_total) (\d+)$", text, re.M))
            if len(m) != 2:
                raise tb.BenchError("/metrics has no correlation counters")
            if m["cairn_correlation_jobs_submitted_total"] == m["cairn_correlation_jobs_finished_total"]:
                return
            if time.monotonic() > deadline:
                raise tb.BenchError(f"correlation did not finish within {timeout:.0f} s: {m}")
            time.sleep(0.002)

    def metrics(self) -> dict:
        r = self.session.get(self.base + "/metrics", timeout=10)
        out: dict = {}
        for line in r.text.splitlines():
            if line.startswith("cairn_http_request_duration_seconds_sum{"):
                m = re.match(r'.*method="([^"]+)",route="([^"]+)".*\}\s+([0-9.eE+-]+)$', line)
                if m:
                    out[(m.group(1), m.group(2))] = out.get((m.group(1), m.group(2)), 0.0) + float(m.group(3))
        return out


def import_files(node: Node, folder: Path, user: str) -> float:
    t = time.perf_counter()
    r = subprocess.run(node.cmd("import", str(folder), "--community", "bench-isac", "--user", user),
                       env=tb.cairn_env(), capture_output=True, text=True)
    d = time.perf_counter() - t
    if r.returncode != 0:
        raise tb.BenchError(f"cairn import {folder} failed: {r.stdout[-1000:]} {r.stderr[-2000:]}")
    log(f"import {folder.name} as {user}: {r.stdout.strip().splitlines()[-1]} in {d:.1f}s")
    return d


# ---------------------------------------------------------------------------------------------
# phases
# ---------------------------------------------------------------------------------------------

class Answer:
    """What a timed GET returned: status, body, and the body as JSON on demand."""

    def __init__(self, status: int, content: bytes):
        self.status_code = status
        self.content = content
        self.text = content.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.content)


class LeanClient:
    """One keep-alive connection through the standard library's http.client, for the latency
    phases: `requests` adds about half a millisecond of its own to every call (see the /healthz
    floor printed with each table), which is the client's cost, not the server's."""

    def __init__(self, base: str):
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def get(self, path: str, headers: dict) -> Answer:
        for attempt in (0, 1):
            try:
                self.conn.request("GET", path, headers=headers)
                r = self.conn.getresponse()
                return Answer(r.status, r.read())
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def timed_get(node: Node, path: str, params: dict) -> tuple[float, Answer]:
    if node.lean is None or node.lean.port != node.port:
        node.lean = LeanClient(node.base)
    url = path + ("?" + urlencode(params) if params else "")
    headers = node.auth()
    t = time.perf_counter()
    r = node.lean.get(url, headers)
    return time.perf_counter() - t, r


def summary(lat: list[float], ps=(50, 95, 99)) -> dict:
    out = {"n": len(lat), "mean_ms": 1000 * statistics.fmean(lat) if lat else None,
           "max_ms": 1000 * max(lat) if lat else None}
    for p in ps:
        out[f"p{p}_ms"] = 1000 * pct(lat, p)
    return out


def ingest_rounds(node: Node, meta: dict, rounds: int, seed: int, salt: int = 0) -> dict:
    # A kept store (--reuse) already holds the objects of earlier runs: new ones each time.
    rng = random.Random(seed + 7 + salt)
    words = Words(random.Random(seed + 8), meta["words"])
    base = dt.datetime(2027, 1, 5, tzinfo=dt.timezone.utc)
    hidden = list(meta["samples"]["hidden"])
    rng.shuffle(hidden)
    lat = {"no_values": [], "new_values": [], "hidden_matches": []}
    server = {k: 0.0 for k in lat}
    url = node.base + "/api/v1/communities/bench-isac/objects"

    def envelope(kind: str) -> bytes:
        objs = []
        for i in range(ENVELOPE):
            if kind == "no_values":
                pattern = f"[file:name = 'sample-{rng.getrandbits(64):016x}.exe']"
            elif kind == "new_values":
                pattern, _ = value_for(rng)
            else:
                v = hidden[(len(lat['hidden_matches']) * ENVELOPE + i) % len(hidden)]
                if len(v) == 64:
                    pattern = f"[file:hashes.'SHA-256' = '{v.upper()}']"
                elif v.count(".") == 3 and v.replace(".", "").isdigit():
                    pattern = f"[ipv4-addr:value = '{v}']"
                else:
                    pattern = f"[domain-name:value = '{v.upper()}']"
            objs.append(indicator(rng, words, pattern, GREEN, None, base))
        return json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objs}).encode()

    kinds = ("no_values", "new_values", "hidden_matches")
    tails = {k: [] for k in kinds}
    blocks = max(1, rounds // BLOCK)
    for r in range(blocks):
        # The order rotates, so that no kind always follows the same one (a background
        # checkpoint after a heavy block would otherwise always fall on the same kind).
        for kind in kinds[r % 3:] + kinds[:r % 3]:
            bodies = [envelope(kind) for _ in range(BLOCK)]
            node.wait_for_correlation()
            m0 = node.metrics()
            t = time.perf_counter()
            for body in bodies:
                resp = node.session.post(url, data=body,
                                         headers=dict(node.auth(), **{"Content-Type": "application/json"}),
                                         timeout=300)
                if resp.status_code != 200 or resp.content.count(b'"stored"') != ENVELOPE:
                    raise tb.BenchError(f"POST ({kind}) -> {resp.status_code}: {resp.content[:300]!r}")
            posted = time.perf_counter()
            # The block ends when the server has also finished correlating what it stored.
            node.wait_for_correlation()
            d = time.perf_counter() - t
            tails[kind].append(time.perf_counter() - posted)
            m1 = node.metrics()
            server[kind] += sum(v - m0.get(k, 0.0) for k, v in m1.items() if k[0] == "POST")
            lat[kind].append(d / BLOCK)
        log(f"ingest block {r + 1}/{blocks}: " + ", ".join(f"{k} {1000 * v[-1]:.0f} ms" for k, v in lat.items()))
    out = {k: dict(summary(v, (50,)), server_mean_ms=1000 * server[k] / (BLOCK * len(v)),
                   correlation_tail_ms=1000 * statistics.fmean(tails[k])) for k, v in lat.items()}
    base_ms = statistics.median(lat["no_values"])
    for k in ("new_values", "hidden_matches"):
        out[k]["added_vs_no_values"] = statistics.median(lat[k]) / base_ms - 1
    # The owner was told about every hidden match.
    r = node.session.get(node.base + "/api/v1/notifications?limit=500", headers=node.auth("owner.analyst"), timeout=60)
    out["owner_notifications_listed"] = len(r.json()) if r.status_code == 200 else f"status {r.status_code}"
    r = node.session.get(node.base + "/api/v1/notifications?limit=500", headers=node.auth(), timeout=60)
    out["poster_notifications"] = len(r.json()) if r.status_code == 200 else f"status {r.status_code}"
    if out["poster_notifications"] != 0:
        raise tb.BenchError("the poster received notifications")
    return out


def lookups(node: Node, meta: dict, n: int, seed: int) -> dict:
    rng = random.Random(seed + 11)
    s = meta["samples"]
    picks = []
    for i in range(n):
        which = i % 3
        if which == 0:
            j = rng.randrange(len(s["visible"]))
            picks.append(("visible", s["visible"][j], s["visible_ids"][j]))
        elif which == 1:
            j = rng.randrange(len(s["hidden"]))
            picks.append(("hidden", s["hidden"][j], s["hidden_ids"][j]))
        else:
            picks.append(("absent", f"{rng.getrandbits(256):064x}", None))
    rng.shuffle(picks)
    # Warm-up, on values not measured: the server opens its connections as requests come, and
    # on PostgreSQL each new connection loads its catalog caches and plans its first five
    # executions of a statement anew before it keeps a generic plan (see ARCHITECTURE.md).
    # Right after a start this made the first ~150 lookups slower (p99 2.3 ms against 1.4 ms).
    warm = random.Random(seed + 12)
    for i in range(WARMUP_LOOKUPS):
        v = s["visible"][warm.randrange(len(s["visible"]))] if i % 2 else f"{warm.getrandbits(256):064x}"
        timed_get(node, "/api/v1/search/values", {"value": v})
    lat: dict[str, list[float]] = {"visible": [], "hidden": [], "absent": []}
    m0 = node.metrics()
    for kind, v, oid in picks:
        d, r = timed_get(node, "/api/v1/search/values", {"value": v})
        if r.status_code != 200:
            raise tb.BenchError(f"lookup {v} -> {r.status_code}: {r.text[:300]}")
        found = {x["id"] for x in r.json()["results"]}
        if kind == "visible" and oid not in found:
            raise tb.BenchError(f"lookup of a visible value {v} did not find {oid}")
        if kind == "hidden" and oid in found:
            raise tb.BenchError(f"lookup of a hidden value {v} found the hidden {oid} (leak)")
        lat[kind].append(d)
    m1 = node.metrics()
    srv = sum(v - m0.get(k, 0.0) for k, v in m1.items() if "search/values" in k[1])
    every = [x for v in lat.values() for x in v]
    out = {"all": summary(every), **{k: summary(v) for k, v in lat.items()},
           "server_mean_ms": 1000 * srv / len(every)}
    # The floor: the same client on the cheapest route, and `requests` on it for comparison.
    floor, floor_requests = [], []
    for _ in range(200):
        floor.append(timed_get(node, "/healthz", {})[0])
        t = time.perf_counter()
        node.session.get(node.base + "/healthz", timeout=10).content
        floor_requests.append(time.perf_counter() - t)
    out["healthz_p50_ms"] = 1000 * pct(floor, 50)
    out["healthz_requests_p50_ms"] = 1000 * pct(floor_requests, 50)
    return out


def searches(node: Node, meta: dict, n: int, seed: int) -> dict:
    rng = random.Random(seed + 13)
    words = meta["words"]
    tiers = {"common": words[:50], "medium": words[50:2000], "rare": words[2000:]}
    picks = []
    for i in range(n):
        t = ("common", "medium", "rare", "two_words")[i % 4]
        q = (f"{rng.choice(tiers['medium'])} {rng.choice(tiers['common'])}" if t == "two_words"
             else rng.choice(tiers[t]))
        picks.append((t, q))
    rng.shuffle(picks)
    for _ in range(5):
        timed_get(node, "/api/v1/search", {"q": picks[0][1]})
    lat: dict[str, list[float]] = {"common": [], "medium": [], "rare": [], "two_words": []}
    hits: dict[str, list[int]] = {k: [] for k in lat}
    m0 = node.metrics()
    for kind, q in picks:
        d, r = timed_get(node, "/api/v1/search", {"q": q, "limit": 20})
        if r.status_code != 200:
            raise tb.BenchError(f"search {q!r} -> {r.status_code}: {r.text[:300]}")
        hits[kind].append(len(r.json()["results"]))
        lat[kind].append(d)
    m1 = node.metrics()
    srv = sum(v - m0.get(k, 0.0) for k, v in m1.items() if k[1].endswith("/search"))
    every = [x for v in lat.values() for x in v]
    out = {"all": summary(every), **{k: summary(v) for k, v in lat.items()},
           "server_mean_ms": 1000 * srv / len(every)}
    # How many objects hold the words queried (visible or not), from the dataset.
    df = dict(zip(words, meta["df"]))
    out["objects_holding_the_word"] = {
        k: {"median": statistics.median(df[w] for w in tiers[k]), "max": max(df[w] for w in tiers[k])}
        for k in ("common", "medium", "rare")}
    return out


def correlation_reads(node: Node, meta: dict, n: int, seed: int) -> dict:
    rng = random.Random(seed + 17)
    ids = meta["samples"]["visible_ids"]
    lat = []
    for _ in range(n):
        d, r = timed_get(node, f"/api/v1/communities/bench-isac/objects/{rng.choice(ids)}/correlations", {})
        if r.status_code != 200:
            raise tb.BenchError(f"correlations -> {r.status_code}: {r.text[:300]}")
        lat.append(d)
    return summary(lat)


def table_sizes(node: Node) -> dict:
    if node.args.engine != "sqlite":
        return {}
    path = node.work / "data" / "cairn.db"
    return {"database_mb": round(path.stat().st_size / 1e6, 1)} if path.exists() else {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cairn-bin", required=True)
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--seed", type=int, default=20261)
    ap.add_argument("--rounds", type=int, default=30,
                    help=f"envelopes of each kind in the ingest phase, posted in blocks of {BLOCK}")
    ap.add_argument("--lookups", type=int, default=1500)
    ap.add_argument("--searches", type=int, default=800)
    ap.add_argument("--correlations", type=int, default=300)
    ap.add_argument("--cache", default=os.environ.get("CAIRN_BENCH_CACHE", str(Path.home() / ".cache/cairn-bench-data")))
    ap.add_argument("--postgres-url", default=os.environ.get("CAIRN_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    ap.add_argument("--out", help="write the report (Markdown) here, and the JSON next to it")
    ap.add_argument("--keep", help="keep the store (SQLite) in this folder for --reuse")
    ap.add_argument("--reuse", help="measure on a store kept with --keep (no import)")
    ap.add_argument("--command-line", default="")
    args = ap.parse_args()

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    meta = ensure_dataset(args.objects, args.seed, cache)
    folder = Path(meta["folder"])
    if (args.keep or args.reuse) and args.engine != "sqlite":
        raise tb.BenchError("--keep and --reuse are for SQLite stores")
    work = Path(args.reuse or args.keep or tempfile.mkdtemp(prefix="cairn-search-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    result = {"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "objects": args.objects, "engine": args.engine, "nproc": os.cpu_count(),
              "python": platform.python_version(), "command": args.command_line,
              "loadavg_before": open("/proc/loadavg").read().split()[:3]}
    node = Node(args, work, reuse=bool(args.reuse))
    try:
        if args.reuse:
            node.tokens = json.loads((work / "tokens.json").read_text())
            result["import"] = json.loads((work / "import.json").read_text())
        else:
            node.start(bootstrap=True)
            node.stop()
            t_owner = import_files(node, folder / "owner", "owner.analyst")
            t_bench = import_files(node, folder / "bench", "bench.analyst")
            result["import"] = {"seconds": t_owner + t_bench, "rate": args.objects / (t_owner + t_bench)}
            if node.db:
                # The test server runs without autovacuum, so no statistics would ever be
                # gathered and no page of the load would ever be vacuumed (the first read of each
                # row after the load would set its hint bits and dirty its page); in production
                # autovacuum vacuums and analyzes after a bulk load.
                t = time.perf_counter()
                subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres",
                                "-d", node.db.name, "-c", "VACUUM ANALYZE"], check=True, capture_output=True, timeout=900)
                result["analyze_seconds"] = time.perf_counter() - t
                log(f"VACUUM ANALYZE took {result['analyze_seconds']:.1f}s")
            # The import's writes reach the disk before anything is measured: PostgreSQL's own
            # checkpoint would otherwise spread them over the next minutes, and the kernel's
            # writeback of either store's files runs beside the first phases.
            t = time.perf_counter()
            if node.db:
                subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres",
                                "-d", node.db.name, "-c", "CHECKPOINT"], check=True, capture_output=True, timeout=600)
            os.sync()
            result["flush_seconds"] = time.perf_counter() - t
            log(f"flushing the import took {result['flush_seconds']:.1f}s")
            if args.keep:
                (work / "tokens.json").write_text(json.dumps(node.tokens))
                (work / "import.json").write_text(json.dumps(result["import"]))
        result["loadavg_after_import"] = open("/proc/loadavg").read().split()[:3]
        # The client's own garbage collector would scan everything this process holds (the
        # dataset's samples and vocabulary) on each full collection, several milliseconds that
        # would count as the server's latency: what is held now is kept out of collection.
        gc.collect()
        gc.freeze()
        node.start(bootstrap=False)
        result["lookup"] = lookups(node, meta, args.lookups, args.seed)
        log(f"value lookup: {result['lookup']['all']}")
        result["search"] = searches(node, meta, args.searches, args.seed)
        log(f"search: {result['search']['all']}")
        result["correlations"] = correlation_reads(node, meta, args.correlations, args.seed)
        log(f"correlations: {result['correlations']}")
        salt = int(time.time()) if args.reuse else 0
        result["ingest"] = ingest_rounds(node, meta, args.rounds, args.seed, salt)
        log(f"ingest: {result['ingest']}")
        result["server_rss_kb"] = tb.proc_status(node.proc.pid)
        result.update(table_sizes(node))
        result["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    finally:
        node.cleanup()
        if not (args.keep or args.reuse):
            shutil.rmtree(work, ignore_errors=True)
    text = report(result)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
        Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    return 0


def report(r: dict) -> str:
    f = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
    lines = [f"# Search benchmark: {r['objects']:,} objects on {r['engine']}", "",
             f"Started {r['started']}, nproc {r['nproc']}, load average before {' '.join(r['loadavg_before'])}, "
             f"after import {' '.join(r.get('loadavg_after_import', []))}, at the end {' '.join(r.get('loadavg_after', []))}.",
             f"Command: `{r['command']}`", "",
             f"Import (cairn import, with indexing): {r['import']['rate']:,.0f} objects/s ({r['import']['seconds']:.0f} s)"
             + (f"; its writes flushed to disk before measuring ({r['flush_seconds']:.1f} s)." if "flush_seconds" in r else "."), "",
             "| measure | n | p50 ms | p95 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|---:|"]
    for name, s in [("value lookup, all", r["lookup"]["all"]), ("value lookup, visible", r["lookup"]["visible"]),
                    ("value lookup, hidden", r["lookup"]["hidden"]), ("value lookup, absent", r["lookup"]["absent"]),
                    ("search, all", r["search"]["all"]), ("search, common word", r["search"]["common"]),
                    ("search, medium word", r["search"]["medium"]), ("search, rare word", r["search"]["rare"]),
                    ("search, two words", r["search"]["two_words"]), ("correlations of one object", r["correlations"])]:
        lines.append(f"| {name} | {s['n']} | {f(s['p50_ms'])} | {f(s['p95_ms'])} | {f(s['p99_ms'])} | {f(s['max_ms'])} |")
    lines += ["", f"Server-side mean: lookup {f(r['lookup']['server_mean_ms'])} ms, search {f(r['search']['server_mean_ms'])} ms; "
              f"/healthz p50 with the same client {f(r['lookup']['healthz_p50_ms'])} ms "
              f"(with `requests`: {f(r['lookup'].get('healthz_requests_p50_ms'))} ms).",
              f"Objects holding a word of each tier (median, max over the tier): {r['search']['objects_holding_the_word']}.", "",
              f"Ingest: blocks of {BLOCK} envelopes of 1,000 posted back to back; a block ends when the "
              "server has also finished correlating them (`/metrics`). Per envelope:", "",
              "| envelope of 1,000 | blocks | median ms | server mean ms | correlation tail ms | added vs no values |",
              "|---|---:|---:|---:|---:|---:|"]
    for k in ("no_values", "new_values", "hidden_matches"):
        s = r["ingest"][k]
        added = s.get("added_vs_no_values")
        lines.append(f"| {k.replace('_', ' ')} | {s['n']} | {f(s['p50_ms'])} | {f(s['server_mean_ms'])} | "
                     f"{f(s.get('correlation_tail_ms'))} | {'-' if added is None else f'{100 * added:+.1f} %'} |")
    lines += ["", f"Owner's notifications listed (first 500): {r['ingest']['owner_notifications_listed']}; "
              f"poster's: {r['ingest']['poster_notifications']}. Server RSS: {r.get('server_rss_kb')}. "
              f"{('Database: ' + str(r['database_mb']) + ' MB.') if 'database_mb' in r else ''}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
