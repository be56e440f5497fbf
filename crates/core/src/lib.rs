//! # cairn-core: the domain
//!
//! This crate owns Cairn's vocabulary and every decision: organizations, users and their roles,
//! communities (the information exchange arrangement of ISO 22396) and their memberships, API
//! tokens, the tamper-evident audit chain, the node's signing keys, and the declarative
//! provisioning plan. It defines the [`store::Store`] trait it needs and the [`service::Cairn`]
//! service through which every front end (HTTP, CLI) acts.
//!
//! It must never speak HTTP or SQL: no axum, no sqlx. The server translates requests into calls
//! here; the store remembers what the core decided.
#![forbid(unsafe_code)]

pub mod anonymity;
pub mod audit;
pub mod auth;
pub mod correlator;
pub mod documents;
pub mod error;
pub mod exchange;
pub mod feedback;
pub mod keys;
pub mod model;
pub mod paging;
pub mod policy;
pub mod provenance;
pub mod provision;
pub mod release;
pub mod sanitize;
pub mod search;
pub mod service;
pub mod sharing;
pub mod store;
pub mod ts;
pub mod validate;

pub use error::{CoreError, StoreError};
pub use model::*;
pub use service::Cairn;
pub use store::Store;
