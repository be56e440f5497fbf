//! The value hashes a process keeps in memory, so that the hidden-match lookup after a publish
//! reads the value index only for values someone else may hold (see migration 11 and
//! `crate::search`).
//!
//! The value index is in parts by age: rows go to the newest part, and a part that is no longer
//! the newest never receives a row again. Two kinds of knowledge are kept:
//!
//! - **Sealed parts**: the upper 32 bits ("prints") of every hash, sorted, part by part, read
//!   once. Rows deleted from a sealed part only leave prints the database no longer holds.
//! - **The newest part**: how many rows hold each print, read once and then kept up to date by
//!   the writes of this process. Each write to the index stamps the part's row in `value_parts`
//!   with a fresh stamp; a write records its prints here only if the stamp it found is the last
//!   one this process knows (no other process wrote since, and this process's last write was
//!   not rolled back); otherwise what is kept is dropped and read again when next asked. What is
//!   kept is complete for a committed state of the index if that state's stamp is one this
//!   process recorded. A write recorded but not (yet) committed only adds prints.
//!
//! So the prints never miss a row: a value whose print is absent is held by no row, and one whose
//! print is present may be (another hash with the same print, a deleted row, a write rolled
//! back); whoever asks reads the database for those. Four to twelve bytes per value in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use cairn_core::store::Engine;

use crate::objects::Sql;

/// Stamps of this process's writes kept for the newest part: a committed state older than the
/// last this many writes is read again.
const STAMPS_KEPT: usize = 256;

/// The upper 32 bits of a value hash.
pub(crate) fn print(h: i64) -> u32 {
    ((h as u64) >> 32) as u32
}

/// Prints of hashes written as decimal text separated by commas (an aggregate of one part).
pub(crate) fn prints_of(text: &str) -> Result<Vec<u32>, String> {
    text.split(',')
        .filter(|h| !h.is_empty())
        .map(|h| {
            h.parse::<i64>()
                .map(print)
                .map_err(|e| format!("value hash `{h}`: {e}"))
        })
        .collect()
}

#[derive(Debug, Default)]
pub(crate) struct ValueFilter {
    /// Held while parts are read (reads may take a while; lookups that find it held read every
    /// part instead of waiting).
    pub(crate) sealed: tokio::sync::Mutex<SealedParts>,
    /// Held only for moments, never across a read: writers record into it.
    newest: Mutex<Option<NewestPart>>,
}

/// The prints of the sealed parts `0..parts.len()`.
#[derive(Debug, Default)]
pub(crate) struct SealedParts {
    pub(crate) parts: Vec<Vec<u32>>,
}

impl SealedParts {
    /// The parts below this one are read.
    pub(crate) fn loaded_below(&self) -> i64 {
        self.parts.len() as i64
    }

    /// The sealed parts that may hold the hash.
    pub(crate) fn parts_holding(&self, h: i64) -> impl Iterator<Item = i64> + '_ {
        let p = print(h);
        self.parts
            .iter()
            .enumerate()
            .filter(move |(_, prints)| prints.binary_search(&p).is_ok())
            .map(|(i, _)| i as i64)
    }

    /// Add the next part's prints.
    pub(crate) fn push(&mut self, mut prints: Vec<u32>) {
        prints.sort_unstable();
        prints.shrink_to_fit();
        self.parts.push(prints);
    }

    /// The condition on `column` (a part) that keeps the parts a lookup of the hash must read:
    /// the sealed parts that may hold it, and every part not read into the filter. Its text is
    /// the same for every hash (the parts are parameters), so that PostgreSQL keeps one plan.
    pub(crate) fn parts_to_read(
        &self,
        sql: &mut Sql,
        engine: Engine,
        column: &str,
        h: i64,
    ) -> String {
        parts_condition(
            sql,
            engine,
            column,
            self.loaded_below(),
            self.parts_holding(h).collect(),
        )
    }
}

/// Sealed parts named one by one in a lookup's condition; a hash more of them may hold reads
/// every part.
const HOLDING_SLOTS: usize = 3;

/// The condition on `column` that keeps parts from `from` on and the parts `holding`.
pub(crate) fn parts_condition(
    sql: &mut Sql,
    engine: Engine,
    column: &str,
    from: i64,
    mut holding: Vec<i64>,
) -> String {
    let from = if holding.len() > HOLDING_SLOTS {
        holding.clear();
        0
    } else {
        from
    };
    holding.resize(HOLDING_SLOTS, -1);
    let from = sql.int(from);
    let slots: Vec<String> = holding.into_iter().map(|p| sql.int(p)).collect();
    let parts = format!(
        "SELECT part FROM value_parts WHERE part >= {from} OR part IN ({})",
        slots.join(", ")
    );
    match engine {
        Engine::Sqlite => format!("{column} IN ({parts})"),
        Engine::Postgres => format!("{column} = ANY(ARRAY({parts}))"),
    }
}

/// How many rows of the newest part hold each print, complete for the states stamped `stamps`.
#[derive(Debug)]
struct NewestPart {
    part: i64,
    stamps: VecDeque<String>,
    counts: HashMap<u32, u32>,
}

impl NewestPart {
    fn new(part: i64, stamp: String, prints: impl IntoIterator<Item = u32>) -> NewestPart {
        let mut p = NewestPart {
            part,
            stamps: VecDeque::from([stamp]),
            counts: HashMap::new(),
        };
        p.add(prints);
        p
    }

    fn add(&mut self, prints: impl IntoIterator<Item = u32>) {
        for x in prints {
            *self.counts.entry(x).or_insert(0) += 1;
        }
    }

    fn complete_for(&self, part: i64, stamp: &str) -> bool {
        self.part == part && self.stamps.iter().any(|s| s == stamp)
    }
}

/// A write of value rows, as its reservation found and left the newest part.
pub(crate) struct PartWrite<'a> {
    pub part: i64,
    /// Rows the part had before (0: this write opened it).
    pub from: i64,
    /// The part's stamp before (none when this write opened the part).
    pub found: Option<&'a str>,
    pub stamp: String,
}

impl ValueFilter {
    fn newest(&self) -> MutexGuard<'_, Option<NewestPart>> {
        self.newest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record a write's hashes, inside its transaction (before it commits).
    pub(crate) fn record_write(&self, w: PartWrite<'_>, hashes: impl IntoIterator<Item = i64>) {
        let prints = hashes.into_iter().map(print);
        let mut newest = self.newest();
        if w.from == 0 {
            *newest = Some(NewestPart::new(w.part, w.stamp, prints));
            return;
        }
        match newest.as_mut() {
            Some(p)
                if p.part == w.part
                    && w.found.is_some()
                    && p.stamps.back().map(String::as_str) == w.found =>
            {
                p.add(prints);
                p.stamps.push_back(w.stamp);
                if p.stamps.len() > STAMPS_KEPT {
                    p.stamps.pop_front();
                }
            }
            _ => *newest = None,
        }
    }

    /// Whether the counts of the newest part are complete for its state stamped `stamp`.
    pub(crate) fn newest_complete(&self, part: i64, stamp: &str) -> bool {
        self.newest()
            .as_ref()
            .is_some_and(|p| p.complete_for(part, stamp))
    }

    /// Keep the newest part as read in one statement (unless what is kept already covers it).
    pub(crate) fn install_newest(&self, part: i64, stamp: String, prints: Vec<u32>) {
        let mut newest = self.newest();
        if newest
            .as_ref()
            .is_some_and(|p| p.complete_for(part, &stamp))
        {
            return;
        }
        *newest = Some(NewestPart::new(part, stamp, prints));
    }

    /// Whether rows other than `own` ones of the newest part (state `stamp`) may hold the hash;
    /// `None` if the counts are not complete for that state.
    pub(crate) fn newest_may_hold_others(
        &self,
        part: i64,
        stamp: &str,
        h: i64,
        own: usize,
    ) -> Option<bool> {
        let newest = self.newest();
        let p = newest.as_ref().filter(|p| p.complete_for(part, stamp))?;
        Some(p.counts.get(&print(h)).copied().unwrap_or(0) as usize > own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: i64 = 0x0123_4567_0000_0001;
    const B: i64 = 0x7654_3210_0000_0002;
    /// Another hash with A's print.
    const A2: i64 = 0x0123_4567_ffff_ffff;

    fn write(part: i64, from: i64, found: Option<&'static str>, stamp: &str) -> PartWrite<'static> {
        PartWrite {
            part,
            from,
            found,
            stamp: stamp.into(),
        }
    }

    #[test]
    fn sealed_parts_name_the_parts_that_may_hold_a_hash() {
        let mut s = SealedParts::default();
        s.push(vec![print(B), print(A)]);
        s.push(vec![print(B)]);
        assert_eq!(s.loaded_below(), 2);
        assert_eq!(s.parts_holding(A).collect::<Vec<_>>(), vec![0]);
        assert_eq!(s.parts_holding(A2).collect::<Vec<_>>(), vec![0]);
        assert_eq!(s.parts_holding(B).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(s.parts_holding(0x1111_1111_0000_0000).count(), 0);
        let ints = |sql: &Sql| -> Vec<i64> {
            sql.args
                .iter()
                .map(|a| match a {
                    crate::objects::Arg::Int(i) => *i,
                    crate::objects::Arg::Text(t) => panic!("text argument {t}"),
                })
                .collect()
        };
        let mut sql = Sql::default();
        assert_eq!(
            s.parts_to_read(&mut sql, Engine::Sqlite, "ov.part", A),
            "ov.part IN (SELECT part FROM value_parts WHERE part >= $1 OR part IN ($2, $3, $4))"
        );
        assert_eq!(ints(&sql), vec![2, 0, -1, -1]);
        let mut sql = Sql::default();
        assert_eq!(
            s.parts_to_read(&mut sql, Engine::Postgres, "ov.part", 0x1111_1111_0000_0000),
            "ov.part = ANY(ARRAY(SELECT part FROM value_parts WHERE part >= $1 OR part IN ($2, $3, $4)))"
        );
        assert_eq!(ints(&sql), vec![2, -1, -1, -1]);
        // More holding parts than slots: every part.
        let mut sql = Sql::default();
        parts_condition(&mut sql, Engine::Sqlite, "p", 9, vec![1, 2, 3, 4]);
        assert_eq!(ints(&sql), vec![0, -1, -1, -1]);
    }

    #[test]
    fn prints_are_read_from_an_aggregate() {
        assert_eq!(
            prints_of(&format!("{A},{B}")).unwrap(),
            vec![print(A), print(B)]
        );
        assert_eq!(prints_of("").unwrap(), Vec::<u32>::new());
        assert!(prints_of("12,x").unwrap_err().contains("`x`"));
    }

    #[test]
    fn the_newest_part_counts_rows_beyond_the_publishers_own() {
        let f = ValueFilter::default();
        f.install_newest(3, "s1".into(), vec![print(A)]);
        assert!(f.newest_complete(3, "s1"));
        assert!(!f.newest_complete(3, "other"));
        assert!(!f.newest_complete(2, "s1"));
        // One row holds A: held by others unless it is the publisher's own.
        assert_eq!(f.newest_may_hold_others(3, "s1", A, 0), Some(true));
        assert_eq!(f.newest_may_hold_others(3, "s1", A, 1), Some(false));
        assert_eq!(f.newest_may_hold_others(3, "s1", B, 0), Some(false));
        // This process writes B twice and A once more, after s1.
        f.record_write(write(3, 10, Some("s1"), "s2"), [B, B, A2]);
        assert_eq!(f.newest_may_hold_others(3, "s2", B, 1), Some(true));
        assert_eq!(f.newest_may_hold_others(3, "s2", B, 2), Some(false));
        assert_eq!(f.newest_may_hold_others(3, "s2", A, 1), Some(true));
        // The committed state may still be s1 (the write not committed yet): still complete.
        assert_eq!(f.newest_may_hold_others(3, "s1", B, 2), Some(false));
        // A state this process never recorded (another process wrote): not complete.
        assert_eq!(f.newest_may_hold_others(3, "s9", B, 0), None);
    }

    #[test]
    fn a_write_after_someone_elses_drops_what_is_kept() {
        let f = ValueFilter::default();
        f.install_newest(3, "s1".into(), vec![]);
        // Found s7, not s1: another process wrote (or this one's last write was rolled back).
        f.record_write(write(3, 20, Some("s7"), "s8"), [A]);
        assert!(!f.newest_complete(3, "s8"));
        assert!(!f.newest_complete(3, "s1"));
        assert_eq!(f.newest_may_hold_others(3, "s8", A, 0), None);
    }

    #[test]
    fn a_rolled_back_write_is_noticed_by_the_next() {
        let f = ValueFilter::default();
        f.install_newest(3, "s1".into(), vec![]);
        f.record_write(write(3, 5, Some("s1"), "s2"), [A]);
        // s2 was rolled back: the next write finds s1 again, and what is kept is dropped.
        f.record_write(write(3, 5, Some("s1"), "s3"), [B]);
        assert!(!f.newest_complete(3, "s3"));
        assert!(!f.newest_complete(3, "s1"));
    }

    #[test]
    fn a_write_that_opens_a_part_starts_it() {
        let f = ValueFilter::default();
        f.record_write(write(4, 0, None, "n1"), [A, B]);
        assert!(f.newest_complete(4, "n1"));
        assert_eq!(f.newest_may_hold_others(4, "n1", A, 0), Some(true));
        assert_eq!(f.newest_may_hold_others(4, "n1", A, 1), Some(false));
        // A write to a part other than the one kept drops it.
        f.record_write(write(5, 3, Some("n1"), "n2"), [A]);
        assert!(!f.newest_complete(4, "n1"));
        // Reading the part again installs it; a stale read does not replace a fuller state.
        f.install_newest(5, "n2".into(), vec![print(A)]);
        f.record_write(write(5, 4, Some("n2"), "n3"), [B]);
        f.install_newest(5, "n2".into(), vec![print(A)]);
        assert!(f.newest_complete(5, "n3"));
    }
}
