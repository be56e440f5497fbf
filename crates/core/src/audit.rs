//! The tamper-evident audit chain.
//!
//! Each entry's hash is SHA-256 over the JSON array of its fields (sequence number, time, actor,
//! action, object, outcome, details text) and the previous entry's hash. The first entry's
//! previous hash is [`GENESIS`]. The store also keeps the head (last sequence number and hash)
//! so that removing the newest entries is detected too.

use sha2::{Digest, Sha256};

use crate::model::AuditEntry;
use crate::ts;

/// The previous hash of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash an entry must carry, given its fields and `prev_hash`.
pub fn entry_hash(entry: &AuditEntry) -> String {
    let opt = |u: Option<uuid::Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    let fields = serde_json::json!([
        entry.seq,
        ts::format(entry.at),
        opt(entry.actor_user),
        opt(entry.actor_org),
        entry.actor_label,
        entry.action,
        entry.object_type,
        entry.object_id,
        opt(entry.object_org),
        entry.outcome.as_str(),
        entry.details,
        entry.prev_hash,
    ]);
    let mut hasher = Sha256::new();
    hasher.update(fields.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// Why the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// Sequence number of the first entry that does not fit (or the expected one, if missing).
    pub seq: i64,
    pub reason: String,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit entry {}: {}", self.seq, self.reason)
    }
}

/// Walks entries in stored order and checks sequence, links and hashes.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
    checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            expected_seq: 1,
            prev_hash: GENESIS.to_string(),
            checked: 0,
        }
    }
}

impl ChainVerifier {
    /// Check the next entry in order.
    pub fn check(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        if entry.seq != self.expected_seq {
            return Err(ChainBreak {
                seq: self.expected_seq.min(entry.seq),
                reason: format!(
                    "expected sequence number {} but found {} (an entry was removed or reordered)",
                    self.expected_seq, entry.seq
                ),
            });
        }
        if entry.prev_hash != self.prev_hash {
            return Err(ChainBreak {
                seq: entry.seq,
                reason: "its previous-hash link does not match the entry before it".into(),
            });
        }
        if entry_hash(entry) != entry.hash {
            return Err(ChainBreak {
                seq: entry.seq,
                reason: "its content does not match its hash (the entry was altered)".into(),
            });
        }
        self.prev_hash = entry.hash.clone();
        self.expected_seq += 1;
        self.checked += 1;
        Ok(())
    }

    /// Compare the end of the walk with the head the store recorded.
    pub fn finish(self, head: Option<(i64, String)>) -> Result<u64, ChainBreak> {
        let last_seq = self.expected_seq - 1;
        match head {
            None if last_seq == 0 => Ok(0),
            None => Err(ChainBreak {
                seq: last_seq,
                reason: "the chain head record is missing".into(),
            }),
            Some((seq, hash)) => {
                if seq != last_seq {
                    Err(ChainBreak {
                        seq: last_seq + 1,
                        reason: format!(
                            "the head records {seq} entries but the chain ends at {last_seq} (entries were removed)"
                        ),
                    })
                } else if hash != self.prev_hash {
                    Err(ChainBreak {
                        seq: last_seq,
                        reason: "the head hash does not match the last entry".into(),
                    })
                } else {
                    Ok(self.checked)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    seq,
                    at: ts::now(),
                    actor_user: None,
                    actor_org: None,
                    actor_label: "t".into(),
                    action: "x.create".into(),
                    object_type: "x".into(),
                    object_id: seq.to_string(),
                    object_org: None,
                    outcome: Outcome::Changed,
                    details: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = entry_hash(&e);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry], head: Option<(i64, String)>) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.check(e)?;
        }
        v.finish(head)
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        let head = Some((5, c[4].hash.clone()));
        assert_eq!(verify(&c, head), Ok(5));
    }

    #[test]
    fn altered_entry_is_named() {
        let mut c = chain(5);
        c[2].details = "{\"x\":1}".into();
        let head = Some((5, c[4].hash.clone()));
        assert_eq!(verify(&c, head).unwrap_err().seq, 3);
    }

    #[test]
    fn removed_entry_is_named() {
        let mut c = chain(5);
        c.remove(1);
        let head = Some((5, c[3].hash.clone()));
        assert_eq!(verify(&c, head).unwrap_err().seq, 2);
    }

    #[test]
    fn truncated_tail_is_detected() {
        let c = chain(5);
        let head = Some((5, c[4].hash.clone()));
        assert_eq!(verify(&c[..4], head).unwrap_err().seq, 5);
    }

    #[test]
    fn swapped_entries_are_detected() {
        let mut c = chain(4);
        let (a, b) = (c[1].seq, c[2].seq);
        c[1].seq = b;
        c[2].seq = a;
        c.swap(1, 2);
        let head = Some((4, c[3].hash.clone()));
        assert_eq!(verify(&c, head).unwrap_err().seq, 2);
    }
}
