//! Per-type rules.

use serde_json::Value;

use super::{check_hashes_value, msg, Checker, ObjectKind, Target};
use crate::marking::{
    builtin_marking_definition, pap_for_marking_ref, tlp_for_marking_ref,
    PAP_EXTENSION_DEFINITION_ID, TLP1_AMBER_ID, TLP1_GREEN_ID, TLP1_RED_ID, TLP1_WHITE_ID,
    TLP2_EXTENSION_DEFINITION_ID,
};
use crate::values::{normalize_ipv4, normalize_ipv6};

const MAX_COUNT: i64 = 999_999_999;
const OPINIONS: &[&str] = &[
    "strongly-disagree",
    "disagree",
    "neutral",
    "agree",
    "strongly-agree",
];
/// Objects that may not be the source or target of a relationship.
const NOT_RELATABLE: &[&str] = &[
    "relationship",
    "sighting",
    "marking-definition",
    "language-content",
    "extension-definition",
    "bundle",
];

pub(super) fn check_type_specific(c: &mut Checker<'_>, t: &str, kind: ObjectKind) {
    match kind {
        ObjectKind::Sdo => check_sdo(c, t),
        ObjectKind::Sro => check_sro(c, t),
        ObjectKind::Sco => check_sco(c, t),
        ObjectKind::MarkingDefinition => check_marking_definition(c),
        ObjectKind::LanguageContent => check_language_content(c),
        ObjectKind::ExtensionDefinition => check_extension_definition(c),
        ObjectKind::Custom => {}
    }
}

fn seen_window(c: &mut Checker<'_>, first: &str, last: &str) {
    let a = c.timestamp(first, false, false);
    let b = c.timestamp(last, false, false);
    c.order(first, a.as_ref(), last, b.as_ref(), false);
}

fn check_sdo(c: &mut Checker<'_>, t: &str) {
    match t {
        "attack-pattern" | "course-of-action" | "identity" | "incident" | "tool"
        | "vulnerability" => {
            c.string("name", true);
        }
        "campaign" | "intrusion-set" | "threat-actor" | "infrastructure" => {
            c.string("name", true);
            seen_window(c, "first_seen", "last_seen");
        }
        "grouping" => {
            c.string("context", true);
            c.references("object_refs", true, Target::Any);
        }
        "indicator" => {
            c.nonempty_string("pattern", true);
            c.string("pattern_type", true);
            c.string("pattern_version", false);
            if c.has("indicator_types") {
                c.string_list("indicator_types", false);
            }
            let from = c.timestamp("valid_from", true, false);
            let until = c.timestamp("valid_until", false, false);
            c.order(
                "valid_from",
                from.as_ref(),
                "valid_until",
                until.as_ref(),
                true,
            );
        }
        "location" => check_location(c),
        "malware" => {
            let is_family = c.boolean("is_family", true);
            c.string("name", false);
            if is_family == Some(true) && !c.has("name") {
                c.err("name", "required when is_family is true");
            }
            seen_window(c, "first_seen", "last_seen");
            c.references("sample_refs", false, Target::Types(&["file", "artifact"]));
        }
        "malware-analysis" => {
            c.string("product", true);
            c.string("result", false);
            if !c.has("result") && !c.has("analysis_sco_refs") {
                c.err("result", "one of result or analysis_sco_refs is required");
            }
            // STIX 2.1 types both as timestamps but sets no order between them (unlike
            // first_seen/last_seen), so a clock skew in the source's sandbox is not refused.
            c.timestamp("analysis_started", false, false);
            c.timestamp("analysis_ended", false, false);
        }
        "note" => {
            c.nonempty_string("content", true);
            c.references("object_refs", true, Target::Any);
            if c.has("authors") {
                c.string_list("authors", false);
            }
        }
        "observed-data" => check_observed_data(c),
        "opinion" => {
            c.enumerated("opinion", true, OPINIONS);
            c.references("object_refs", true, Target::Any);
            if c.has("authors") {
                c.string_list("authors", false);
            }
        }
        "report" => {
            c.string("name", true);
            c.timestamp("published", true, false);
            c.references("object_refs", true, Target::Any);
        }
        _ => {}
    }
}

fn check_location(c: &mut Checker<'_>) {
    c.string("region", false);
    c.string("country", false);
    c.number("latitude", false, -90.0, 90.0);
    c.number("longitude", false, -180.0, 180.0);
    let (has_lat, has_lon) = (c.has("latitude"), c.has("longitude"));
    if has_lat && !has_lon {
        c.err("longitude", "required when latitude is present");
    }
    if has_lon && !has_lat {
        c.err("latitude", "required when longitude is present");
    }
    if c.has("precision") {
        c.number("precision", false, 0.0, f64::MAX);
        if !(has_lat && has_lon) {
            c.err("precision", "requires latitude and longitude");
        }
    }
    if !(c.has("region") || c.has("country") || (has_lat && has_lon)) {
        c.err(
            "",
            "a location needs region, country, or latitude and longitude",
        );
    }
}

fn check_observed_data(c: &mut Checker<'_>) {
    let first = c.timestamp("first_observed", true, false);
    let last = c.timestamp("last_observed", true, false);
    c.order(
        "first_observed",
        first.as_ref(),
        "last_observed",
        last.as_ref(),
        false,
    );
    c.integer("number_observed", true, 1, MAX_COUNT);
    match (c.has("object_refs"), c.has("objects")) {
        (true, true) => c.err(
            "objects",
            "must not be present together with object_refs (objects is deprecated)",
        ),
        (false, false) => c.err("object_refs", msg::MISSING),
        (true, false) => {
            c.references("object_refs", true, Target::Any);
        }
        (false, true) => {
            if let Some(m) = c.object("objects", true) {
                if m.is_empty() {
                    c.err("objects", "must not be empty");
                }
            }
        }
    }
}

fn check_sro(c: &mut Checker<'_>, t: &str) {
    if t == "relationship" {
        if let Some(rt) = c.string("relationship_type", true) {
            let ok = !rt.is_empty()
                && rt
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                c.err(
                    "relationship_type",
                    "may contain only lowercase ASCII letters, digits and hyphens",
                );
            }
        }
        for k in ["source_ref", "target_ref"] {
            if let Some(id) = c.reference(k, true, Target::Any) {
                if NOT_RELATABLE.contains(&id.object_type()) {
                    c.err(
                        k,
                        format!(
                            "must refer to a STIX Domain Object or Cyber-observable Object, not a {:?}",
                            id.object_type()
                        ),
                    );
                }
            }
        }
        let start = c.timestamp("start_time", false, false);
        let stop = c.timestamp("stop_time", false, false);
        c.order(
            "start_time",
            start.as_ref(),
            "stop_time",
            stop.as_ref(),
            true,
        );
    } else {
        // sighting
        c.reference("sighting_of_ref", true, Target::Sdo);
        c.integer("count", false, 0, MAX_COUNT);
        seen_window(c, "first_seen", "last_seen");
        c.references(
            "observed_data_refs",
            false,
            Target::Types(&["observed-data"]),
        );
        c.references(
            "where_sighted_refs",
            false,
            Target::Types(&["identity", "location"]),
        );
        c.boolean("summary", false);
    }
}

fn check_sco(c: &mut Checker<'_>, t: &str) {
    c.boolean("defanged", false);
    match t {
        "artifact" => {
            let has_payload = c.has("payload_bin");
            let has_url = c.has("url");
            c.string("payload_bin", false);
            c.string("url", false);
            c.string("mime_type", false);
            match (has_payload, has_url) {
                (true, true) => c.err("url", "must not be present together with payload_bin"),
                (false, false) => c.err("payload_bin", "one of payload_bin or url is required"),
                (false, true) if !c.has("hashes") => {
                    c.err("hashes", "required when url is present");
                }
                _ => {}
            }
            hashes(c, false);
        }
        "autonomous-system" => {
            c.integer("number", true, 0, i64::from(u32::MAX));
        }
        "directory" => {
            c.string("path", true);
        }
        "domain-name" | "email-addr" | "url" => {
            c.nonempty_string("value", true);
        }
        "email-message" => {
            let multipart = c.boolean("is_multipart", true);
            if multipart == Some(true) && c.has("body") {
                c.err("body", "must not be present when is_multipart is true");
            }
            if multipart == Some(false) && c.has("body_multipart") {
                c.err(
                    "body_multipart",
                    "must not be present when is_multipart is false",
                );
            }
            c.timestamp("date", false, false);
            c.reference("from_ref", false, Target::Types(&["email-addr"]));
            c.reference("sender_ref", false, Target::Types(&["email-addr"]));
            for k in ["to_refs", "cc_refs", "bcc_refs"] {
                c.references(k, false, Target::Types(&["email-addr"]));
            }
        }
        "file" => {
            if !c.has("name") && !c.has("hashes") {
                c.err("", "a file needs at least one of name or hashes");
            }
            c.string("name", false);
            c.integer("size", false, 0, i64::MAX);
            hashes(c, false);
        }
        "ipv4-addr" => {
            if let Some(v) = c.string("value", true) {
                if normalize_ipv4(v).is_none() {
                    c.err("value", "must be an IPv4 address or CIDR block");
                }
            }
        }
        "ipv6-addr" => {
            if let Some(v) = c.string("value", true) {
                if normalize_ipv6(v).is_none() {
                    c.err("value", "must be an IPv6 address or CIDR block");
                }
            }
        }
        "mac-addr" => {
            if let Some(v) = c.string("value", true) {
                if !is_mac48(v) {
                    c.err(
                        "value",
                        "must be a lowercase, colon-delimited MAC-48 address (e.g. d2:fb:49:24:37:18)",
                    );
                }
            }
        }
        "mutex" | "software" => {
            c.string("name", true);
        }
        "network-traffic" => {
            c.string_list("protocols", true);
            if !c.has("src_ref") && !c.has("dst_ref") {
                c.err("src_ref", "one of src_ref or dst_ref is required");
            }
            for k in ["src_port", "dst_port"] {
                c.integer(k, false, 0, 65535);
            }
            let start = c.timestamp("start", false, false);
            let end = c.timestamp("end", false, false);
            c.order("start", start.as_ref(), "end", end.as_ref(), false);
        }
        "x509-certificate" => hashes(c, false),
        // process, user-account, windows-registry-key: no required properties.
        _ => {}
    }
}

fn hashes(c: &mut Checker<'_>, required: bool) {
    if let Some(v) = c.value("hashes", required) {
        check_hashes_value(c, v, "hashes");
    }
}

fn is_mac48(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts.iter().all(|p| {
            p.len() == 2
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

fn check_marking_definition(c: &mut Checker<'_>) {
    c.string("name", false);
    let id = c.get("id").and_then(Value::as_str).unwrap_or_default();
    let has_dt = c.has("definition_type");
    let has_def = c.has("definition");
    match (has_dt, has_def) {
        (true, false) => c.err("definition", "required when definition_type is present"),
        (false, true) => c.err("definition_type", "required when definition is present"),
        (false, false) if !c.has("extensions") => c.err(
            "",
            "a marking definition needs definition_type and definition, or extensions",
        ),
        _ => {}
    }
    let dt = c.string("definition_type", false);
    let def = if has_def {
        c.object("definition", false)
    } else {
        None
    };
    match dt {
        Some("statement") => {
            if let Some(d) = def {
                if !d.get("statement").is_some_and(Value::is_string) {
                    c.err("definition.statement", "required, and must be a string");
                }
            }
        }
        Some("tlp") => {
            if let Some(d) = def {
                let ok = d
                    .get("tlp")
                    .and_then(Value::as_str)
                    .is_some_and(|t| ["white", "green", "amber", "red"].contains(&t));
                if !ok {
                    c.err("definition.tlp", "must be one of: white, green, amber, red");
                }
            }
            let is_tlp1 = [TLP1_WHITE_ID, TLP1_GREEN_ID, TLP1_AMBER_ID, TLP1_RED_ID].contains(&id);
            if !is_tlp1 {
                c.err(
                    "definition_type",
                    "only the four TLP 1.0 marking definitions predefined by STIX may have definition_type \"tlp\"",
                );
            }
        }
        _ => {}
    }

    if let Some(ext) = c.get("extensions").and_then(Value::as_object) {
        let is_tlp2 =
            tlp_for_marking_ref(id).is_some() && builtin_has_ext(id, TLP2_EXTENSION_DEFINITION_ID);
        if ext.contains_key(TLP2_EXTENSION_DEFINITION_ID) && !is_tlp2 {
            c.err(
                format!("extensions.{TLP2_EXTENSION_DEFINITION_ID}"),
                "only the five published TLP 2.0 marking definitions may use the TLP 2.0 extension",
            );
        }
        if ext.contains_key(PAP_EXTENSION_DEFINITION_ID) && pap_for_marking_ref(id).is_none() {
            c.err(
                format!("extensions.{PAP_EXTENSION_DEFINITION_ID}"),
                "only Cairn's four PAP marking definitions may use the Cairn PAP extension",
            );
        }
    }

    if let Some(builtin) = builtin_marking_definition(id) {
        if builtin.as_object() != Some(c.obj) {
            let label = builtin
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("built-in");
            c.err(
                "id",
                format!(
                    "{id} is the published {label} marking definition, but this object differs from it; altered TLP/PAP definitions are refused"
                ),
            );
        }
    }
}

fn builtin_has_ext(id: &str, ext: &str) -> bool {
    builtin_marking_definition(id)
        .and_then(|b| b.get("extensions").map(|e| e.get(ext).is_some()))
        .unwrap_or(false)
}

fn check_language_content(c: &mut Checker<'_>) {
    c.reference("object_ref", true, Target::Any);
    c.timestamp("object_modified", false, true);
    if let Some(contents) = c.object("contents", true) {
        if contents.is_empty() {
            c.err("contents", "must not be empty");
        }
        for (lang, v) in contents {
            if !v.is_object() {
                c.err(format!("contents.{lang}"), msg::OBJECT);
            }
        }
    }
}

fn check_extension_definition(c: &mut Checker<'_>) {
    if !c.has("created_by_ref") {
        c.err("created_by_ref", msg::MISSING);
    }
    c.nonempty_string("name", true);
    c.nonempty_string("schema", true);
    c.nonempty_string("version", true);
    if let Some(types) = c.string_list("extension_types", true) {
        for (i, t) in types.iter().enumerate() {
            if !super::EXTENSION_TYPES.contains(t) {
                c.err(
                    format!("extension_types[{i}]"),
                    format!("must be one of: {}", super::EXTENSION_TYPES.join(", ")),
                );
            }
        }
    }
    if c.has("extension_properties") {
        c.string_list("extension_properties", false);
    }
}
