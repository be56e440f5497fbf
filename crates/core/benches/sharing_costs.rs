//! What each step of publishing costs per 1,000 objects, on one core: parsing, sanitization,
//! validation, indexing, canonical JSON, signing and verifying. Not a test: it prints figures.
//!
//!     cargo bench -p cairn-core --bench sharing_costs
//!     cargo bench -p cairn-core --bench sharing_costs -- --rounds 50
//!
//! The objects are generated from a fixed seed: indicators whose patterns and descriptions hold
//! public and internal addresses, host names and e-mail addresses of the source's own domain,
//! malware, and relationships between them, as a member's envelope would hold them.

use std::time::{Duration, Instant};

use cairn_core::keys::{new_org_key, verify_b64, MasterKey, Signer};
use cairn_core::sanitize::{sanitize_objects, SanitizationRules};
use cairn_stix::canonical::to_canonical_bytes;
use cairn_stix::validate::validate_object;
use serde_json::{json, Value};
use uuid::Uuid;

const OBJECTS: usize = 1_000;

/// A small deterministic generator (xorshift64*), so every run measures the same objects.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn uuid(&mut self) -> Uuid {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next().to_le_bytes());
        b[8..].copy_from_slice(&self.next().to_le_bytes());
        uuid::Builder::from_random_bytes(b).into_uuid()
    }
}

fn envelope(seed: u64) -> Vec<Value> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(OBJECTS);
    let mut indicators = Vec::new();
    let mut malware = Vec::new();
    let stamp = "2026-11-01T10:00:00.000Z";
    while out.len() < OBJECTS {
        let id = rng.uuid();
        match rng.below(10) {
            0..=5 => {
                let pattern = match rng.below(3) {
                    0 => format!(
                        "[ipv4-addr:value = '{}.{}.{}.{}']",
                        rng.below(223) + 1,
                        rng.below(256),
                        rng.below(256),
                        rng.below(256)
                    ),
                    1 => format!(
                        "[domain-name:value = 'c2-{}.example.net']",
                        rng.below(1 << 20)
                    ),
                    _ => format!(
                        "[file:hashes.'SHA-256' = '{:016x}{:016x}{:016x}{:016x}']",
                        rng.next(),
                        rng.next(),
                        rng.next(),
                        rng.next()
                    ),
                };
                let description = format!(
                    "Seen by the SOC (alice{}@corp.example) from 10.{}.{}.{} towards srv-db{:02}.corp.example; \
                     blocked at the proxy, ticket raised with the vendor.",
                    rng.below(100),
                    rng.below(256),
                    rng.below(256),
                    rng.below(256),
                    rng.below(100)
                );
                let sid = format!("indicator--{id}");
                indicators.push(sid.clone());
                out.push(json!({
                    "type": "indicator", "spec_version": "2.1", "id": sid,
                    "created": stamp, "modified": stamp,
                    "name": format!("Campaign infrastructure {}", rng.below(10_000)),
                    "description": description,
                    "indicator_types": ["malicious-activity"],
                    "pattern": pattern, "pattern_type": "stix", "valid_from": stamp,
                    "labels": ["phishing"],
                    "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
                }));
            }
            6 => {
                let sid = format!("malware--{id}");
                malware.push(sid.clone());
                out.push(json!({
                    "type": "malware", "spec_version": "2.1", "id": sid,
                    "created": stamp, "modified": stamp,
                    "name": format!("Loader family {}", rng.below(500)),
                    "is_family": true, "malware_types": ["dropper"],
                    "description": "Delivered by e-mail attachment; persists with a scheduled task.",
                }));
            }
            _ if !indicators.is_empty() && !malware.is_empty() => {
                let from = indicators[rng.below(indicators.len() as u64) as usize].clone();
                let to = malware[rng.below(malware.len() as u64) as usize].clone();
                out.push(json!({
                    "type": "relationship", "spec_version": "2.1",
                    "id": format!("relationship--{id}"),
                    "created": stamp, "modified": stamp,
                    "relationship_type": "indicates", "source_ref": from, "target_ref": to,
                }));
            }
            _ => {}
        }
    }
    out
}

/// Median and best of `rounds` timings of `f`, in milliseconds.
fn measure(rounds: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    (ms(times[times.len() / 2]), ms(times[0]))
}

fn main() {
    let mut rounds = 30;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--rounds" {
            rounds = args
                .next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(rounds);
        }
    }
    let objects = envelope(22396);
    let body = serde_json::to_vec(&json!({ "objects": objects })).expect("encode");
    let defaults = SanitizationRules::default();
    let org_rules = SanitizationRules {
        own_domains: vec!["corp.example".into()],
        hostname_patterns: vec!["srv-*.corp.example".into()],
        remove_properties: vec!["x_internal_ticket".into()],
        ..SanitizationRules::default()
    };
    let secret = [7u8; 32];
    let sanitized = sanitize_objects(&objects, &org_rules, &secret).objects;
    let master = MasterKey::generate();
    let key = new_org_key(&master, Uuid::nil());
    let signer = Signer::open(&master, &key).expect("open the key");
    let public = key.public().public_key;
    let canonical: Vec<Vec<u8>> = sanitized.iter().map(to_canonical_bytes).collect();
    let signatures: Vec<String> = canonical.iter().map(|c| signer.sign_b64(c)).collect();

    let mut rows: Vec<(&str, (f64, f64))> = Vec::new();
    rows.push((
        "parse the envelope (serde_json)",
        measure(rounds, || {
            let v: Value = serde_json::from_slice(&body).expect("parse");
            assert_eq!(v["objects"].as_array().map(Vec::len), Some(OBJECTS));
        }),
    ));
    rows.push((
        "sanitize, default rules (internal networks)",
        measure(rounds, || {
            let s = sanitize_objects(&objects, &defaults, &secret);
            assert!(!s.changes.is_empty());
        }),
    ));
    rows.push((
        "sanitize, organization rules (domains, host names, networks)",
        measure(rounds, || {
            let s = sanitize_objects(&objects, &org_rules, &secret);
            assert!(!s.changes.is_empty());
        }),
    ));
    rows.push((
        "validate (STIX 2.1)",
        measure(rounds, || {
            for o in &sanitized {
                validate_object(o).expect("valid");
            }
        }),
    ));
    rows.push((
        "index values and text",
        measure(rounds, || {
            let n: usize = sanitized
                .iter()
                .map(|o| cairn_core::search::index_object(o).values.len())
                .sum();
            assert!(n > 0);
        }),
    ));
    rows.push((
        "canonical JSON (RFC 8785)",
        measure(rounds, || {
            let n: usize = sanitized.iter().map(|o| to_canonical_bytes(o).len()).sum();
            assert!(n > 0);
        }),
    ));
    rows.push((
        "sign (ed25519 over canonical JSON)",
        measure(rounds, || {
            for c in &canonical {
                std::hint::black_box(signer.sign_b64(c));
            }
        }),
    ));
    rows.push((
        "canonical JSON + sign",
        measure(rounds, || {
            for o in &sanitized {
                std::hint::black_box(signer.sign_b64(&to_canonical_bytes(o)));
            }
        }),
    ));
    rows.push((
        "verify (canonical JSON + ed25519)",
        measure(rounds, || {
            for (o, s) in sanitized.iter().zip(&signatures) {
                assert!(verify_b64(&public, &to_canonical_bytes(o), s));
            }
        }),
    ));

    println!(
        "Cost per {OBJECTS} objects, one core, {rounds} rounds ({} bytes of envelope)",
        body.len()
    );
    println!();
    println!("| step | median ms | best ms |");
    println!("|---|---:|---:|");
    for (name, (median, best)) in rows {
        println!("| {name} | {median:.2} | {best:.2} |");
    }
}
