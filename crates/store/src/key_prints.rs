//! On SQLite, the bulk writer's memory of the object keys in the sealed parts of the object
//! key's index (migration 14), by which it finds the stored versions of a new object without
//! seeking every part.
//!
//! A new object goes to the part new objects go to at that moment ([`NEW_OBJECT_PART`], from
//! the table's sequence, which only grows), and its later versions to the same part. A part
//! below the one new objects go to is sealed: it never gains a key again. The writer keeps a
//! print of every key in the sealed parts (the key's last 8 hex digits as a number, 4 bytes a
//! row), read once per part. An object whose print is not among them has no version in a
//! sealed part, and is looked up in the newer parts alone, with one or two seeks instead of one
//! per part (32 at a million rows). A print among them may belong to another key or to a
//! deleted row: such an object is looked up in every part, exactly.
//!
//! Parts are read at the start of a share, before its own rows, under the write lock: a part
//! counts as sealed only by the committed sequence, so a share that rolls back leaves nothing
//! here that a later write could contradict.

use rusqlite::Transaction;

use cairn_core::StoreError;

use crate::objects::NEW_OBJECT_PART;

type R<T> = Result<T, StoreError>;

/// The print of an object key: its last 8 characters read as hexadecimal. Keys of valid STIX
/// ids always have one; a key without one is looked up in every part.
pub(crate) fn print_of(key: &str) -> Option<u32> {
    let tail = key.get(key.len().checked_sub(8)?..)?;
    if !tail.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(tail, 16).ok()
}

/// The part new objects go to now.
pub(crate) fn new_object_part(tx: &Transaction) -> R<i64> {
    tx.prepare_cached(NEW_OBJECT_PART)
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(crate::bulk::err)
}

/// The prints of the keys in the parts below `sealed_below`, sorted.
#[derive(Default)]
pub(crate) struct KeyPrints {
    sealed_below: i64,
    prints: Vec<u32>,
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
    /// Read the parts sealed since the last call (every part below the one new objects go
    /// to), at the start of a share, before it writes. Returns the first part not in memory.
    pub(crate) fn catch_up(&mut self, tx: &Transaction) -> R<i64> {
        let newest = new_object_part(tx)?;
        if newest > self.sealed_below {
            let mut read = tx
                .prepare_cached("SELECT object_key FROM stix_objects WHERE key_part = ?1")
                .map_err(crate::bulk::err)?;
            let mut added = Vec::new();
            for part in self.sealed_below..newest {
                let mut rows = read.query([part]).map_err(crate::bulk::err)?;
                while let Some(r) = rows.next().map_err(crate::bulk::err)? {
                    let key: String = r.get(0).map_err(crate::bulk::err)?;
                    added.extend(print_of(&key));
                }
            }
            added.sort_unstable();
            self.prints = merge(&self.prints, &added);
            self.sealed_below = newest;
        }
        Ok(self.sealed_below)
    }

    /// The first part not in memory (at the start of a share: the one new objects go to).
    pub(crate) fn sealed_below(&self) -> i64 {
        self.sealed_below
    }

    /// Whether a sealed part may hold the object of this key.
    pub(crate) fn may_hold(&self, key: &str) -> bool {
        match print_of(key) {
            Some(p) => self.prints.binary_search(&p).is_ok(),
            None => true,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.prints.len()
    }
}

/// Two sorted lists as one, sorted, without repeats.
fn merge(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::object_key_value;

    #[test]
    fn prints_are_the_keys_last_hex_digits() {
        let key = object_key_value("indicator--0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8");
        assert_eq!(print_of(&key), Some(0xb5c6d7e8));
        assert_eq!(print_of("4f50B5C6D7E8"), Some(0xb5c6d7e8));
        for odd in ["", "abc", "4f50+5c6d7e8", "4f50b5c6d7eg", "ß-ü-2345ü"] {
            assert_eq!(print_of(odd), None, "{odd:?}");
        }
        let mut prints = KeyPrints::default();
        assert!(
            prints.may_hold("no print here"),
            "no print: look everywhere"
        );
        prints.prints = vec![0xb5c6d7e8];
        assert!(prints.may_hold(&key));
        assert!(!prints.may_hold("4f5000000001"));
    }

    #[test]
    fn merging_keeps_order_and_drops_repeats() {
        assert_eq!(merge(&[1, 4, 9], &[2, 4, 10]), vec![1, 2, 4, 9, 10]);
        assert_eq!(merge(&[], &[3, 3]), vec![3]);
        assert_eq!(merge(&[5], &[]), vec![5]);
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

    /// Parts are read once each, only below the one new objects go to.
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
        let mut prints = KeyPrints::default();
        let tx = conn.transaction().unwrap();
        assert_eq!(prints.catch_up(&tx).unwrap(), 1, "part 0 (upgrades) sealed");
        assert_eq!(prints.len(), 0);
        add(&tx, 100, 1, 1);
        add(&tx, 32_767, 1, 2);
        assert_eq!(prints.catch_up(&tx).unwrap(), 1, "part 1 takes new objects");
        assert!(
            !prints.may_hold(&object_key_value(&id(1))),
            "not sealed yet"
        );
        add(&tx, 32_768, 1, 3);
        add(&tx, 3 * 32_768 + 5, 2, 4);
        assert_eq!(prints.catch_up(&tx).unwrap(), 4, "parts 0 to 3 are sealed");
        assert_eq!(prints.len(), 4);
        for n in 1..=4 {
            assert!(prints.may_hold(&object_key_value(&id(n))), "{n}");
        }
        assert!(!prints.may_hold(&object_key_value(&id(5))));
        add(&tx, 4 * 32_768 + 1, 4, 5);
        add(&tx, 5 * 32_768, 4, 6);
        assert_eq!(prints.catch_up(&tx).unwrap(), 6);
        assert_eq!(prints.len(), 6, "parts 4 and 5 added");
        assert!(prints.may_hold(&object_key_value(&id(6))));
    }
}
