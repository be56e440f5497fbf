//! # cairn-store: where the core's decisions are remembered
//!
//! One implementation of [`cairn_core::Store`] over sqlx, on **SQLite** (embedded, the default)
//! and **PostgreSQL** (larger deployments), chosen from the URL scheme; on SQLite, shares are
//! written through SQLite's own API by the bulk writer (`bulk`). Both engines run the same
//! SQL (numbered `$n` parameters, portable types: text, big integers, blobs); where they differ,
//! [`migrations`] holds one script per engine. Migrations are embedded and append-only.
//!
//! This crate must never decide anything: no permission checks, no validation beyond what the
//! schema enforces. Every write happens in one transaction together with its audit entry.
#![forbid(unsafe_code)]

mod anonymity;
mod bulk;
mod feedback;
mod key_prints;
pub mod migrations;
mod objects;
mod release;
mod rows;
mod search;
mod sql;
mod value_filter;
mod versions;

pub use search::PART_ROWS as VALUE_PART_ROWS;
pub use sql::{connect, SqlStore, StoreOptions};
