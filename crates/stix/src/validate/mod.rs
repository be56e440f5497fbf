//! Validation of single STIX 2.1 objects.
//!
//! [`validate_object`] checks one parsed object against the STIX 2.1 rules
//! Cairn enforces and, if it passes, returns the [`ObjectMeta`] the rest of
//! the system indexes on. It collects every problem in the object rather
//! than stopping at the first, each as a [`PropertyError`] naming the
//! property by a dotted path such as `external_references[0].source_name`
//! (the empty path means the object as a whole).
//!
//! What is checked:
//! * `type` (3–250 chars of `a-z0-9-`, starting with a letter) and `id`
//!   (`type--UUID`, same type, RFC 4122 UUID).
//! * `spec_version` is `"2.1"` where present, and present on SDOs, SROs,
//!   marking definitions, language content and extension definitions.
//! * `created`/`modified`: RFC 3339 UTC with `Z` and at least millisecond
//!   precision, `modified >= created`; required on SDOs, SROs, language
//!   content and extension definitions; marking definitions require
//!   `created` and may not have `modified` (they cannot be versioned).
//! * Common optional properties: `labels`, `confidence` (0–100), `lang`,
//!   `external_references` (each with `source_name` and one of
//!   `description`/`url`/`external_id`), `revoked`, `created_by_ref`
//!   (identity), `object_marking_refs` (marking definitions),
//!   `granular_markings` (`selectors` that resolve in the object, and
//!   `marking_ref` XOR `lang`), `extensions` (keys are
//!   `extension-definition--UUID`, a predefined name ending in `-ext`, or a
//!   deprecated `x-` custom extension), `kill_chain_phases`, `hashes`.
//! * Every property named `*_ref` anywhere in the object holds an
//!   identifier and every `*_refs` a non-empty list of them (except inside
//!   observed-data's deprecated `objects`, whose refs are local keys).
//! * Per-type required properties and constraints for all SDOs, SROs and
//!   SCOs of STIX 2.1, marking definitions, language content and extension
//!   definitions. Marking definitions that reuse a built-in TLP or PAP id with
//!   different content, other `definition_type: "tlp"` markings, and other
//!   users of the TLP 2.0 or Cairn PAP extensions are refused.
//! * Top-level property names use only ASCII letters, digits and `_`.
//!
//! Custom object types (any well-formed type name that is not a STIX type,
//! conventionally `x-…`) and custom properties (`x_…`) are accepted and kept;
//! custom objects only get the common checks.
//!
//! Not checked: open vocabularies, the STIX patterning grammar, that
//! referenced objects exist, and the property sets of SCO extensions.

mod types;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::id::{check_type_name, StixId};
use crate::timestamp::Timestamp;

/// The STIX 2.1 Domain Object types.
pub const SDO_TYPES: &[&str] = &[
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
];

/// The STIX 2.1 Relationship Object types.
pub const SRO_TYPES: &[&str] = &["relationship", "sighting"];

/// The STIX 2.1 Cyber-observable Object types.
pub const SCO_TYPES: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// The broad category of a STIX object, from its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectKind {
    /// STIX Domain Object.
    Sdo,
    /// STIX Relationship Object (relationship, sighting).
    Sro,
    /// STIX Cyber-observable Object.
    Sco,
    /// `marking-definition`.
    MarkingDefinition,
    /// `language-content`.
    LanguageContent,
    /// `extension-definition`.
    ExtensionDefinition,
    /// Any other (custom) type.
    Custom,
}

impl ObjectKind {
    /// The kind of objects of type `object_type`.
    pub fn of_type(object_type: &str) -> ObjectKind {
        match object_type {
            "marking-definition" => ObjectKind::MarkingDefinition,
            "language-content" => ObjectKind::LanguageContent,
            "extension-definition" => ObjectKind::ExtensionDefinition,
            t if SDO_TYPES.contains(&t) => ObjectKind::Sdo,
            t if SRO_TYPES.contains(&t) => ObjectKind::Sro,
            t if SCO_TYPES.contains(&t) => ObjectKind::Sco,
            _ => ObjectKind::Custom,
        }
    }

    /// A short name: `sdo`, `sro`, `sco`, `marking-definition`,
    /// `language-content`, `extension-definition` or `custom`.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Sdo => "sdo",
            ObjectKind::Sro => "sro",
            ObjectKind::Sco => "sco",
            ObjectKind::MarkingDefinition => "marking-definition",
            ObjectKind::LanguageContent => "language-content",
            ObjectKind::ExtensionDefinition => "extension-definition",
            ObjectKind::Custom => "custom",
        }
    }
}

/// One problem with one property of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{property}: {message}")]
pub struct PropertyError {
    /// Dotted path of the property, e.g. `external_references[0].source_name`;
    /// empty for the object as a whole.
    pub property: String,
    /// What is wrong.
    pub message: String,
}

/// What the rest of Cairn needs to know about a valid object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectMeta {
    /// The object's `id`.
    pub id: StixId,
    /// The object's `type`.
    pub object_type: String,
    /// Category derived from `type`.
    pub kind: ObjectKind,
    /// `spec_version`, if present.
    pub spec_version: Option<String>,
    /// `created`, if present.
    pub created: Option<Timestamp>,
    /// `modified`, if present.
    pub modified: Option<Timestamp>,
    /// `revoked` (false when absent).
    pub revoked: bool,
    /// `created_by_ref`, if present.
    pub created_by_ref: Option<String>,
    /// `object_marking_refs` (empty when absent).
    pub object_marking_refs: Vec<String>,
    /// Every `marking_ref` of `granular_markings`, in order, deduplicated.
    pub granular_marking_refs: Vec<String>,
    /// The version: `modified`, else `created`, else `None` (SCOs).
    pub version: Option<Timestamp>,
    /// `name`, if a string.
    pub name: Option<String>,
    /// `description`, if a string.
    pub description: Option<String>,
}

/// Validates one STIX 2.1 object, returning its metadata or every problem
/// found.
pub fn validate_object(value: &Value) -> Result<ObjectMeta, Vec<PropertyError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![PropertyError {
            property: String::new(),
            message: format!("object is a JSON {}, not a JSON object", json_kind(value)),
        }]);
    };
    let mut c = Checker {
        obj,
        errors: Vec::new(),
    };

    let object_type = check_type(&mut c);
    let id = check_id(&mut c, object_type);
    let kind = object_type.map_or(ObjectKind::Custom, ObjectKind::of_type);

    check_property_names(&mut c);
    let spec_version = check_spec_version(&mut c, kind);
    let (created, modified) = check_created_modified(&mut c, kind);
    let common = check_common(&mut c);
    walk_refs(&mut c, object_type);

    if let Some(t) = object_type {
        types::check_type_specific(&mut c, t, kind);
    }

    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    let (Some(id), Some(object_type)) = (id, object_type) else {
        // Unreachable: a missing type or id always records an error.
        return Err(vec![PropertyError {
            property: String::new(),
            message: "object has no valid type or id".into(),
        }]);
    };
    let version = modified.clone().or_else(|| created.clone());
    Ok(ObjectMeta {
        id,
        object_type: object_type.to_owned(),
        kind,
        spec_version,
        created,
        modified,
        revoked: common.revoked,
        created_by_ref: common.created_by_ref,
        object_marking_refs: common.object_marking_refs,
        granular_marking_refs: common.granular_marking_refs,
        version,
        name: obj.get("name").and_then(Value::as_str).map(str::to_owned),
        description: obj
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Error messages used in several places.
pub(crate) mod msg {
    pub const MISSING: &str = "required property is missing";
    pub const STRING: &str = "must be a string";
    pub const NONEMPTY_STRING: &str = "must be a non-empty string";
    pub const BOOL: &str = "must be a boolean";
    pub const INTEGER: &str = "must be an integer";
    pub const NUMBER: &str = "must be a number";
    pub const OBJECT: &str = "must be a JSON object";
    pub const EMPTY_LIST: &str = "must not be an empty list";
    pub const STRING_LIST: &str = "must be a list of strings";
    pub const IDENTIFIER: &str = "must be an identifier (type--UUID)";
}

/// What a reference may point at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// Any identifier.
    Any,
    /// One of these types.
    Types(&'static [&'static str]),
    /// An SDO (including custom types, excluding SCOs, SROs and meta objects).
    Sdo,
}

impl Target {
    fn accepts(self, ty: &str) -> bool {
        match self {
            Target::Any => true,
            Target::Types(ts) => ts.contains(&ty),
            Target::Sdo => matches!(
                ObjectKind::of_type(ty),
                ObjectKind::Sdo | ObjectKind::Custom
            ),
        }
    }

    fn describe(self) -> String {
        match self {
            Target::Any => "an object".into(),
            Target::Types(ts) => ts
                .iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join(" or "),
            Target::Sdo => "a STIX Domain Object".into(),
        }
    }
}

/// Accumulates errors for one object.
pub(crate) struct Checker<'a> {
    pub obj: &'a Map<String, Value>,
    pub errors: Vec<PropertyError>,
}

impl<'a> Checker<'a> {
    pub fn err(&mut self, property: impl Into<String>, message: impl Into<String>) {
        self.errors.push(PropertyError {
            property: property.into(),
            message: message.into(),
        });
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.obj.contains_key(key)
    }

    /// The value, recording "missing" if `required` and absent.
    pub fn value(&mut self, key: &str, required: bool) -> Option<&'a Value> {
        let v = self.get(key);
        if v.is_none() && required {
            self.err(key, msg::MISSING);
        }
        v
    }

    pub fn string(&mut self, key: &str, required: bool) -> Option<&'a str> {
        let v = self.value(key, required)?;
        match v.as_str() {
            Some(s) => Some(s),
            None => {
                self.err(key, msg::STRING);
                None
            }
        }
    }

    pub fn nonempty_string(&mut self, key: &str, required: bool) -> Option<&'a str> {
        let v = self.value(key, required)?;
        match v.as_str() {
            Some(s) if !s.is_empty() => Some(s),
            _ => {
                self.err(key, msg::NONEMPTY_STRING);
                None
            }
        }
    }

    pub fn boolean(&mut self, key: &str, required: bool) -> Option<bool> {
        let v = self.value(key, required)?;
        match v.as_bool() {
            Some(b) => Some(b),
            None => {
                self.err(key, msg::BOOL);
                None
            }
        }
    }

    pub fn integer(&mut self, key: &str, required: bool, min: i64, max: i64) -> Option<i64> {
        let v = self.value(key, required)?;
        let n = v.as_i64().or_else(|| {
            // Accept 5.0 style integers too (JSON has one number type).
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        });
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => {
                self.err(key, format!("must be an integer from {min} to {max}"));
                None
            }
            None if v.is_u64() => {
                self.err(key, format!("must be an integer from {min} to {max}"));
                None
            }
            None => {
                self.err(key, msg::INTEGER);
                None
            }
        }
    }

    pub fn number(&mut self, key: &str, required: bool, min: f64, max: f64) -> Option<f64> {
        let v = self.value(key, required)?;
        match v.as_f64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => {
                self.err(key, format!("must be a number from {min} to {max}"));
                None
            }
            None => {
                self.err(key, msg::NUMBER);
                None
            }
        }
    }

    /// A timestamp; with `millis`, at least millisecond precision is needed.
    pub fn timestamp(&mut self, key: &str, required: bool, millis: bool) -> Option<Timestamp> {
        let v = self.value(key, required)?;
        let Some(s) = v.as_str() else {
            self.err(key, "must be a timestamp string");
            return None;
        };
        match Timestamp::parse(s) {
            Ok(t) if millis && !t.has_millisecond_precision() => {
                self.err(
                    key,
                    "must have at least millisecond precision (e.g. 2016-05-12T08:17:27.000Z)",
                );
                None
            }
            Ok(t) => Some(t),
            Err(e) => {
                self.err(key, e.to_string());
                None
            }
        }
    }

    pub fn object(&mut self, key: &str, required: bool) -> Option<&'a Map<String, Value>> {
        let v = self.value(key, required)?;
        match v.as_object() {
            Some(m) => Some(m),
            None => {
                self.err(key, msg::OBJECT);
                None
            }
        }
    }

    /// A non-empty list of strings.
    pub fn string_list(&mut self, key: &str, required: bool) -> Option<Vec<&'a str>> {
        let v = self.value(key, required)?;
        let Some(items) = v.as_array() else {
            self.err(key, msg::STRING_LIST);
            return None;
        };
        if items.is_empty() {
            self.err(key, msg::EMPTY_LIST);
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(s) => out.push(s),
                None => {
                    self.err(format!("{key}[{i}]"), msg::STRING);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// One of `allowed`.
    pub fn enumerated(&mut self, key: &str, required: bool, allowed: &[&str]) -> Option<&'a str> {
        let s = self.string(key, required)?;
        if allowed.contains(&s) {
            Some(s)
        } else {
            self.err(key, format!("must be one of: {}", allowed.join(", ")));
            None
        }
    }

    /// A `*_ref` property: its format is checked by [`walk_refs`]; this
    /// records a missing required one and a wrong target type.
    pub fn reference(&mut self, key: &str, required: bool, target: Target) -> Option<StixId> {
        let v = self.value(key, required)?;
        let id = StixId::parse(v.as_str()?).ok()?;
        if !target.accepts(id.object_type()) {
            self.err(
                key,
                format!(
                    "must refer to {}, not a {:?}",
                    target.describe(),
                    id.object_type()
                ),
            );
        }
        Some(id)
    }

    /// A `*_refs` property: format by [`walk_refs`]; missing and targets
    /// here.
    pub fn references(&mut self, key: &str, required: bool, target: Target) -> Vec<StixId> {
        let Some(v) = self.value(key, required) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in v.as_array().into_iter().flatten().enumerate() {
            let Some(id) = item.as_str().and_then(|s| StixId::parse(s).ok()) else {
                continue;
            };
            if !target.accepts(id.object_type()) {
                self.err(
                    format!("{key}[{i}]"),
                    format!(
                        "must refer to {}, not a {:?}",
                        target.describe(),
                        id.object_type()
                    ),
                );
            }
            out.push(id);
        }
        out
    }

    /// Records an error if `later` is before `earlier` (or not strictly
    /// after it, with `strict`).
    pub fn order(
        &mut self,
        earlier_key: &str,
        earlier: Option<&Timestamp>,
        later_key: &str,
        later: Option<&Timestamp>,
        strict: bool,
    ) {
        if let (Some(a), Some(b)) = (earlier, later) {
            if strict && b <= a {
                self.err(later_key, format!("must be later than {earlier_key}"));
            } else if !strict && b < a {
                self.err(later_key, format!("must not be earlier than {earlier_key}"));
            }
        }
    }
}

fn check_type<'a>(c: &mut Checker<'a>) -> Option<&'a str> {
    let t = c.string("type", true)?;
    if let Err(e) = check_type_name(t) {
        c.err("type", e.to_string());
        return None;
    }
    if t == "bundle" {
        c.err(
            "type",
            "a bundle is not a STIX object; post the objects it contains",
        );
        return None;
    }
    Some(t)
}

fn check_id(c: &mut Checker<'_>, object_type: Option<&str>) -> Option<StixId> {
    let s = c.string("id", true)?;
    match StixId::parse(s) {
        Ok(id) => {
            if let Some(t) = object_type {
                if id.object_type() != t {
                    c.err(
                        "id",
                        format!(
                            "identifier type {:?} does not match the object's type {t:?}",
                            id.object_type()
                        ),
                    );
                    return None;
                }
            }
            Some(id)
        }
        Err(e) => {
            c.err("id", e.to_string());
            None
        }
    }
}

fn check_property_names(c: &mut Checker<'_>) {
    let bad: Vec<String> = c
        .obj
        .keys()
        .filter(|k| {
            k.is_empty()
                || k.len() > 250
                || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .cloned()
        .collect();
    for k in bad {
        c.err(
            k,
            "property names may contain only ASCII letters, digits and underscores (at most 250)",
        );
    }
}

fn check_spec_version(c: &mut Checker<'_>, kind: ObjectKind) -> Option<String> {
    let required = !matches!(kind, ObjectKind::Sco | ObjectKind::Custom);
    let v = c.string("spec_version", required)?;
    if v != "2.1" {
        c.err("spec_version", "must be \"2.1\"");
        return None;
    }
    Some(v.to_owned())
}

fn check_created_modified(
    c: &mut Checker<'_>,
    kind: ObjectKind,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let (need_created, need_modified) = match kind {
        ObjectKind::Sdo
        | ObjectKind::Sro
        | ObjectKind::LanguageContent
        | ObjectKind::ExtensionDefinition => (true, true),
        ObjectKind::MarkingDefinition => (true, false),
        ObjectKind::Sco | ObjectKind::Custom => (false, false),
    };
    let created = c.timestamp("created", need_created, true);
    let modified = if kind == ObjectKind::MarkingDefinition {
        if c.has("modified") {
            c.err(
                "modified",
                "marking definitions cannot be versioned, so they have no modified property",
            );
        }
        None
    } else {
        c.timestamp("modified", need_modified, true)
    };
    c.order(
        "created",
        created.as_ref(),
        "modified",
        modified.as_ref(),
        false,
    );
    (created, modified)
}

struct Common {
    revoked: bool,
    created_by_ref: Option<String>,
    object_marking_refs: Vec<String>,
    granular_marking_refs: Vec<String>,
}

fn check_common(c: &mut Checker<'_>) -> Common {
    let revoked = c.boolean("revoked", false).unwrap_or(false);
    let created_by_ref = c
        .reference("created_by_ref", false, Target::Types(&["identity"]))
        .map(StixId::into_string);
    if c.has("labels") {
        c.string_list("labels", false);
    }
    c.integer("confidence", false, 0, 100);
    c.string("lang", false);
    check_external_references(c);
    let object_marking_refs = c
        .references(
            "object_marking_refs",
            false,
            Target::Types(&["marking-definition"]),
        )
        .into_iter()
        .map(StixId::into_string)
        .collect();
    let granular_marking_refs = check_granular_markings(c);
    check_extensions(c);
    check_kill_chain_phases(c);
    Common {
        revoked,
        created_by_ref,
        object_marking_refs,
        granular_marking_refs,
    }
}

fn check_external_references(c: &mut Checker<'_>) {
    let Some(v) = c.get("external_references") else {
        return;
    };
    let Some(items) = v.as_array() else {
        c.err("external_references", "must be a list of objects");
        return;
    };
    if items.is_empty() {
        c.err("external_references", msg::EMPTY_LIST);
    }
    for (i, item) in items.iter().enumerate() {
        let path = format!("external_references[{i}]");
        let Some(er) = item.as_object() else {
            c.err(path, msg::OBJECT);
            continue;
        };
        match er.get("source_name") {
            None => c.err(format!("{path}.source_name"), msg::MISSING),
            Some(Value::String(_)) => {}
            Some(_) => c.err(format!("{path}.source_name"), msg::STRING),
        }
        for k in ["description", "url", "external_id"] {
            if er.get(k).is_some_and(|v| !v.is_string()) {
                c.err(format!("{path}.{k}"), msg::STRING);
            }
        }
        if !["description", "url", "external_id"]
            .iter()
            .any(|k| er.contains_key(*k))
        {
            c.err(
                path.clone(),
                "must have at least one of description, url or external_id",
            );
        }
        if let Some(h) = er.get("hashes") {
            check_hashes_value(c, h, &format!("{path}.hashes"));
        }
    }
}

/// Checks a `hashes` dictionary: a non-empty object of strings, with the
/// hex length right for the well-known algorithms.
pub(crate) fn check_hashes_value(c: &mut Checker<'_>, v: &Value, path: &str) {
    let Some(m) = v.as_object() else {
        c.err(path, msg::OBJECT);
        return;
    };
    if m.is_empty() {
        c.err(path, "must not be empty");
    }
    for (alg, hv) in m {
        let p = format!("{path}.{alg}");
        let Some(h) = hv.as_str() else {
            c.err(p, msg::STRING);
            continue;
        };
        if let Some(len) = hex_hash_len(alg) {
            if h.len() != len || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                c.err(p, format!("must be {len} hexadecimal digits"));
            }
        }
    }
}

/// Hex length of a well-known hash algorithm name (case, `-` and `_`
/// ignored), or `None` for others.
pub(crate) fn hex_hash_len(alg: &str) -> Option<usize> {
    let norm: String = alg
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match norm.as_str() {
        "MD5" => Some(32),
        "SHA1" => Some(40),
        "SHA256" | "SHA3256" => Some(64),
        "SHA512" | "SHA3512" => Some(128),
        _ => None,
    }
}

fn check_granular_markings(c: &mut Checker<'_>) -> Vec<String> {
    let mut refs: Vec<String> = Vec::new();
    let Some(v) = c.get("granular_markings") else {
        return refs;
    };
    let Some(items) = v.as_array() else {
        c.err("granular_markings", "must be a list of objects");
        return refs;
    };
    if items.is_empty() {
        c.err("granular_markings", msg::EMPTY_LIST);
    }
    let root = c.obj;
    for (i, item) in items.iter().enumerate() {
        let path = format!("granular_markings[{i}]");
        let Some(gm) = item.as_object() else {
            c.err(path, msg::OBJECT);
            continue;
        };
        match gm.get("selectors") {
            None => c.err(format!("{path}.selectors"), msg::MISSING),
            Some(Value::Array(sels)) if sels.is_empty() => {
                c.err(format!("{path}.selectors"), msg::EMPTY_LIST);
            }
            Some(Value::Array(sels)) => {
                for (j, s) in sels.iter().enumerate() {
                    let sp = format!("{path}.selectors[{j}]");
                    match s.as_str() {
                        None => c.err(sp, msg::STRING),
                        Some(sel) => {
                            if !selector_resolves_in(root, sel) {
                                c.err(
                                    sp,
                                    format!(
                                        "selector {sel:?} does not refer to content of this object"
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            Some(_) => c.err(format!("{path}.selectors"), msg::STRING_LIST),
        }
        match (gm.get("marking_ref"), gm.get("lang")) {
            (Some(_), Some(_)) => c.err(
                path.clone(),
                "must have either marking_ref or lang, not both",
            ),
            (None, None) => c.err(path.clone(), "must have marking_ref or lang"),
            (None, Some(l)) if !l.is_string() => c.err(format!("{path}.lang"), msg::STRING),
            _ => {}
        }
        if let Some(r) = gm.get("marking_ref").and_then(Value::as_str) {
            if let Ok(id) = StixId::parse(r) {
                if id.object_type() != "marking-definition" {
                    c.err(
                        format!("{path}.marking_ref"),
                        format!(
                            "must refer to \"marking-definition\", not a {:?}",
                            id.object_type()
                        ),
                    );
                } else if !refs.iter().any(|x| x == r) {
                    refs.push(r.to_owned());
                }
            }
        }
    }
    refs
}

/// Whether a granular-marking selector (`a.b.[0].c`; `a.b[0]` also
/// accepted) points at something present in the object `root`.
pub fn selector_resolves(root: &Value, selector: &str) -> bool {
    root.as_object()
        .is_some_and(|m| selector_resolves_in(m, selector))
}

fn selector_resolves_in(root: &Map<String, Value>, selector: &str) -> bool {
    if selector.is_empty() {
        return false;
    }
    // `None` stands for the root object itself.
    let mut cur: Option<&Value> = None;
    for seg in selector.split('.') {
        let (name, index) = match seg.find('[') {
            Some(pos) if seg.ends_with(']') => {
                let idx: Option<usize> = seg[pos + 1..seg.len() - 1].parse().ok();
                match idx {
                    Some(idx) => (&seg[..pos], Some(idx)),
                    None => return false,
                }
            }
            Some(_) => return false,
            None => (seg, None),
        };
        if !name.is_empty() {
            let map = match cur {
                None => root,
                Some(v) => match v.as_object() {
                    Some(m) => m,
                    None => return false,
                },
            };
            match map.get(name) {
                Some(v) => cur = Some(v),
                None => return false,
            }
        } else if index.is_none() {
            return false;
        }
        if let Some(i) = index {
            match cur.and_then(Value::as_array).and_then(|a| a.get(i)) {
                Some(v) => cur = Some(v),
                None => return false,
            }
        }
    }
    true
}

const EXTENSION_TYPES: &[&str] = &[
    "new-sdo",
    "new-sro",
    "new-sco",
    "property-extension",
    "toplevel-property-extension",
];

fn check_extensions(c: &mut Checker<'_>) {
    let Some(v) = c.get("extensions") else {
        return;
    };
    let Some(m) = v.as_object() else {
        c.err("extensions", msg::OBJECT);
        return;
    };
    if m.is_empty() {
        c.err("extensions", "must not be empty");
    }
    for (name, ext) in m {
        let path = format!("extensions.{name}");
        if name.starts_with("extension-definition--") {
            if let Err(e) = StixId::parse(name) {
                c.err(
                    path.clone(),
                    format!("extension name is not a valid identifier: {e}"),
                );
            }
        } else {
            let well_formed = check_type_name(name).is_ok();
            if !(well_formed && (name.ends_with("-ext") || name.starts_with("x-"))) {
                c.err(
                    path.clone(),
                    "extension name must be an extension-definition identifier or a predefined extension name ending in \"-ext\"",
                );
            }
        }
        let Some(ext) = ext.as_object() else {
            c.err(path, msg::OBJECT);
            continue;
        };
        if let Some(et) = ext.get("extension_type") {
            if !et.as_str().is_some_and(|s| EXTENSION_TYPES.contains(&s)) {
                c.err(
                    format!("{path}.extension_type"),
                    format!("must be one of: {}", EXTENSION_TYPES.join(", ")),
                );
            }
        }
    }
}

fn check_kill_chain_phases(c: &mut Checker<'_>) {
    let Some(v) = c.get("kill_chain_phases") else {
        return;
    };
    let Some(items) = v.as_array() else {
        c.err("kill_chain_phases", "must be a list of objects");
        return;
    };
    if items.is_empty() {
        c.err("kill_chain_phases", msg::EMPTY_LIST);
    }
    for (i, item) in items.iter().enumerate() {
        let path = format!("kill_chain_phases[{i}]");
        let Some(kc) = item.as_object() else {
            c.err(path, msg::OBJECT);
            continue;
        };
        for k in ["kill_chain_name", "phase_name"] {
            match kc.get(k) {
                None => c.err(format!("{path}.{k}"), msg::MISSING),
                Some(Value::String(_)) => {}
                Some(_) => c.err(format!("{path}.{k}"), msg::STRING),
            }
        }
    }
}

/// Checks every `*_ref` / `*_refs` property anywhere in the object.
fn walk_refs(c: &mut Checker<'_>, object_type: Option<&str>) {
    let mut errors = Vec::new();
    for (k, v) in c.obj {
        // observed-data's deprecated `objects` uses local keys as refs.
        if object_type == Some("observed-data") && k == "objects" {
            continue;
        }
        walk_member(k, v, k, &mut errors);
    }
    c.errors.extend(errors);
}

fn walk_member(key: &str, v: &Value, path: &str, errors: &mut Vec<PropertyError>) {
    let mut push = |property: String, message: String| {
        errors.push(PropertyError { property, message });
    };
    if key.ends_with("_ref") {
        match v.as_str() {
            None => push(path.to_owned(), msg::IDENTIFIER.to_owned()),
            Some(s) => {
                if let Err(e) = StixId::parse(s) {
                    push(path.to_owned(), format!("is not a valid identifier: {e}"));
                }
            }
        }
        return;
    }
    if key.ends_with("_refs") {
        match v.as_array() {
            None => push(
                path.to_owned(),
                "must be a list of identifiers (type--UUID)".to_owned(),
            ),
            Some(items) if items.is_empty() => {
                push(path.to_owned(), msg::EMPTY_LIST.to_owned());
            }
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    match item.as_str() {
                        None => push(p, msg::IDENTIFIER.to_owned()),
                        Some(s) => {
                            if let Err(e) = StixId::parse(s) {
                                push(p, format!("is not a valid identifier: {e}"));
                            }
                        }
                    }
                }
            }
        }
        return;
    }
    walk_value(v, path, errors);
}

fn walk_value(v: &Value, path: &str, errors: &mut Vec<PropertyError>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                walk_member(k, child, &format!("{path}.{k}"), errors);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_value(item, &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
