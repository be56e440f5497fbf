//! STIX 2.1 for Cairn: identifiers, timestamps, TAXII envelope parsing,
//! object validation, TLP/PAP marking definitions, RFC 8785 canonical JSON
//! and observable-value extraction.
//!
//! This crate owns the STIX data model as Cairn understands it:
//!
//! * [`envelope`]: split a TAXII 2.1 envelope or STIX bundle into objects,
//!   keeping each object's bytes exactly as posted;
//! * [`validate`]: check one object against STIX 2.1 and extract the
//!   [`ObjectMeta`] used for storage, versioning and TLP enforcement;
//! * [`marking`]: TLP 1.0/2.0 and Cairn's PAP marking definitions, levels
//!   and "most restrictive wins";
//! * [`canonical`]: RFC 8785 (JCS) canonical JSON;
//! * [`values`]: normalized observable values (IPs, domains, URLs, e-mail
//!   addresses, hashes) for correlation;
//! * [`id`] and [`timestamp`]: the STIX identifier and timestamp types.
//!
//! It is pure: no I/O, no clocks, no global state. Everything works on byte
//! slices and [`serde_json::Value`]s handed in by the caller.
//!
//! ```
//! use cairn_stix::{parse_envelope, validate_object, most_restrictive, Tlp};
//!
//! let body = br#"{"objects":[{"type":"ipv4-addr","spec_version":"2.1",
//!   "id":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"198.51.100.3",
//!   "object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}]}"#;
//! let objects = parse_envelope(body).unwrap();
//! let meta = validate_object(&objects[0].value).unwrap();
//! assert_eq!(meta.id.object_type(), "ipv4-addr");
//! assert_eq!(
//!     most_restrictive(meta.object_marking_refs.iter().map(String::as_str)),
//!     Some(Tlp::Green)
//! );
//! // The stored bytes are the posted bytes.
//! assert!(objects[0].raw_json().starts_with(r#"{"type":"ipv4-addr""#));
//! ```

#![forbid(unsafe_code)]

pub mod canonical;
pub mod envelope;
pub mod id;
pub mod marking;
pub mod timestamp;
pub mod validate;
pub mod values;

pub use envelope::{parse_envelope, EnvelopeError, RawStixObject};
pub use id::{IdError, StixId};
pub use marking::{most_restrictive, tlp_for_marking_ref, Pap, Tlp};
pub use timestamp::{Timestamp, TimestampError};
pub use validate::{validate_object, ObjectKind, ObjectMeta, PropertyError};
pub use values::{classify, extract_observable_values, ValueKind};
