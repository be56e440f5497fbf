//! Parsing TAXII 2.1 envelopes and STIX bundles without re-serializing.
//!
//! A POST body is either a TAXII envelope (`{"objects": [...], "more": ..,
//! "next": ..}`) or a STIX bundle (`{"type": "bundle", "id": "bundle--UUID",
//! "objects": [...]}`). [`parse_envelope`] returns every element of
//! `objects` as a [`RawStixObject`]: the element's exact bytes as posted
//! (a [`RawValue`]) next to its parsed [`Value`]. Nothing is re-serialized,
//! so what is stored is what was sent.
//!
//! Refused bodies: invalid UTF-8, invalid JSON, trailing data, a top level
//! that is not an object, a missing or non-array `objects`, an element that
//! is not a JSON object, duplicate member names anywhere (they would let two
//! readers see different values), and nesting deeper than serde_json's
//! recursion limit of 128 (at most 127 levels, counted from the top of the
//! body). The depth is checked up front with an iterative scan, so deep
//! nesting is refused without recursing.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use crate::id::parse_uuid_strict;

/// serde_json's recursion limit. A body may nest at most `MAX_DEPTH - 1`
/// arrays/objects deep, the most serde_json will parse into a [`Value`].
pub const MAX_DEPTH: usize = 128;

/// One STIX object from an envelope: its bytes exactly as posted, and the
/// same bytes parsed.
#[derive(Debug, Clone)]
pub struct RawStixObject {
    /// The object's JSON text exactly as it appeared in the body.
    pub raw: Box<RawValue>,
    /// The parsed object (always a JSON object).
    pub value: Value,
}

impl RawStixObject {
    /// An object made (or changed) by the platform: its text is the compact serialization of
    /// `value`.
    pub fn from_value(value: Value) -> Result<Self, serde_json::Error> {
        let raw = serde_json::value::RawValue::from_string(serde_json::to_string(&value)?)?;
        Ok(RawStixObject { raw, value })
    }

    /// The object's JSON text exactly as posted.
    pub fn raw_json(&self) -> &str {
        self.raw.get()
    }

    /// The `type` property, if it is a string.
    pub fn object_type(&self) -> Option<&str> {
        self.value.get("type").and_then(Value::as_str)
    }

    /// The `id` property, if it is a string.
    pub fn id(&self) -> Option<&str> {
        self.value.get("id").and_then(Value::as_str)
    }
}

/// Why a body is not a usable envelope or bundle. The messages name what is
/// wrong and where, so they can go back to the client as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The body is not UTF-8.
    #[error("body is not valid UTF-8 (invalid byte at offset {valid_up_to})")]
    NotUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// The body is not JSON.
    #[error("body is not valid JSON: {message}")]
    InvalidJson {
        /// serde_json's message, with line and column.
        message: String,
    },
    /// The body nests arrays/objects deeper than serde_json accepts.
    #[error("body nests arrays/objects deeper than {limit} levels (serde_json's recursion limit is {MAX_DEPTH})")]
    TooDeep {
        /// The deepest nesting accepted.
        limit: usize,
    },
    /// The top level is not a JSON object.
    #[error("body is a JSON {found}, not an object (expected a TAXII envelope or STIX bundle)")]
    NotAnObject {
        /// The JSON kind found.
        found: &'static str,
    },
    /// The body is a single STIX object rather than an envelope or bundle.
    #[error("body is a single STIX object of type {object_type:?}, not an envelope or bundle; wrap it in {{\"objects\": [...]}}")]
    SingleObject {
        /// Its `type`.
        object_type: String,
    },
    /// `type` is `bundle` but the bundle's other properties are wrong.
    #[error("invalid bundle: {message}")]
    InvalidBundle {
        /// What is wrong.
        message: String,
    },
    /// A top-level member has the wrong type (e.g. `more` not a boolean).
    #[error("{field} {message}")]
    InvalidField {
        /// The member's name.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A member name occurs twice in the same JSON object.
    #[error("{location} has duplicate member {name:?}")]
    DuplicateKey {
        /// `body` or `objects[i]`.
        location: String,
        /// The repeated name.
        name: String,
    },
    /// There is no `objects` member.
    #[error("body has no \"objects\" array")]
    MissingObjects,
    /// `objects` is not an array.
    #[error("\"objects\" is a JSON {found}, not an array")]
    ObjectsNotArray {
        /// The JSON kind found.
        found: &'static str,
    },
    /// An element of `objects` is not a JSON object.
    #[error("objects[{index}] is not a JSON object (found a JSON {found})")]
    ObjectNotAnObject {
        /// Position in `objects`.
        index: usize,
        /// The JSON kind found.
        found: &'static str,
    },
    /// An element of `objects` could not be parsed (e.g. an invalid `\u`
    /// escape that the first pass tolerated).
    #[error("objects[{index}] is not valid JSON: {message}")]
    InvalidObject {
        /// Position in `objects`.
        index: usize,
        /// serde_json's message.
        message: String,
    },
}

/// Parses a TAXII 2.1 envelope or STIX 2.1 bundle into its objects, keeping
/// each one's exact bytes. An empty `objects` array gives an empty list.
///
/// Deep nesting is refused: serde_json's recursion limit (128) would refuse
/// it anyway, and this function checks it first with an iterative scan so no
/// input can exhaust the stack.
pub fn parse_envelope(body: &[u8]) -> Result<Vec<RawStixObject>, EnvelopeError> {
    let text = std::str::from_utf8(body).map_err(|e| EnvelopeError::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    // First pass: syntax only, non-recursive, borrows the text.
    let doc: &RawValue = serde_json::from_str(text).map_err(|e| EnvelopeError::InvalidJson {
        message: e.to_string(),
    })?;
    let depth = max_depth(doc.get());
    if depth >= MAX_DEPTH {
        return Err(EnvelopeError::TooDeep {
            limit: MAX_DEPTH - 1,
        });
    }
    let found = json_kind(doc.get());
    if found != "object" {
        return Err(EnvelopeError::NotAnObject { found });
    }
    let members = parse_members(doc.get(), "body")?;
    let get = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| *v);

    if let Some(ty) = get("type") {
        let ty: Value = parse_value(ty.get(), "body")?;
        match ty.as_str() {
            Some("bundle") => check_bundle(get("id"))?,
            Some(other) => {
                return Err(EnvelopeError::SingleObject {
                    object_type: other.to_owned(),
                })
            }
            None => {
                return Err(EnvelopeError::InvalidField {
                    field: "type",
                    message: "must be the string \"bundle\" or absent".into(),
                })
            }
        }
    } else {
        if let Some(more) = get("more") {
            if json_kind(more.get()) != "boolean" {
                return Err(EnvelopeError::InvalidField {
                    field: "more",
                    message: "must be a boolean".into(),
                });
            }
        }
        if let Some(next) = get("next") {
            if json_kind(next.get()) != "string" {
                return Err(EnvelopeError::InvalidField {
                    field: "next",
                    message: "must be a string".into(),
                });
            }
        }
    }

    let objects = get("objects").ok_or(EnvelopeError::MissingObjects)?;
    let found = json_kind(objects.get());
    if found != "array" {
        return Err(EnvelopeError::ObjectsNotArray { found });
    }
    let items: Vec<&RawValue> =
        serde_json::from_str(objects.get()).map_err(|e| EnvelopeError::InvalidJson {
            message: e.to_string(),
        })?;
    parse_items(&items)
}

/// Envelopes with at least this many objects are parsed on more than one thread.
const PARALLEL_PARSE_MIN: usize = 256;

/// Parse the elements of `objects` (index 0 first), on two threads for a large envelope: the
/// elements are independent, and parsing them is most of the work of reading a body. The error
/// is that of the first element that fails, whichever thread finds it.
fn parse_items(items: &[&RawValue]) -> Result<Vec<RawStixObject>, EnvelopeError> {
    let threads = if items.len() >= PARALLEL_PARSE_MIN {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
    } else {
        1
    };
    if threads < 2 {
        return parse_range(items, 0);
    }
    let half = items.len() / 2;
    let (first, rest) = items.split_at(half);
    let (first, rest) = std::thread::scope(|scope| {
        let other = std::thread::Builder::new()
            .name("cairn-parse".into())
            .spawn_scoped(scope, || parse_range(rest, half));
        let first = parse_range(first, 0);
        // A thread that could not start (or failed) leaves its half to this one.
        let rest = other
            .ok()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_else(|| parse_range(rest, half));
        (first, rest)
    });
    let mut out = first?;
    out.extend(rest?);
    Ok(out)
}

/// Parse `items`, the elements of `objects` from index `start` on.
fn parse_range(items: &[&RawValue], start: usize) -> Result<Vec<RawStixObject>, EnvelopeError> {
    let mut out = Vec::with_capacity(items.len());
    for (offset, item) in items.iter().enumerate() {
        let index = start + offset;
        let found = json_kind(item.get());
        if found != "object" {
            return Err(EnvelopeError::ObjectNotAnObject { index, found });
        }
        let location = format!("objects[{index}]");
        let value = parse_value(item.get(), &location).map_err(|e| match e {
            EnvelopeError::InvalidJson { message } => {
                EnvelopeError::InvalidObject { index, message }
            }
            other => other,
        })?;
        out.push(RawStixObject {
            raw: (*item).to_owned(),
            value,
        });
    }
    Ok(out)
}

fn check_bundle(id: Option<&RawValue>) -> Result<(), EnvelopeError> {
    let bad = |message: &str| EnvelopeError::InvalidBundle {
        message: message.to_owned(),
    };
    let id = id.ok_or_else(|| bad("\"id\" is missing"))?;
    let id: Value = serde_json::from_str(id.get()).map_err(|e| bad(&e.to_string()))?;
    let id = id.as_str().ok_or_else(|| bad("\"id\" must be a string"))?;
    let uuid = id
        .strip_prefix("bundle--")
        .ok_or_else(|| bad("\"id\" must start with \"bundle--\""))?;
    parse_uuid_strict(uuid).map_err(|e| bad(&format!("\"id\": {e}")))?;
    Ok(())
}

/// The JSON kind of a syntactically valid JSON text, from its first byte.
pub(crate) fn json_kind(text: &str) -> &'static str {
    match text.trim_start().bytes().next() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// The deepest array/object nesting in a syntactically valid JSON text.
fn max_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Top-level members of a JSON object text, refusing duplicate names.
fn parse_members<'a>(
    text: &'a str,
    location: &str,
) -> Result<Vec<(String, &'a RawValue)>, EnvelopeError> {
    let members: Members<'a> =
        serde_json::from_str(text).map_err(|e| EnvelopeError::InvalidJson {
            message: e.to_string(),
        })?;
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &members.0 {
        if !seen.insert(k.as_str()) {
            return Err(EnvelopeError::DuplicateKey {
                location: location.to_owned(),
                name: k.clone(),
            });
        }
    }
    Ok(members.0)
}

struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Parses JSON text into a [`Value`], refusing duplicate member names.
pub(crate) fn parse_value(text: &str, location: &str) -> Result<Value, EnvelopeError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = StrictSeed
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(v) => Ok(v),
        Err(e) => {
            let msg = e.to_string();
            if let Some(name) = msg
                .strip_prefix(DUP_PREFIX)
                .and_then(|rest| rest.split(DUP_SUFFIX).next())
            {
                Err(EnvelopeError::DuplicateKey {
                    location: location.to_owned(),
                    name: name.to_owned(),
                })
            } else if msg.starts_with("recursion limit exceeded") {
                Err(EnvelopeError::TooDeep {
                    limit: MAX_DEPTH - 1,
                })
            } else {
                Err(EnvelopeError::InvalidJson { message: msg })
            }
        }
    }
}

const DUP_PREFIX: &str = "\u{1}duplicate key\u{1}";
const DUP_SUFFIX: &str = "\u{1}";

/// Builds a [`Value`] like serde_json does, but errors on duplicate names.
struct StrictSeed;

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictSeed)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format!("{DUP_PREFIX}{k}{DUP_SUFFIX}")));
            }
            let v = map.next_value_seed(StrictSeed)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IND: &str = r#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z"}"#;

    #[test]
    fn large_envelopes_keep_order_and_report_the_first_bad_object() {
        let n = PARALLEL_PARSE_MIN * 2 + 3;
        let object = |i: usize| {
            format!(
                r#"{{"type":"indicator","id":"indicator--{i:08}-0000-4000-8000-000000000000","n": {i} }}"#
            )
        };
        let body = |bad: &[usize]| {
            let items: Vec<String> = (0..n)
                .map(|i| {
                    if bad.contains(&i) {
                        "7".to_string()
                    } else {
                        object(i)
                    }
                })
                .collect();
            format!(r#"{{"objects":[{}]}}"#, items.join(","))
        };
        let objs = parse_envelope(body(&[]).as_bytes()).unwrap();
        assert_eq!(objs.len(), n);
        for (i, o) in objs.iter().enumerate() {
            assert_eq!(
                o.raw.get(),
                object(i),
                "objects[{i}] kept as posted, in order"
            );
            assert_eq!(o.value["n"], i);
        }
        for bad in [
            vec![n - 1],
            vec![3, n - 1],
            vec![n / 2],
            vec![n / 2 - 1, n / 2],
        ] {
            let err = parse_envelope(body(&bad).as_bytes()).unwrap_err();
            assert!(
                matches!(err, EnvelopeError::ObjectNotAnObject { index, .. } if index == bad[0]),
                "{bad:?}: {err}"
            );
        }
        let dup = body(&[]).replacen(r#""n": 400 "#, r#""n": 400, "n": 1 "#, 1);
        assert!(
            parse_envelope(dup.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("objects[400]"),
            "a duplicate key in the second half is named"
        );
    }

    #[test]
    fn envelope_keeps_exact_bytes() {
        let obj = "{ \"type\" : \"x-thing\",\n\t\"id\":\"x-thing--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f\", \"n\": 1.50, \"b\":\"\\u00e9\" }";
        let body = format!("{{\"more\":false,\"objects\":[{IND},  {obj} ]}}");
        let objs = parse_envelope(body.as_bytes()).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].raw_json(), IND);
        assert_eq!(objs[1].raw_json(), obj);
        assert_eq!(objs[1].object_type(), Some("x-thing"));
        assert_eq!(
            objs[1].id(),
            Some("x-thing--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
        );
        assert_eq!(objs[1].value["b"], "é");
    }

    #[test]
    fn bundle_is_accepted() {
        let body = format!(
            r#"{{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[{IND}]}}"#
        );
        let objs = parse_envelope(body.as_bytes()).unwrap();
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].raw_json(), IND);
    }

    #[test]
    fn empty_objects_is_empty_list() {
        assert!(parse_envelope(br#"{"objects":[]}"#).unwrap().is_empty());
    }

    fn err(body: &[u8]) -> String {
        parse_envelope(body).unwrap_err().to_string()
    }

    #[test]
    fn refusals_name_the_problem() {
        assert!(err(b"\xff\xfe").contains("not valid UTF-8"));
        assert!(err(b"{\"objects\":[").contains("not valid JSON"));
        assert!(err(b"{\"objects\":[]} x").contains("not valid JSON"));
        assert_eq!(
            err(b"[1,2]"),
            "body is a JSON array, not an object (expected a TAXII envelope or STIX bundle)"
        );
        assert_eq!(err(b"{}"), "body has no \"objects\" array");
        assert_eq!(
            err(br#"{"objects":{}}"#),
            "\"objects\" is a JSON object, not an array"
        );
        assert_eq!(
            err(br#"{"objects":[{"type":"x"}, {}, {}, 3]}"#),
            "objects[3] is not a JSON object (found a JSON number)"
        );
        assert_eq!(
            err(br#"{"objects":[{"type":"x","type":"y"}]}"#),
            "objects[0] has duplicate member \"type\""
        );
        assert_eq!(
            err(br#"{"objects":[],"objects":[{}]}"#),
            "body has duplicate member \"objects\""
        );
        assert_eq!(
            err(br#"{"more":"yes","objects":[]}"#),
            "more must be a boolean"
        );
        assert_eq!(err(br#"{"next":1,"objects":[]}"#), "next must be a string");
        assert!(err(IND.as_bytes()).contains("single STIX object of type \"indicator\""));
        assert!(err(br#"{"type":"bundle","objects":[]}"#).contains("invalid bundle"));
        assert!(
            err(br#"{"type":"bundle","id":"bundle--nope","objects":[]}"#)
                .contains("invalid bundle")
        );
        assert!(err(br#"{"objects":[{"a":"\ud800"}]}"#).starts_with("objects[0] is not valid JSON"));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let deep = |n: usize| {
            format!(
                "{{\"objects\":[{{\"x\":{}{}}}]}}",
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        // body depth = n + 3 (envelope, objects array, object)
        assert!(parse_envelope(deep(124).as_bytes()).is_ok());
        assert!(err(deep(125).as_bytes()).contains("deeper than 127 levels"));
        assert!(err(deep(1_000_000).as_bytes()).contains("recursion limit is 128"));
        // Brackets inside strings do not count.
        let s = format!("{{\"objects\":[{{\"x\":\"{}\"}}]}}", "[".repeat(500));
        assert!(parse_envelope(s.as_bytes()).is_ok());
    }
}
