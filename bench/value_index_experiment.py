"""What it costs SQLite to index observable values, outside Cairn (Python's sqlite3).

Four stores of the same rows `(seq, h, kind, value)` with an index on `seq`: *none* (no value
index), *btree* (an index on `(kind, h, seq)`, as `object_values` has), *bucket* (an index on
`(seq / BUCKET, kind, h)`, 131,072 unless set: partitioned by age, lookups seek every partition) and *fts* (a
contentless FTS5 table, `detail=none`, one token per value hash, rowid = seq: a log-structured
index).
Each is loaded with 1,000,000 values in transactions of 1,000, then 100 more transactions of
1,000 new values are timed (insert, commit, PASSIVE checkpoint, as Cairn's checkpointer does).
Then single lookups, and one probe of 500 hashes (held by others or new), as the hidden-match
lookup after a publish makes.

    python3 bench/value_index_experiment.py [FOLDER [MODE...]]
    CHECKPOINT_EVERY=10 python3 bench/value_index_experiment.py /tmp/x btree
    BUCKET=32768 python3 bench/value_index_experiment.py /tmp/x bucket

See docs/PERFORMANCE.md ("Search, value lookup and correlation", next steps).
"""
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time

N, CHUNK, TIMED = 1_000_000, 1_000, 100
# Checkpoint after every this many timed transactions (CHECKPOINT_EVERY=10 in the environment).
EVERY = int(os.environ.get("CHECKPOINT_EVERY", "1"))
# Values per partition of the *bucket* index (BUCKET=32768 in the environment).
BUCKET = int(os.environ.get("BUCKET", "131072"))


def run(mode: str, folder: str) -> None:
    path = os.path.join(folder, f"{mode}.db")
    for f in (path, path + "-wal", path + "-shm"):
        if os.path.exists(f):
            os.remove(f)
    c = sqlite3.connect(path, isolation_level=None)
    for p in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-24576", "wal_autocheckpoint=0"):
        c.execute(f"PRAGMA {p}")
    c.execute("CREATE TABLE v (seq INTEGER, h INTEGER, kind TEXT, value TEXT)")
    c.execute("CREATE INDEX v_seq ON v (seq)")
    if mode == "btree":
        c.execute("CREATE INDEX v_h ON v (kind, h, seq)")
    elif mode == "bucket":
        c.execute(f"CREATE INDEX v_h ON v (seq / {BUCKET}, kind, h)")
    elif mode == "fts":
        c.execute("CREATE VIRTUAL TABLE vf USING fts5(t, content='', detail=none)")
    rng = random.Random(1)
    seq = 0

    def rows(n: int) -> list:
        nonlocal seq
        out = []
        for _ in range(n):
            seq += 1
            out.append((seq, rng.getrandbits(63), "ipv4", ".".join(str(rng.randrange(256)) for _ in range(4))))
        return out

    def write(batch: list) -> None:
        c.execute("BEGIN IMMEDIATE")
        c.executemany("INSERT INTO v VALUES (?, ?, ?, ?)", batch)
        if mode == "fts":
            c.executemany("INSERT INTO vf (rowid, t) VALUES (?, ?)", [(r[0], "h%x" % r[1]) for r in batch])
        c.execute("COMMIT")

    checkpointer = sqlite3.connect(path, isolation_level=None)
    t = time.perf_counter()
    for i in range(N // CHUNK):
        write(rows(CHUNK))
        if i % 10 == 0:
            checkpointer.execute("PRAGMA wal_checkpoint(RESTART)")
    load = time.perf_counter() - t
    checkpointer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    times = []
    for _ in range(TIMED):
        batch = rows(CHUNK)
        t = time.perf_counter()
        write(batch)
        if len(times) % EVERY == EVERY - 1:
            checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        times.append(1000 * (time.perf_counter() - t))
    line = (f"{mode:6} load {load:5.1f} s; {CHUNK:,} more values: median {statistics.median(times):5.1f} ms, "
            f"mean {statistics.fmean(times):5.1f} ms, p90 {sorted(times)[TIMED * 9 // 10]:5.1f} ms")
    if mode != "none":
        held = [h for (h,) in c.execute("SELECT h FROM v ORDER BY random() LIMIT 2000")]
        buckets = ",".join(str(b) for b in range(seq // BUCKET + 1))
        lat = []
        for h in held:
            t = time.perf_counter()
            if mode == "btree":
                found = c.execute("SELECT seq FROM v WHERE kind = 'ipv4' AND h = ?", (h,)).fetchall()
            elif mode == "bucket":
                found = c.execute(f"SELECT seq FROM v WHERE seq / {BUCKET} IN ({buckets}) AND kind = 'ipv4' AND h = ?",
                                  (h,)).fetchall()
            else:
                found = c.execute("SELECT rowid FROM vf WHERE vf MATCH ?", ('"h%x"' % h,)).fetchall()
            assert found
            lat.append(1000 * (time.perf_counter() - t))
        lat.sort()
        line += f"; lookup p50 {lat[1000]:.3f} ms, p99 {lat[1980]:.3f} ms"
        for name, probe in (("held", held[:500]), ("new", [rng.getrandbits(63) for _ in range(500)])):
            t = time.perf_counter()
            if mode == "btree":
                c.execute(f"SELECT DISTINCT h FROM v WHERE kind = 'ipv4' AND h IN ({','.join(map(str, probe))})").fetchall()
            elif mode == "bucket":
                c.execute(f"SELECT DISTINCT h FROM v WHERE seq / {BUCKET} IN ({buckets}) AND kind = 'ipv4' "
                          f"AND h IN ({','.join(map(str, probe))})").fetchall()
            else:
                c.execute("SELECT rowid FROM vf WHERE vf MATCH ?", (" OR ".join('"h%x"' % h for h in probe),)).fetchall()
            line += f"; probe of 500 {name} {1000 * (time.perf_counter() - t):.1f} ms"
    print(line, flush=True)
    c.close()
    checkpointer.close()


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="cairn-value-index-")
    print(f"SQLite {sqlite3.sqlite_version}, {N:,} values, folder {folder}")
    for mode in sys.argv[2:] or ("none", "btree", "bucket", "fts"):
        run(mode, folder)


if __name__ == "__main__":
    main()
