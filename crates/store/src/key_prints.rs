//! On SQLite, what the store keeps in memory of the object keys in the sealed parts of the
//! object key's index (migration 14), by which reads by id and the bulk writer find the parts
//! an object's versions are in without seeking every part.
//!
//! A new object goes to the part new objects go to at that moment ([`NEW_OBJECT_PART`], from
//! the table's sequence, which only grows), and its later versions to the same part. A part
//! below the one new objects go to is sealed: it never gains a key again. The store keeps a
//! print of every key in the sealed parts ([`print_of`]: the key's 12 hex digits folded into 32
//! bits) with the part it is in, 6 bytes a key, read once per part. An object whose print is not among them
//! has no version in a sealed part; one whose print is there has its versions in the parts
//! listed with it (or in none: the print may be another key's, or a deleted row's). Either
//! way, it is also looked up in the parts not sealed, with one or two seeks in all instead of
//! one per part (32 at a million rows).
//!
//! The prints are read at the start of a share, before its own rows, under the write lock, and
//! by the server at start, in a read transaction of the same connection; in both cases from
//! committed rows only, and only parts sealed by the
//! committed sequence, which are complete: a share that rolls back leaves nothing here that a
//! later write could contradict. A reader that finds them behind (no share since the start,
//! say) still finds every version: the parts from the first one not read to the newest are
//! sought in full.

use std::sync::{Arc, RwLock};

use rusqlite::Transaction;

use cairn_core::StoreError;

use crate::objects::NEW_OBJECT_PART;

type R<T> = Result<T, StoreError>;

/// The print of an object key (12 hex digits, [`crate::objects::object_key`]): its 48 bits
/// folded into 32, so that every digit counts (the last 8 are the same for every id of a
/// version 1 UUID generator, the first 4 vary). Keys of valid STIX ids always have one; a key
/// without one is looked up in every part.
pub(crate) fn print_of(key: &str) -> Option<u32> {
    if key.len() != 12 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bits = u64::from_str_radix(key, 16).ok()?;
    let (high, low) = ((bits >> 32) as u32, bits as u32);
    Some(low ^ high.wrapping_mul(0x9E37_79B1))
}

/// The part new objects go to now.
pub(crate) fn new_object_part(tx: &Transaction) -> R<i64> {
    tx.prepare_cached(NEW_OBJECT_PART)
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(crate::bulk::err)
}

/// The statement that reads the keys of one part, as one text of keys separated by commas
/// (tens of thousands of rows handed over one by one cost several times as much).
const PART_KEYS: &str =
    "SELECT group_concat(object_key, ',') FROM stix_objects WHERE key_part = ?1";

/// The prints of the keys in a text read by [`PART_KEYS`] (none for a part without rows), as
/// found in `part`.
fn part_prints(keys: Option<&str>, part: u16) -> impl Iterator<Item = (u32, u16)> + '_ {
    keys.unwrap_or_default()
        .split(',')
        .filter_map(move |key| print_of(key).map(|p| (p, part)))
}

/// Parts are numbered in 16 bits here: the prints cover the parts below 65,536 (2³¹ rows);
/// later ones are sought in full.
const PARTS_KEPT: i64 = 1 << 16;

/// Prints are found through their upper 16 bits first (256 KiB of starts).
const BUCKETS: usize = 1 << 16;

/// The prints of the keys in the parts below `sealed_below`, sorted, each with its part.
#[derive(Default)]
pub(crate) struct KeyPrints {
    sealed_below: i64,
    prints: Vec<u32>,
    /// The part of each print, in the same order.
    parts: Vec<u16>,
    /// Where the prints of each value of their upper 16 bits start (and, last, their count),
    /// so that a lookup reads a few neighbouring prints instead of searching them all (none
    /// when there are no prints).
    starts: Vec<u32>,
}

impl std::fmt::Debug for KeyPrints {
    /// The counts, not the million prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPrints")
            .field("sealed_below", &self.sealed_below)
            .field("prints", &self.prints.len())
            .finish()
    }
}

impl KeyPrints {
    /// The first part not in memory: it and every later one may hold any key.
    pub(crate) fn sealed_below(&self) -> i64 {
        self.sealed_below
    }

    /// The sealed parts that may hold the object of this key (none: it is in a newer part or
    /// nowhere); `None` for a key without a print, which any part may hold.
    pub(crate) fn parts_of(&self, key: &str) -> Option<&[u16]> {
        let p = print_of(key)?;
        let bucket = (p >> 16) as usize;
        let (Some(&lo), Some(&hi)) = (self.starts.get(bucket), self.starts.get(bucket + 1)) else {
            return Some(&[]);
        };
        let (lo, hi) = (lo as usize, hi as usize);
        let from = lo + self.prints[lo..hi].partition_point(|&x| x < p);
        let to = from
            + self.prints[from..hi]
                .iter()
                .take_while(|&&x| x == p)
                .count();
        Some(&self.parts[from..to])
    }

    /// These prints and those of the parts `self.sealed_below..sealed_below` (`added`, in any
    /// order), as new prints sealed below `sealed_below`.
    pub(crate) fn with(&self, mut added: Vec<(u32, u16)>, sealed_below: i64) -> KeyPrints {
        added.sort_unstable();
        added.dedup();
        let n = self.prints.len() + added.len();
        let mut out = KeyPrints {
            sealed_below,
            prints: Vec::with_capacity(n),
            parts: Vec::with_capacity(n),
            starts: Vec::new(),
        };
        let old = self.prints.iter().copied().zip(self.parts.iter().copied());
        let mut old = old.peekable();
        let mut new = added.into_iter().peekable();
        loop {
            let next = match (old.peek(), new.peek()) {
                (Some(a), Some(b)) if a <= b => old.next(),
                (Some(_), Some(_)) | (None, Some(_)) => new.next(),
                (Some(_), None) => old.next(),
                (None, None) => break,
            };
            if let Some((print, part)) = next {
                out.prints.push(print);
                out.parts.push(part);
            }
        }
        if !out.prints.is_empty() {
            out.starts = Vec::with_capacity(BUCKETS + 1);
            let mut at = 0;
            for bucket in 0..=BUCKETS {
                while at < out.prints.len() && ((out.prints[at] >> 16) as usize) < bucket {
                    at += 1;
                }
                out.starts.push(at as u32);
            }
        }
        out
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.prints.len()
    }
}

/// The latest prints read, shared by the store's reads and its bulk writer.
#[derive(Debug, Default)]
pub(crate) struct KeyParts {
    current: RwLock<Arc<KeyPrints>>,
}

impl KeyParts {
    /// The prints as they are now (a read holds them for its statement).
    pub(crate) fn snapshot(&self) -> Arc<KeyPrints> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether the parts below `newest` are to be read (from the first one not read yet).
    pub(crate) fn behind(&self, newest: i64) -> Option<i64> {
        let from = self.snapshot().sealed_below;
        (newest.min(PARTS_KEPT) > from).then_some(from)
    }

    /// Keep the prints of the parts from `from` to below `newest` (`added`, read from committed
    /// rows after `from` was found to be the first part not read), unless another reader has
    /// caught up as far meanwhile. Returns the prints now current. The new prints are built
    /// outside the lock (a few milliseconds at a million keys, once per 32,768 rows), so reads
    /// never wait for them; if another reader replaced the prints meanwhile, they are built
    /// again on top of its.
    pub(crate) fn add(&self, from: i64, newest: i64, added: Vec<(u32, u16)>) -> Arc<KeyPrints> {
        let newest = newest.min(PARTS_KEPT);
        loop {
            let base = self.snapshot();
            // Parts another reader added are not added twice; a gap (which cannot happen, as
            // parts are only ever read onwards) is not filled.
            let have = base.sealed_below;
            if have >= newest || have < from {
                return base;
            }
            let mine = added
                .iter()
                .copied()
                .filter(|&(_, part)| i64::from(part) >= have)
                .collect();
            let next = Arc::new(base.with(mine, newest));
            let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
            if Arc::ptr_eq(&current, &base) {
                *current = Arc::clone(&next);
                return next;
            }
        }
    }

    /// At the start of a share, in its transaction: read the parts sealed since the last time,
    /// and return the prints to look the share's objects up by.
    pub(crate) fn catch_up(&self, tx: &Transaction) -> R<Arc<KeyPrints>> {
        let newest = new_object_part(tx)?;
        let Some(from) = self.behind(newest) else {
            return Ok(self.snapshot());
        };
        let added = read_parts(tx, from, newest)?;
        Ok(self.add(from, newest, added))
    }
}

/// The prints of the keys in parts `from..newest` (those numbered in 16 bits).
fn read_parts(tx: &Transaction, from: i64, newest: i64) -> R<Vec<(u32, u16)>> {
    let mut read = tx.prepare_cached(PART_KEYS).map_err(crate::bulk::err)?;
    let mut added = Vec::new();
    for part in from..newest {
        let Ok(number) = u16::try_from(part) else {
            break;
        };
        let keys: Option<String> = read
            .query_row([part], |r| r.get(0))
            .map_err(crate::bulk::err)?;
        added.extend(part_prints(keys.as_deref(), number));
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::object_key_value;

    fn prints(pairs: &[(u32, u16)], sealed_below: i64) -> KeyPrints {
        KeyPrints::default().with(pairs.to_vec(), sealed_below)
    }

    /// The key of the `n`th id of a version 1 UUID generator: only the first 4 digits vary.
    fn clock_key(n: u32) -> String {
        format!("{:04x}00c0ffee", n & 0xffff)
    }

    #[test]
    fn prints_fold_every_digit_of_the_key() {
        let key = object_key_value("indicator--0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8");
        assert_eq!(key, "2d3eb5c6d7e8");
        assert_eq!(
            print_of(&key),
            print_of("2D3EB5C6D7E8"),
            "hex in either case"
        );
        let mut seen = std::collections::HashSet::new();
        for n in 0..5_000 {
            assert!(seen.insert(print_of(&clock_key(n)).unwrap()), "{n}");
            assert!(
                seen.insert(print_of(&format!("ffff{n:08x}")).unwrap()),
                "{n}"
            );
        }
        // Keys can share a print: the store's test of shares across parts stores such an id.
        assert_eq!(print_of("9999b6e283ce"), print_of("000000000007"));
        for odd in [
            "",
            "abc",
            "b5c6d7e8",
            "2d3eb5c6d7e80",
            "+d3eb5c6d7e8",
            "2d3eb5c6d7eg",
            "ß-ü-2345ü",
        ] {
            assert_eq!(print_of(odd), None, "{odd:?}");
        }
        let empty = KeyPrints::default();
        assert_eq!(empty.parts_of("no print here"), None, "look everywhere");
        assert_eq!(empty.parts_of(&key), Some(&[][..]));
        let kept = prints(
            &[
                (print_of(&key).unwrap(), 3),
                (print_of(&clock_key(1)).unwrap(), 0),
            ],
            4,
        );
        assert_eq!(kept.parts_of(&key), Some(&[3][..]));
        assert_eq!(kept.parts_of(&clock_key(1)), Some(&[0][..]));
        assert_eq!(kept.parts_of(&clock_key(2)), Some(&[][..]));
        assert_eq!(kept.parts_of("no print here"), None);
    }

    /// Every print kept is found with its part, through its bucket, at the edges of the range
    /// too; prints not kept are not.
    #[test]
    fn prints_are_found_through_their_buckets() {
        let mut x: u32 = 1;
        let mut pairs: Vec<(u32, u16)> = (0..50_000u32)
            .map(|i| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x, (i % 7) as u16)
            })
            .collect();
        pairs.extend([(0, 1), (u32::MAX, 2), (0xffff_0000, 3), (0x0000_ffff, 4)]);
        let kept = prints(&pairs, 8);
        let key_of = |print: u32| format!("0000{print:08x}");
        for &(print, part) in &pairs {
            let parts = kept.parts_of(&key_of(print)).unwrap();
            assert!(parts.contains(&part), "{print:#x}: {parts:?}");
        }
        let all: std::collections::HashSet<u32> = pairs.iter().map(|p| p.0).collect();
        for print in (0..u32::MAX).step_by(65_537) {
            let parts = kept.parts_of(&key_of(print)).unwrap();
            assert_eq!(parts.is_empty(), !all.contains(&print), "{print:#x}");
        }
    }

    /// A part's keys are read as one text; a key without a print (not 12 hex digits) and an
    /// empty part give none.
    #[test]
    fn a_parts_keys_are_read_from_one_text() {
        let text = format!(
            "{},{},not-a-key,{}",
            clock_key(1),
            clock_key(2),
            clock_key(3)
        );
        let found: Vec<(u32, u16)> = part_prints(Some(&text), 7).collect();
        let want: Vec<(u32, u16)> = (1..=3)
            .map(|n| (print_of(&clock_key(n)).unwrap(), 7))
            .collect();
        assert_eq!(found, want);
        assert_eq!(part_prints(None, 7).count(), 0);
        assert_eq!(part_prints(Some(""), 7).count(), 0);
    }

    #[test]
    fn merging_keeps_order_and_every_part_of_a_print() {
        let a = prints(&[(9, 1), (1, 0), (4, 0)], 2);
        let b = a.with(vec![(4, 2), (2, 3), (10, 2), (2, 3)], 4);
        assert_eq!(b.prints, vec![1, 2, 4, 4, 9, 10]);
        assert_eq!(b.parts, vec![0, 3, 0, 2, 1, 2]);
        assert_eq!(b.sealed_below(), 4);
        assert_eq!(
            b.parts_of("000000000004"),
            Some(&[0, 2][..]),
            "a print in two parts"
        );
        assert_eq!(
            a.parts_of("000000000004"),
            Some(&[0][..]),
            "the old prints unchanged"
        );
        let empty = KeyPrints::default().with(Vec::new(), 1);
        assert_eq!((empty.len(), empty.sealed_below()), (0, 1));
    }

    /// Two readers catching up at once: the later one adds only the parts the first did not.
    #[test]
    fn prints_are_added_once_and_never_with_a_gap() {
        let keys = KeyParts::default();
        assert_eq!(keys.behind(1), Some(0));
        let first = keys.add(0, 2, vec![(7, 0), (8, 1)]);
        assert_eq!((first.sealed_below(), first.len()), (2, 2));
        assert_eq!(keys.behind(2), None);
        assert_eq!(keys.behind(3), Some(2));
        // Read from part 0 before the first reader's prints were kept: parts 0 and 1 again.
        let second = keys.add(0, 3, vec![(7, 0), (8, 1), (9, 2)]);
        assert_eq!((second.sealed_below(), second.len()), (3, 3));
        assert_eq!(second.parts_of("000000000008"), Some(&[1][..]));
        // Behind what is kept already: nothing changes.
        let third = keys.add(0, 2, vec![(1, 0)]);
        assert_eq!((third.sealed_below(), third.len()), (3, 3));
        // A reader whose parts start past what is kept would leave a gap: not kept.
        let gap = keys.add(4, 6, vec![(5, 5)]);
        assert_eq!((gap.sealed_below(), gap.len()), (3, 3));
        assert!(Arc::ptr_eq(&gap, &keys.snapshot()));
    }

    /// Readers catching up on several threads at once, each from where it found the prints:
    /// every print is kept once, none is lost.
    #[test]
    fn readers_catching_up_at_once_keep_each_print_once() {
        let keys = KeyParts::default();
        let pairs: Vec<(u32, u16)> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761), (i % 4) as u16))
            .collect();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for newest in 1..=4 {
                        let from = keys.behind(newest).unwrap_or(newest);
                        let added = pairs
                            .iter()
                            .copied()
                            .filter(|&(_, p)| (from..newest).contains(&i64::from(p)))
                            .collect();
                        keys.add(from, newest, added);
                    }
                });
            }
        });
        let p = keys.snapshot();
        assert_eq!((p.sealed_below(), p.len()), (4, 20_000));
        for &(print, part) in &pairs {
            let key = format!("0000{print:08x}");
            assert_eq!(p.parts_of(&key), Some(&[part][..]), "{print:#x}");
        }
    }

    /// The part new objects go to follows the sequence: 0 stored, part 1; a new part every
    /// 32,768 (`KEY_PART_BITS`, which the SQL text writes as a number).
    #[test]
    fn new_objects_go_to_the_part_of_the_sequence() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE stix_objects (seq INTEGER PRIMARY KEY AUTOINCREMENT, object_id TEXT);",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        assert_eq!(new_object_part(&tx).unwrap(), 1, "no sequence yet");
        tx.execute("INSERT INTO stix_objects (object_id) VALUES ('x')", [])
            .unwrap();
        for (sequence, part) in [(1, 1), (32_767, 1), (32_768, 2), (3 * 32_768 + 5, 4)] {
            tx.execute(
                "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'stix_objects'",
                [sequence],
            )
            .unwrap();
            assert_eq!(new_object_part(&tx).unwrap(), part, "{sequence}");
            assert_eq!(part, (sequence >> crate::objects::KEY_PART_BITS) + 1);
        }
    }

    /// Parts are read once each, only below the one new objects go to, each print with its part.
    #[test]
    fn catching_up_reads_each_sealed_part_once() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE stix_objects (seq INTEGER PRIMARY KEY AUTOINCREMENT, object_id TEXT NOT NULL,
               object_key TEXT GENERATED ALWAYS AS (substr(object_id, instr(object_id, '--') + 6, 4) || substr(object_id, -8)) STORED,
               key_part INTEGER NOT NULL);
             CREATE INDEX k ON stix_objects (key_part, object_key);",
        )
        .unwrap();
        let id = |n: u32| format!("tool--00000000-0000-4000-8000-0000{n:08x}");
        let key = |n: u32| object_key_value(&id(n));
        // A row in `part`, with the sequence at `sequence` afterwards.
        let add = |conn: &rusqlite::Connection, sequence: i64, part: i64, n: u32| {
            conn.execute(
                "INSERT INTO stix_objects (object_id, key_part) VALUES (?1, ?2)",
                rusqlite::params![id(n), part],
            )
            .unwrap();
            conn.execute(
                "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'stix_objects'",
                [sequence],
            )
            .unwrap();
        };
        let keys = KeyParts::default();
        let tx = conn.transaction().unwrap();
        let p = keys.catch_up(&tx).unwrap();
        assert_eq!(
            (p.sealed_below(), p.len()),
            (1, 0),
            "part 0 (upgrades) sealed"
        );
        add(&tx, 100, 1, 1);
        add(&tx, 32_767, 1, 2);
        let p = keys.catch_up(&tx).unwrap();
        assert_eq!(p.sealed_below(), 1, "part 1 takes new objects");
        assert_eq!(p.parts_of(&key(1)), Some(&[][..]), "not sealed yet");
        add(&tx, 32_768, 1, 3);
        add(&tx, 3 * 32_768 + 5, 2, 4);
        let p = keys.catch_up(&tx).unwrap();
        assert_eq!(
            (p.sealed_below(), p.len()),
            (4, 4),
            "parts 0 to 3 are sealed"
        );
        for n in 1..=3 {
            assert_eq!(p.parts_of(&key(n)), Some(&[1][..]), "{n}");
        }
        assert_eq!(p.parts_of(&key(4)), Some(&[2][..]));
        assert_eq!(p.parts_of(&key(5)), Some(&[][..]));
        add(&tx, 4 * 32_768 + 1, 4, 5);
        add(&tx, 5 * 32_768, 4, 6);
        let p = keys.catch_up(&tx).unwrap();
        assert_eq!((p.sealed_below(), p.len()), (6, 6), "parts 4 and 5 added");
        assert_eq!(p.parts_of(&key(6)), Some(&[4][..]));
        assert!(Arc::ptr_eq(&p, &keys.snapshot()), "kept for the reads");
    }
}
