//! Sanitization of STIX objects before they are published (ISO 22396 6.5.4: sensitive
//! information is anonymized before it is shared).
//!
//! An organization, and each community it belongs to, defines [`SanitizationRules`]. When a
//! member publishes into a community, Cairn [combines](SanitizationRules::combine) the
//! organization's rules with the community's and runs [`sanitize_objects`] over the whole
//! envelope. The module is pure: no I/O, no clock, no randomness; the only input besides the
//! objects and the rules is a secret that keys the pseudonyms.
//!
//! # What is matched
//!
//! Every string value of every object is searched, recursively (property values, list items,
//! nested objects, extensions), except the values Cairn must keep as posted:
//!
//! * the top-level `id`, `type`, `spec_version`, `created` and `modified`;
//! * every property, at any depth, whose name ends in `_ref` or `_refs` (including
//!   `object_marking_refs` and `granular_markings[].marking_ref`): those hold identifiers;
//! * property names and dictionary keys, among them the keys of `extensions`, are never changed.
//!
//! In each string the following are found:
//!
//! | rule | what | example |
//! |---|---|---|
//! | `own_domains` | e-mail addresses at an own domain or one of its subdomains | `alice@mail.corp.example` |
//! | `own_domains` | Windows-style `DOMAIN\user`, DOMAIN being the first label of an own domain (case-insensitive); `DOMAIN\\user` (as written inside a STIX pattern literal) too | `CORP\alice` |
//! | `internal_networks` | IPv4 dotted quads and IPv6 addresses inside an internal network, with an optional `/prefix` | `10.1.2.3`, `fe80::1`, `192.168.0.0/16` |
//! | `hostname_patterns` | host names matching a pattern (`*` stands for one or more characters, dots included) | `srv-db01.corp.example` for `srv-*.corp.example` |
//!
//! Token boundaries are respected: `110.0.0.5` is not `10.0.0.5`, a version string such as
//! `1.2.3.4.5` or `10.1.2.3.4` is no address, `v10.0.0.1` is not one either, while `'10.0.0.5'`
//! (a pattern literal), `10.0.0.5,`, `10.0.0.5:8080` and `[fe80::1]:443` are. `corp.example.org`
//! is not a subdomain of `corp.example`. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.5`) are
//! checked against the IPv4 networks as well. When matches overlap, an own-domain match wins over
//! an address, an IPv6 address over an IPv4 one, and an address over a host name.
//!
//! Indicator patterns are plain strings, so their literals are replaced inside the quotes and the
//! pattern stays syntactically valid: `[ipv4-addr:value = '10.1.2.3']` becomes
//! `[ipv4-addr:value = '198.18.x.y']`.
//!
//! # What is done with a match
//!
//! With [`SanitizeAction::Pseudonymize`] (the default) a match is replaced by a pseudonym that
//! is stable: the same value gives the same pseudonym with the same secret, in every object and
//! every publication, so relationships and correlation still line up; another secret gives other
//! pseudonyms. Pseudonyms are derived from [`pseudonym`] (HMAC-SHA-256):
//!
//! | match | pseudonym |
//! |---|---|
//! | e-mail address | `user-<12 hex>@pseudonymized.invalid` (kind `email`, address lower-cased) |
//! | `DOMAIN\user` | `user-<12 hex>` (kind `username`, `domain\user` lower-cased) |
//! | IPv4 address | an address in 198.18.0.0/15 (RFC 2544 benchmarking range) taken from 17 bits of the HMAC (kind `ipv4`); a `/prefix` is kept |
//! | IPv6 address | an address in 2001:db8::/32 (documentation prefix) whose 96 other bits come from the HMAC (kind `ipv6`), in RFC 5952 form; a `/prefix` is kept |
//! | host name | `host-<12 hex>.pseudonymized.invalid` (kind `hostname`, lower-cased) |
//!
//! With [`SanitizeAction::Remove`] a match inside free text is replaced by `[REDACTED]`; when a
//! whole string value is the match, the property (or the list item) is removed. A list or a
//! nested object that becomes empty through removals is removed as well (STIX forbids empty
//! lists).
//!
//! When removal takes away the identifying value of a Cyber-observable Object (see
//! [`IDENTIFYING_PROPERTIES`]), the SCO itself is dropped from the envelope, and every reference
//! to its id is removed from the other objects: the id is taken out of `*_refs` lists (a list
//! left empty is removed) and `*_ref` properties pointing to it are removed. Each of these is
//! recorded in [`Sanitized::changes`]. A reference is removed even where STIX requires it (the
//! `source_ref` of a relationship, the `object_refs` of a report...), because an SCO id derived
//! from an internal value reveals that value to anyone who can enumerate candidates. An object
//! left invalid in this way is then refused by validation with its own message, so nothing is
//! published that the source did not see.
//!
//! Independently of the action, `remove_properties` removes the named properties wherever they
//! occur in an object, at any depth.
//!
//! # SCO identifiers
//!
//! STIX 2.1 SCO ids are UUIDv5 over the canonical JSON of the object's ID-contributing
//! properties. When sanitization changes a contributing property of an SCO whose posted id was
//! the one computed from its posted properties, the id is computed again from the sanitized
//! properties and every reference to the old id in the envelope (in `*_ref` and `*_refs`
//! properties at any depth, `object_refs` included) is rewritten. This is repeated until no id
//! changes any more, because an SCO's id may depend on another SCO's id (an `email-message`
//! whose `from_ref` is an `email-addr`, a `file` in a `directory`, `network-traffic` between
//! addresses). The renames are returned in [`Sanitized::id_renames`]. An SCO whose posted id was
//! not the computed one (a random UUIDv4 id, or an id computed another way) keeps its id;
//! SDO and SRO ids never change. The types handled are listed in [`ID_CONTRIBUTING_PROPERTIES`];
//! `process` SCOs have no contributing properties (their ids are UUIDv4) and keep their ids.
//!
//! # Limitations
//!
//! * The deprecated `objects` map of `observed-data` is not treated specially: its strings are
//!   sanitized, but the local references inside it are neither removed nor rewritten.
//! * Properties named `*_ref`/`*_refs` are never searched, even custom ones holding text.
//! * IPv4 pseudonyms have 17 bits: two internal addresses may share a pseudonym (about one pair
//!   in every few hundred addresses), and two SCOs may then end up with the same id.
//! * Own domains match e-mail addresses and `DOMAIN\user` names only; to catch host names under
//!   an own domain, add a host name pattern such as `*.corp.example`.
//! * Matching is textual: an address written in an unusual notation (hexadecimal, integer,
//!   zero-padded IPv6 with zone identifiers glued to letters...) is not recognized.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use cairn_stix::canonical::sco_uuid_v5;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The most entries each list of [`SanitizationRules`] may hold.
pub const MAX_RULE_ENTRIES: usize = 1_000;

/// What replaces a match in free text under [`SanitizeAction::Remove`].
pub const REDACTED: &str = "[REDACTED]";

/// The domain of e-mail and host name pseudonyms (`.invalid` never resolves, RFC 6761).
pub const PSEUDONYM_DOMAIN: &str = "pseudonymized.invalid";

/// The internal networks used when [`SanitizationRules::internal_networks`] is `None`:
/// RFC 1918 private networks, loopback, link-local, and their IPv6 counterparts (loopback,
/// link-local, unique local).
pub const DEFAULT_INTERNAL_NETWORKS: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
];

/// Properties STIX requires on every object; they can be neither searched nor removed.
pub const REQUIRED_PROPERTIES: &[&str] = &["id", "type", "spec_version", "created", "modified"];

/// Rule name of [`SanitizationRules::own_domains`], as found in [`Change::rule`].
pub const RULE_OWN_DOMAINS: &str = "own_domains";
/// Rule name of [`SanitizationRules::internal_networks`], as found in [`Change::rule`].
pub const RULE_INTERNAL_NETWORKS: &str = "internal_networks";
/// Rule name of [`SanitizationRules::hostname_patterns`], as found in [`Change::rule`].
pub const RULE_HOSTNAME_PATTERNS: &str = "hostname_patterns";
/// Rule name of [`SanitizationRules::remove_properties`], as found in [`Change::rule`].
pub const RULE_REMOVE_PROPERTIES: &str = "remove_properties";

/// The ID-contributing properties of the SCO types whose ids [`sanitize_objects`] recomputes
/// (STIX 2.1, section 6). When `hashes` contributes, only one hash takes part: MD5, else SHA-1,
/// else SHA-256, else SHA-512, else the first one listed.
pub const ID_CONTRIBUTING_PROPERTIES: &[(&str, &[&str])] = &[
    ("artifact", &["hashes", "payload_bin"]),
    ("autonomous-system", &["number"]),
    ("directory", &["path"]),
    ("domain-name", &["value"]),
    ("email-addr", &["value"]),
    ("email-message", &["from_ref", "subject", "body"]),
    (
        "file",
        &["hashes", "name", "extensions", "parent_directory_ref"],
    ),
    ("ipv4-addr", &["value"]),
    ("ipv6-addr", &["value"]),
    ("mac-addr", &["value"]),
    ("mutex", &["name"]),
    (
        "network-traffic",
        &[
            "start",
            "end",
            "src_ref",
            "dst_ref",
            "src_port",
            "dst_port",
            "protocols",
            "extensions",
        ],
    ),
    ("software", &["name", "cpe", "swid", "vendor", "version"]),
    ("url", &["value"]),
    (
        "user-account",
        &["account_type", "user_id", "account_login"],
    ),
    ("windows-registry-key", &["key", "values"]),
    ("x509-certificate", &["hashes", "serial_number"]),
];

/// The properties that identify an SCO: when [`SanitizeAction::Remove`] removes one of them
/// (because its whole value matched a rule), the SCO is dropped from the envelope. A `file`
/// losing its `name` is dropped only when it has no `hashes`.
pub const IDENTIFYING_PROPERTIES: &[(&str, &[&str])] = &[
    ("directory", &["path"]),
    ("domain-name", &["value"]),
    ("email-addr", &["value"]),
    ("file", &["name"]),
    ("ipv4-addr", &["value"]),
    ("ipv6-addr", &["value"]),
    ("mac-addr", &["value"]),
    ("mutex", &["name"]),
    ("software", &["name"]),
    ("url", &["value"]),
    ("user-account", &["user_id", "account_login"]),
];

/// What to do with a matched value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SanitizeAction {
    /// Remove it: `[REDACTED]` in free text; the property or list item when it is the whole
    /// value; the whole SCO when it is the SCO's identifying value.
    Remove,
    /// Replace it by a stable pseudonym (see [`pseudonym`]).
    #[default]
    Pseudonymize,
}

/// The sanitization rules of an organization or of a community.
///
/// The JSON form has the field names below; a missing field takes its default, an unknown field
/// is refused. The default rules pseudonymize addresses of the [`DEFAULT_INTERNAL_NETWORKS`]
/// and nothing else.
///
/// ```json
/// {
///   "own_domains": ["corp.example"],
///   "internal_networks": ["10.0.0.0/8", "2001:db8:1::/48"],
///   "hostname_patterns": ["*.corp.example", "srv-*.example.net"],
///   "remove_properties": ["x_internal_ticket"],
///   "action": "pseudonymize"
/// }
/// ```
///
/// Rules are checked with [`validate`](Self::validate) when they are saved;
/// [`sanitize_objects`] ignores entries that would not pass.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SanitizationRules {
    /// The organization's own DNS domains: e-mail addresses and user names at these domains (or
    /// their subdomains) are matched, e.g. `alice@corp.example`, `alice@mail.corp.example`,
    /// and Windows-style `CORP\alice` where CORP is the first label of an own domain
    /// (case-insensitive). Domains are compared lower-cased, without a trailing dot.
    pub own_domains: Vec<String>,
    /// Internal networks as CIDR blocks (IPv4 and IPv6; a bare address is a block of one).
    /// `None` (or JSON `null`, or the field left out) means the defaults:
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 127.0.0.0/8, 169.254.0.0/16, ::1/128,
    /// fe80::/10, fc00::/7 ([`DEFAULT_INTERNAL_NETWORKS`]). `Some(vec![])` (JSON `[]`) means no
    /// network rule.
    pub internal_networks: Option<Vec<String>>,
    /// Host name patterns: `*` matches one or more characters of a host name (letters, digits,
    /// `-`, and dots, so it may span labels), e.g. `*.corp.example`, `srv-*.example.net`.
    /// Matched case-insensitively against the whole host names found in text.
    pub hostname_patterns: Vec<String>,
    /// Property names removed wherever they occur in an object (at any depth), e.g.
    /// `x_internal_ticket`. Applies whatever the [`action`](Self::action).
    pub remove_properties: Vec<String>,
    /// What to do with matched e-mail addresses, user names, addresses and host names.
    pub action: SanitizeAction,
}

/// Why one entry of [`SanitizationRules`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleError {
    /// The list and position, e.g. `internal_networks[2]`; the list alone when it is too long.
    pub rule: String,
    /// The refused value (the number of entries when a list is too long).
    pub value: String,
    /// Why, in words.
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?}): {}", self.rule, self.value, self.reason)
    }
}

impl SanitizationRules {
    /// Checks every entry; returns all the problems found, in order.
    ///
    /// Refused are:
    /// * `own_domains`: empty entries, and anything that is not an ASCII DNS name (labels of
    ///   1 to 63 letters, digits and hyphens, not starting or ending with a hyphen, 253
    ///   characters at most, a trailing dot allowed, the last label not all digits);
    /// * `internal_networks`: entries that are not an IPv4 or IPv6 address with an optional
    ///   `/prefix`, prefixes longer than the address (32 or 128), blocks with host bits set;
    /// * `hostname_patterns`: empty patterns, characters other than letters, digits, `-`, `.`
    ///   and `*`, patterns without any letter or digit (such as `*`), more than 253 characters;
    /// * `remove_properties`: empty names, names other than letters, digits, `_` and `-`
    ///   (250 at most), and the properties STIX requires on every object (`id`, `type`,
    ///   `spec_version`, `created`, `modified`);
    /// * any list of more than [`MAX_RULE_ENTRIES`] entries.
    pub fn validate(&self) -> Result<(), Vec<RuleError>> {
        let mut errors = Vec::new();
        check_list(&mut errors, RULE_OWN_DOMAINS, &self.own_domains, |d| {
            normalize_domain(d).map(|_| ())
        });
        if let Some(networks) = &self.internal_networks {
            check_list(&mut errors, RULE_INTERNAL_NETWORKS, networks, |n| {
                parse_network(n).map(|_| ())
            });
        }
        check_list(
            &mut errors,
            RULE_HOSTNAME_PATTERNS,
            &self.hostname_patterns,
            check_pattern,
        );
        check_list(
            &mut errors,
            RULE_REMOVE_PROPERTIES,
            &self.remove_properties,
            check_property_name,
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The rules in force when a member organization publishes into a community: the union of
    /// the organization's rules and the community's.
    ///
    /// * Each list is the union of both, the organization's entries first, without duplicates
    ///   (domains and patterns compared case-insensitively, networks by the block they denote),
    ///   each entry keeping its first spelling.
    /// * Networks: `None` when both sides are `None` (the defaults); otherwise the union of both
    ///   lists, a `None` side counting as the [`DEFAULT_INTERNAL_NETWORKS`].
    /// * Action: [`SanitizeAction::Remove`] when either side removes.
    pub fn combine(org: &SanitizationRules, community: &SanitizationRules) -> SanitizationRules {
        let defaults = || {
            DEFAULT_INTERNAL_NETWORKS
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>()
        };
        let internal_networks = match (&org.internal_networks, &community.internal_networks) {
            (None, None) => None,
            (a, b) => {
                let a = a.clone().unwrap_or_else(defaults);
                let b = b.clone().unwrap_or_else(defaults);
                Some(union(&a, &b, network_key))
            }
        };
        let action =
            if org.action == SanitizeAction::Remove || community.action == SanitizeAction::Remove {
                SanitizeAction::Remove
            } else {
                SanitizeAction::Pseudonymize
            };
        SanitizationRules {
            own_domains: union(&org.own_domains, &community.own_domains, |d| {
                d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase()
            }),
            internal_networks,
            hostname_patterns: union(&org.hostname_patterns, &community.hostname_patterns, |p| {
                p.to_ascii_lowercase()
            }),
            remove_properties: union(&org.remove_properties, &community.remove_properties, |p| {
                p.to_owned()
            }),
            action,
        }
    }
}

fn check_list(
    errors: &mut Vec<RuleError>,
    name: &str,
    entries: &[String],
    check: impl Fn(&str) -> Result<(), String>,
) {
    if entries.len() > MAX_RULE_ENTRIES {
        errors.push(RuleError {
            rule: name.to_owned(),
            value: entries.len().to_string(),
            reason: format!("at most {MAX_RULE_ENTRIES} entries are allowed"),
        });
        return;
    }
    for (i, entry) in entries.iter().enumerate() {
        if let Err(reason) = check(entry) {
            errors.push(RuleError {
                rule: format!("{name}[{i}]"),
                value: entry.clone(),
                reason,
            });
        }
    }
}

fn union(a: &[String], b: &[String], key: impl Fn(&str) -> String) -> Vec<String> {
    let mut seen = HashSet::new();
    a.iter()
        .chain(b)
        .filter(|s| seen.insert(key(s)))
        .cloned()
        .collect()
}

fn network_key(s: &str) -> String {
    match parse_network(s) {
        Ok(net) => net.to_string(),
        Err(_) => s.to_owned(),
    }
}

/// A domain, lower-cased and without its trailing dot, or why it is not one.
fn normalize_domain(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let d = raw.strip_suffix('.').unwrap_or(raw);
    if d.is_empty() {
        return Err("is not a DNS name".to_owned());
    }
    if !d.is_ascii() {
        return Err(
            "must be an ASCII DNS name (write internationalized names in their xn-- form)"
                .to_owned(),
        );
    }
    if d.len() > 253 {
        return Err("is longer than 253 characters".to_owned());
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Err("has an empty label".to_owned());
        }
        if label.len() > 63 {
            return Err("has a label longer than 63 characters".to_owned());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("may contain only letters, digits, hyphens and dots".to_owned());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has a label starting or ending with a hyphen".to_owned());
        }
    }
    if d.rsplit('.')
        .next()
        .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("is not a DNS name (its last label is all digits)".to_owned());
    }
    Ok(d.to_ascii_lowercase())
}

fn check_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if p.len() > 253 {
        return Err("is longer than 253 characters".to_owned());
    }
    if !p
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'*'))
    {
        return Err("may contain only letters, digits, `-`, `.` and `*`".to_owned());
    }
    if !p.bytes().any(|b| b.is_ascii_alphanumeric()) {
        return Err(
            "must contain at least one letter or digit (it would match every word)".to_owned(),
        );
    }
    Ok(())
}

fn check_property_name(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if REQUIRED_PROPERTIES.contains(&p) {
        return Err("required by STIX, cannot be removed".to_owned());
    }
    if p.len() > 250
        || !p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(
            "may contain only ASCII letters, digits, `_` and `-` (at most 250 characters)"
                .to_owned(),
        );
    }
    Ok(())
}

/// An IP network: base address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    V4(u32, u8),
    V6(u128, u8),
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Net::V4(a, p) => write!(f, "{}/{p}", Ipv4Addr::from(a)),
            Net::V6(a, p) => write!(f, "{}/{p}", Ipv6Addr::from(a)),
        }
    }
}

fn mask_v4(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask_v6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// Parses `addr[/prefix]`; refuses host bits (the error then names the block meant).
fn parse_network(raw: &str) -> Result<Net, String> {
    let (net, exact) = parse_network_lenient(raw)?;
    if net != exact {
        return Err(format!("has host bits set (did you mean {net}?)"));
    }
    Ok(net)
}

/// Parses `addr[/prefix]`, returning the network with host bits cleared and the one as written.
fn parse_network_lenient(raw: &str) -> Result<(Net, Net), String> {
    if raw.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let (addr, prefix) = match raw.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (raw, None),
    };
    let prefix = match prefix {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => Some(
            p.parse::<u8>()
                .map_err(|_| "has an invalid prefix length".to_owned())?,
        ),
        Some(_) => return Err("has an invalid prefix length".to_owned()),
    };
    if let Ok(a) = addr.parse::<Ipv4Addr>() {
        let p = prefix.unwrap_or(32);
        if p > 32 {
            return Err(format!(
                "prefix /{p} is too long for an IPv4 network (at most /32)"
            ));
        }
        let a = u32::from(a);
        return Ok((Net::V4(a & mask_v4(p), p), Net::V4(a, p)));
    }
    if let Ok(a) = addr.parse::<Ipv6Addr>() {
        let p = prefix.unwrap_or(128);
        if p > 128 {
            return Err(format!(
                "prefix /{p} is too long for an IPv6 network (at most /128)"
            ));
        }
        let a = u128::from(a);
        return Ok((Net::V6(a & mask_v6(p), p), Net::V6(a, p)));
    }
    Err("is not an IPv4 or IPv6 address or CIDR block".to_owned())
}

/// The hexadecimal HMAC-SHA-256, keyed with `secret`, of `kind`, a zero byte and the normalized
/// `value`. Sanitization builds its pseudonyms from it (see the module documentation).
///
/// Kinds and their normalization:
/// * `email`, `username`: lower-cased (a user name is written `domain\user`);
/// * `hostname`: lower-cased, without a trailing dot;
/// * `ipv4`, `ipv6`: the address in its canonical form (`10.0.0.5`, RFC 5952 for IPv6), without
///   prefix, when it parses; as given otherwise;
/// * any other kind: as given.
///
/// ```
/// use cairn_core::sanitize::pseudonym;
/// let a = pseudonym(b"secret", "email", "Alice@Corp.Example");
/// assert_eq!(a, pseudonym(b"secret", "email", "alice@corp.example"));
/// assert_ne!(a, pseudonym(b"other secret", "email", "alice@corp.example"));
/// assert_eq!(a.len(), 64);
/// ```
pub fn pseudonym(secret: &[u8], kind: &str, value: &str) -> String {
    hex::encode(digest(secret, kind, &normalize(kind, value)))
}

fn normalize(kind: &str, value: &str) -> String {
    match kind {
        "email" | "username" => value.to_lowercase(),
        "hostname" => value.strip_suffix('.').unwrap_or(value).to_lowercase(),
        "ipv4" => value
            .parse::<Ipv4Addr>()
            .map_or_else(|_| value.to_owned(), |a| a.to_string()),
        "ipv6" => value
            .parse::<Ipv6Addr>()
            .map_or_else(|_| value.to_owned(), |a| a.to_string()),
        _ => value.to_owned(),
    }
}

fn digest(secret: &[u8], kind: &str, normalized: &str) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(kind.as_bytes());
    mac.update(&[0]);
    mac.update(normalized.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

fn short(secret: &[u8], kind: &str, normalized: &str) -> String {
    hex::encode(&digest(secret, kind, normalized)[..6])
}

fn pseudo_ipv4(secret: &[u8], addr: Ipv4Addr) -> Ipv4Addr {
    let h = digest(secret, "ipv4", &addr.to_string());
    // 198.18.0.0/15 leaves 17 bits: the top 17 bits of the HMAC.
    let bits = u32::from_be_bytes([0, h[0], h[1], h[2]]) >> 7;
    Ipv4Addr::from(0xC612_0000 | bits)
}

fn pseudo_ipv6(secret: &[u8], addr: Ipv6Addr) -> Ipv6Addr {
    let h = digest(secret, "ipv6", &addr.to_string());
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    b[4..].copy_from_slice(&h[..12]);
    Ipv6Addr::from(b)
}

/// One modification made by [`sanitize_objects`].
///
/// `before` holds the original, sensitive text: changes are meant for the publishing
/// organization (a preview, its own audit), never for the recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Position of the object in the envelope as posted.
    pub object_index: usize,
    /// The object's id as posted (empty when it had none).
    pub object_id: String,
    /// Where, in the object as posted: `description`, `extensions.x.values[2]`; empty when the
    /// whole object was dropped.
    pub path: String,
    /// The rule that applied: `own_domains`, `internal_networks`, `hostname_patterns` or
    /// `remove_properties` (see the `RULE_*` constants).
    pub rule: &'static str,
    /// The matched text; the removed value (as JSON unless it is a string); the id of a
    /// dropped object or of a removed reference.
    pub before: String,
    /// The replacement; `None` when something was removed.
    pub after: Option<String>,
}

/// The result of [`sanitize_objects`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sanitized {
    /// The sanitized objects, in the posted order, without the dropped SCOs.
    pub objects: Vec<Value>,
    /// Every modification: first the removals and replacements, object by object, then the
    /// dropped SCOs and the references removed with them.
    pub changes: Vec<Change>,
    /// SCO ids recomputed, as `(posted id, new id)`, in the order the SCOs were posted.
    pub id_renames: Vec<(String, String)>,
    /// The posted ids of the SCOs dropped because their identifying value was removed.
    pub dropped: Vec<String>,
}

/// Sanitizes an envelope of STIX objects according to `rules`, keying pseudonyms with `secret`.
///
/// The whole envelope is handled at once because SCO ids may change and references to them must
/// follow (see the module documentation). Items that are not JSON objects are passed through
/// unchanged. Rule entries that [`SanitizationRules::validate`] would refuse are ignored (a
/// network with host bits set is used as the block it belongs to).
///
/// The same objects, rules and secret always give the same result.
pub fn sanitize_objects(objects: &[Value], rules: &SanitizationRules, secret: &[u8]) -> Sanitized {
    let matcher = Matcher::new(rules, secret);
    let mut out: Vec<Value> = objects.to_vec();
    let mut changes = Vec::new();
    let deterministic: Vec<bool> = objects.iter().map(has_computed_id).collect();
    let posted_ids: Vec<String> = objects.iter().map(|o| id_of(o).to_owned()).collect();

    // 1. Property removal and string matching, object by object.
    let mut drop_rule: Vec<Option<&'static str>> = vec![None; out.len()];
    for (i, obj) in out.iter_mut().enumerate() {
        let Value::Object(map) = obj else { continue };
        let mut walker = Walker {
            matcher: &matcher,
            object_index: i,
            object_id: &posted_ids[i],
            changes: &mut changes,
            removed_top: Vec::new(),
        };
        walker.walk_map(map, "", true);
        let removed_top = std::mem::take(&mut walker.removed_top);
        drop_rule[i] = identifying_removal(map, &removed_top);
    }

    // 2. SCOs whose identifying value was removed go, and so do references to them.
    let mut dropped_ids: HashMap<String, &'static str> = HashMap::new();
    let mut dropped = Vec::new();
    for (i, rule) in drop_rule.iter().enumerate() {
        if let Some(rule) = rule {
            changes.push(Change {
                object_index: i,
                object_id: posted_ids[i].clone(),
                path: String::new(),
                rule,
                before: posted_ids[i].clone(),
                after: None,
            });
            if !posted_ids[i].is_empty() {
                dropped_ids.insert(posted_ids[i].clone(), rule);
                dropped.push(posted_ids[i].clone());
            }
        }
    }
    if !dropped_ids.is_empty() {
        for (i, obj) in out.iter_mut().enumerate() {
            if drop_rule[i].is_some() {
                continue;
            }
            if let Value::Object(map) = obj {
                let mut removed = Vec::new();
                strip_refs(map, "", &dropped_ids, &mut removed);
                changes.extend(removed.into_iter().map(|(path, rule, id)| Change {
                    object_index: i,
                    object_id: posted_ids[i].clone(),
                    path,
                    rule,
                    before: id,
                    after: None,
                }));
            }
        }
    }

    // 3. Recompute the ids of SCOs whose contributing properties changed, until stable.
    let candidates: Vec<usize> = (0..out.len())
        .filter(|&i| deterministic[i] && drop_rule[i].is_none())
        .collect();
    for _ in 0..=candidates.len() {
        let mut renames: HashMap<String, String> = HashMap::new();
        for &i in &candidates {
            let Some(map) = out[i].as_object() else {
                continue;
            };
            let Some(new_id) = computed_id(map) else {
                continue;
            };
            let old_id = id_of(&out[i]).to_owned();
            if new_id != old_id {
                out[i]["id"] = Value::String(new_id.clone());
                renames.insert(old_id, new_id);
            }
        }
        if renames.is_empty() {
            break;
        }
        for (i, obj) in out.iter_mut().enumerate() {
            if drop_rule[i].is_none() {
                rewrite_refs(obj, &renames);
            }
        }
    }
    let id_renames = candidates
        .iter()
        .filter_map(|&i| {
            let now = id_of(&out[i]);
            (now != posted_ids[i]).then(|| (posted_ids[i].clone(), now.to_owned()))
        })
        .collect();

    let objects = out
        .into_iter()
        .zip(&drop_rule)
        .filter(|(_, d)| d.is_none())
        .map(|(o, _)| o)
        .collect();
    Sanitized {
        objects,
        changes,
        id_renames,
        dropped,
    }
}

fn id_of(obj: &Value) -> &str {
    obj.get("id").and_then(Value::as_str).unwrap_or("")
}

fn is_ref_key(key: &str) -> bool {
    key.ends_with("_ref") || key.ends_with("_refs")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The ID-contributing properties of an SCO of a handled type, as a JSON object; `None` for
/// other types and when none is present.
fn contributing(map: &Map<String, Value>) -> Option<Value> {
    let ty = map.get("type")?.as_str()?;
    let props = ID_CONTRIBUTING_PROPERTIES
        .iter()
        .find(|(t, _)| *t == ty)
        .map(|(_, p)| *p)?;
    let mut out = Map::new();
    for &p in props {
        let Some(v) = map.get(p) else { continue };
        if p == "hashes" {
            if let Some((k, h)) = chosen_hash(v) {
                let mut one = Map::new();
                one.insert(k, h);
                out.insert(p.to_owned(), Value::Object(one));
            }
        } else {
            out.insert(p.to_owned(), v.clone());
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

fn chosen_hash(hashes: &Value) -> Option<(String, Value)> {
    let map = hashes.as_object()?;
    ["MD5", "SHA-1", "SHA-256", "SHA-512"]
        .iter()
        .find_map(|k| map.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .or_else(|| map.iter().next().map(|(k, v)| (k.clone(), v.clone())))
}

/// The UUIDv5 id of an SCO computed from its current properties.
fn computed_id(map: &Map<String, Value>) -> Option<String> {
    let ty = map.get("type")?.as_str()?;
    let c = contributing(map)?;
    Some(format!("{ty}--{}", sco_uuid_v5(&c)))
}

/// Whether the posted id is the one STIX computes from the posted properties.
fn has_computed_id(obj: &Value) -> bool {
    let Some(map) = obj.as_object() else {
        return false;
    };
    let posted = id_of(obj);
    !posted.is_empty() && computed_id(map).as_deref() == Some(posted)
}

/// The rule that removed an identifying property of this SCO, if any.
fn identifying_removal(
    map: &Map<String, Value>,
    removed_top: &[(String, &'static str)],
) -> Option<&'static str> {
    let ty = map.get("type")?.as_str()?;
    let props = IDENTIFYING_PROPERTIES
        .iter()
        .find(|(t, _)| *t == ty)
        .map(|(_, p)| *p)?;
    if ty == "file" && map.contains_key("hashes") {
        return None;
    }
    removed_top
        .iter()
        .find(|(k, _)| props.contains(&k.as_str()))
        .map(|(_, rule)| *rule)
}

/// Removes references to dropped ids, at any depth; reports `(path, rule, id)` of each.
fn strip_refs(
    map: &mut Map<String, Value>,
    path: &str,
    dropped: &HashMap<String, &'static str>,
    removed: &mut Vec<(String, &'static str, String)>,
) {
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let p = join(path, &key);
        if key.ends_with("_ref") {
            let hit = map
                .get(&key)
                .and_then(Value::as_str)
                .and_then(|s| dropped.get(s).map(|r| (s.to_owned(), *r)));
            if let Some((id, rule)) = hit {
                map.shift_remove(&key);
                removed.push((p, rule, id));
            }
        } else if key.ends_with("_refs") {
            let Some(Value::Array(items)) = map.get_mut(&key) else {
                continue;
            };
            let before = removed.len();
            let mut index = 0;
            items.retain(|item| {
                let hit = item
                    .as_str()
                    .and_then(|s| dropped.get(s).map(|r| (s.to_owned(), *r)));
                let keep = match hit {
                    Some((id, rule)) => {
                        removed.push((format!("{p}[{index}]"), rule, id));
                        false
                    }
                    None => true,
                };
                index += 1;
                keep
            });
            if items.is_empty() && removed.len() > before {
                map.shift_remove(&key);
            }
        } else if let Some(v) = map.get_mut(&key) {
            strip_refs_value(v, &p, dropped, removed);
        }
    }
}

fn strip_refs_value(
    v: &mut Value,
    path: &str,
    dropped: &HashMap<String, &'static str>,
    removed: &mut Vec<(String, &'static str, String)>,
) {
    match v {
        Value::Object(m) => strip_refs(m, path, dropped, removed),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                strip_refs_value(item, &format!("{path}[{i}]"), dropped, removed);
            }
        }
        _ => {}
    }
}

/// Rewrites, at any depth, `*_ref` values and `*_refs` items found in `renames`.
fn rewrite_refs(v: &mut Value, renames: &HashMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (key, child) in m.iter_mut() {
                if key.ends_with("_ref") {
                    rename(child, renames);
                } else if key.ends_with("_refs") {
                    if let Value::Array(items) = child {
                        items.iter_mut().for_each(|item| rename(item, renames));
                    }
                } else {
                    rewrite_refs(child, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rewrite_refs(i, renames)),
        _ => {}
    }
}

fn rename(v: &mut Value, renames: &HashMap<String, String>) {
    if let Some(new) = v.as_str().and_then(|s| renames.get(s)) {
        *v = Value::String(new.clone());
    }
}

/// Walks one object, removing properties and replacing matches.
struct Walker<'a> {
    matcher: &'a Matcher<'a>,
    object_index: usize,
    object_id: &'a str,
    changes: &'a mut Vec<Change>,
    /// Top-level properties removed because their whole value matched.
    removed_top: Vec<(String, &'static str)>,
}

impl Walker<'_> {
    fn record(&mut self, path: &str, rule: &'static str, before: String, after: Option<String>) {
        self.changes.push(Change {
            object_index: self.object_index,
            object_id: self.object_id.to_owned(),
            path: path.to_owned(),
            rule,
            before,
            after,
        });
    }

    /// Returns the rule of the first removal made in `map`, if any.
    fn walk_map(
        &mut self,
        map: &mut Map<String, Value>,
        path: &str,
        top: bool,
    ) -> Option<&'static str> {
        let mut first_removal = None;
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let required = top && REQUIRED_PROPERTIES.contains(&key.as_str());
            let child_path = join(path, &key);
            if !required && self.matcher.remove_properties.contains(key.as_str()) {
                if let Some(v) = map.shift_remove(&key) {
                    let before = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    self.record(&child_path, RULE_REMOVE_PROPERTIES, before, None);
                    first_removal.get_or_insert(RULE_REMOVE_PROPERTIES);
                }
                continue;
            }
            if required || is_ref_key(&key) {
                continue;
            }
            let Some(v) = map.get_mut(&key) else { continue };
            if let Some(rule) = self.visit(v, &child_path) {
                map.shift_remove(&key);
                first_removal.get_or_insert(rule);
                if top {
                    self.removed_top.push((key, rule));
                }
            }
        }
        first_removal
    }

    /// Sanitizes `v`; returns the rule when `v` must be removed by its parent.
    fn visit(&mut self, v: &mut Value, path: &str) -> Option<&'static str> {
        match v {
            Value::String(s) => {
                let hits = self.matcher.scan(s);
                if hits.is_empty() {
                    return None;
                }
                if self.matcher.action == SanitizeAction::Remove
                    && hits.len() == 1
                    && hits[0].start == 0
                    && hits[0].end == s.len()
                {
                    let rule = hits[0].rule;
                    self.record(path, rule, s.clone(), None);
                    return Some(rule);
                }
                let mut out = String::with_capacity(s.len());
                let mut last = 0;
                for h in &hits {
                    out.push_str(&s[last..h.start]);
                    out.push_str(&h.replacement);
                    last = h.end;
                }
                out.push_str(&s[last..]);
                for h in hits {
                    let before = s[h.start..h.end].to_owned();
                    self.record(path, h.rule, before, Some(h.replacement));
                }
                *s = out;
                None
            }
            Value::Array(items) => {
                let mut first_removal = None;
                let mut removed = Vec::new();
                for (i, item) in items.iter_mut().enumerate() {
                    if let Some(rule) = self.visit(item, &format!("{path}[{i}]")) {
                        removed.push(i);
                        first_removal.get_or_insert(rule);
                    }
                }
                for &i in removed.iter().rev() {
                    items.remove(i);
                }
                if items.is_empty() {
                    first_removal
                } else {
                    None
                }
            }
            Value::Object(m) => {
                let rule = self.walk_map(m, path, false);
                if m.is_empty() {
                    rule
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// One match in a string: byte span, rule and replacement text.
#[derive(Debug)]
struct Hit {
    start: usize,
    end: usize,
    rule: &'static str,
    replacement: String,
}

/// The rules, compiled for matching.
struct Matcher<'a> {
    secret: &'a [u8],
    action: SanitizeAction,
    domains: Vec<String>,
    netbios: HashSet<String>,
    v4: Vec<(u32, u8)>,
    v6: Vec<(u128, u8)>,
    patterns: Vec<Vec<Glob>>,
    remove_properties: HashSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Glob {
    Byte(u8),
    AnyOne,
    AnyRun,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

fn is_local_part_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-!#$&*=?^`{|}~".contains(&b)
}

fn is_user_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'$')
}

fn is_v6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

impl<'a> Matcher<'a> {
    fn new(rules: &SanitizationRules, secret: &'a [u8]) -> Self {
        let domains: Vec<String> = rules
            .own_domains
            .iter()
            .filter_map(|d| normalize_domain(d).ok())
            .collect();
        let netbios = domains
            .iter()
            .filter_map(|d| d.split('.').next().map(str::to_owned))
            .collect();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let networks: Vec<&str> = match &rules.internal_networks {
            None => DEFAULT_INTERNAL_NETWORKS.to_vec(),
            Some(list) => list.iter().map(String::as_str).collect(),
        };
        for n in networks {
            match parse_network_lenient(n) {
                Ok((Net::V4(a, p), _)) => v4.push((a, p)),
                Ok((Net::V6(a, p), _)) => v6.push((a, p)),
                Err(_) => {}
            }
        }
        let patterns = rules
            .hostname_patterns
            .iter()
            .filter(|p| check_pattern(p).is_ok())
            .map(|p| {
                let mut g = Vec::with_capacity(p.len() + 2);
                for b in p.bytes() {
                    if b == b'*' {
                        g.extend([Glob::AnyOne, Glob::AnyRun]);
                    } else {
                        g.push(Glob::Byte(b.to_ascii_lowercase()));
                    }
                }
                g
            })
            .collect();
        let remove_properties = rules
            .remove_properties
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect();
        Matcher {
            secret,
            action: rules.action,
            domains,
            netbios,
            v4,
            v6,
            patterns,
            remove_properties,
        }
    }

    fn replacement(&self, pseudonym: impl FnOnce() -> String) -> String {
        match self.action {
            SanitizeAction::Remove => REDACTED.to_owned(),
            SanitizeAction::Pseudonymize => pseudonym(),
        }
    }

    /// The non-overlapping matches in `s`, in order.
    fn scan(&self, s: &str) -> Vec<Hit> {
        let mut found = Vec::new();
        // Priority order: own domains, IPv6, IPv4, host names.
        if !self.domains.is_empty() {
            self.scan_emails(s, &mut found);
            self.scan_usernames(s, &mut found);
        }
        if !self.v6.is_empty() || !self.v4.is_empty() {
            self.scan_ipv6(s, &mut found);
        }
        if !self.v4.is_empty() {
            self.scan_ipv4(s, &mut found);
        }
        if !self.patterns.is_empty() {
            self.scan_hostnames(s, &mut found);
        }
        // Accepted hits are disjoint, so the one starting last before a new hit's end is the
        // only one that can overlap it.
        let mut accepted: BTreeMap<usize, Hit> = BTreeMap::new();
        for h in found {
            let overlaps = accepted
                .range(..h.end)
                .next_back()
                .is_some_and(|(_, a)| a.end > h.start);
            if !overlaps {
                accepted.insert(h.start, h);
            }
        }
        accepted.into_values().collect()
    }

    fn own_domain(&self, domain: &str) -> bool {
        self.domains.iter().any(|own| {
            domain == own
                || (domain.len() > own.len()
                    && domain.ends_with(own.as_str())
                    && domain.as_bytes()[domain.len() - own.len() - 1] == b'.')
        })
    }

    fn scan_emails(&self, s: &str, found: &mut Vec<Hit>) {
        let b = s.as_bytes();
        for at in (0..b.len()).filter(|&i| b[i] == b'@') {
            let mut start = at;
            while start > 0 && is_local_part_byte(b[start - 1]) {
                start -= 1;
            }
            while start < at && b[start] == b'.' {
                start += 1;
            }
            let mut end = at + 1;
            while end < b.len() && is_host_byte(b[end]) {
                end += 1;
            }
            while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
                end -= 1;
            }
            if start == at || end == at + 1 {
                continue;
            }
            let domain = s[at + 1..end].to_ascii_lowercase();
            if !self.own_domain(&domain) {
                continue;
            }
            let normalized = s[start..end].to_lowercase();
            let replacement = self.replacement(|| {
                format!(
                    "user-{}@{PSEUDONYM_DOMAIN}",
                    short(self.secret, "email", &normalized)
                )
            });
            found.push(Hit {
                start,
                end,
                rule: RULE_OWN_DOMAINS,
                replacement,
            });
        }
    }

    fn scan_usernames(&self, s: &str, found: &mut Vec<Hit>) {
        let b = s.as_bytes();
        for bs in 0..b.len() {
            // The first backslash of `DOMAIN\user` or of `DOMAIN\\user`.
            if b[bs] != b'\\' || bs == 0 || b[bs - 1] == b'\\' {
                continue;
            }
            let mut start = bs;
            while start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'-') {
                start -= 1;
            }
            if start == bs || (start > 0 && matches!(b[start - 1], b'_' | b'.' | b'\\')) {
                continue;
            }
            let label = s[start..bs].to_ascii_lowercase();
            if !self.netbios.contains(&label) {
                continue;
            }
            let user_start = if b.get(bs + 1) == Some(&b'\\') {
                bs + 2
            } else {
                bs + 1
            };
            let mut end = user_start;
            while end < b.len() && is_user_byte(b[end]) {
                end += 1;
            }
            while end > user_start && b[end - 1] == b'.' {
                end -= 1;
            }
            if end == user_start {
                continue;
            }
            let normalized = format!("{label}\\{}", s[user_start..end].to_lowercase());
            let replacement = self
                .replacement(|| format!("user-{}", short(self.secret, "username", &normalized)));
            found.push(Hit {
                start,
                end,
                rule: RULE_OWN_DOMAINS,
                replacement,
            });
        }
    }

    fn v4_internal(&self, a: Ipv4Addr) -> bool {
        let a = u32::from(a);
        self.v4.iter().any(|&(n, p)| (a ^ n) & mask_v4(p) == 0)
    }

    fn v6_internal(&self, a: Ipv6Addr) -> bool {
        if let Some(v4) = a.to_ipv4_mapped() {
            if self.v4_internal(v4) {
                return true;
            }
        }
        let a = u128::from(a);
        self.v6.iter().any(|&(n, p)| (a ^ n) & mask_v6(p) == 0)
    }

    fn scan_ipv4(&self, s: &str, found: &mut Vec<Hit>) {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if !b[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            let mut end = i;
            while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'.') {
                end += 1;
            }
            i = end;
            if start > 0 && (is_word(b[start - 1]) || b[start - 1] == b'.') {
                continue;
            }
            while b[end - 1] == b'.' {
                end -= 1;
            }
            if end < b.len() && is_word(b[end]) {
                continue;
            }
            let Some(addr) = parse_dotted_quad(&s[start..end]) else {
                continue;
            };
            if !self.v4_internal(addr) {
                continue;
            }
            let (full_end, prefix) = prefix_after(b, end, 32);
            let replacement = self.replacement(|| {
                let p = pseudo_ipv4(self.secret, addr);
                match prefix {
                    Some(n) => format!("{p}/{n}"),
                    None => p.to_string(),
                }
            });
            found.push(Hit {
                start,
                end: full_end,
                rule: RULE_INTERNAL_NETWORKS,
                replacement,
            });
        }
    }

    fn scan_ipv6(&self, s: &str, found: &mut Vec<Hit>) {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if !is_v6_byte(b[i]) {
                i += 1;
                continue;
            }
            let mut start = i;
            let mut end = i;
            while end < b.len() && is_v6_byte(b[end]) {
                end += 1;
            }
            i = end;
            if b[start..end].iter().filter(|&&c| c == b':').count() < 2 {
                continue;
            }
            // A lone leading or trailing colon is punctuation (`ip:fe80::1`, `at fe80::1:`).
            if b[start] == b':' && b.get(start + 1) != Some(&b':') {
                start += 1;
            }
            while end > start && b[end - 1] == b'.' {
                end -= 1;
            }
            if end > start + 1 && b[end - 1] == b':' && b[end - 2] != b':' {
                end -= 1;
            }
            if (start > 0 && is_word(b[start - 1])) || (end < b.len() && is_word(b[end])) {
                continue;
            }
            let Ok(addr) = s[start..end].parse::<Ipv6Addr>() else {
                continue;
            };
            if !self.v6_internal(addr) {
                continue;
            }
            let (full_end, prefix) = prefix_after(b, end, 128);
            let replacement = self.replacement(|| {
                let p = pseudo_ipv6(self.secret, addr);
                match prefix {
                    Some(n) => format!("{p}/{n}"),
                    None => p.to_string(),
                }
            });
            found.push(Hit {
                start,
                end: full_end,
                rule: RULE_INTERNAL_NETWORKS,
                replacement,
            });
        }
    }

    fn scan_hostnames(&self, s: &str, found: &mut Vec<Hit>) {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if !is_host_byte(b[i]) {
                i += 1;
                continue;
            }
            let mut start = i;
            let mut end = i;
            while end < b.len() && is_host_byte(b[end]) {
                end += 1;
            }
            i = end;
            while start < end && matches!(b[start], b'.' | b'-') {
                start += 1;
            }
            while end > start && matches!(b[end - 1], b'.' | b'-') {
                end -= 1;
            }
            if end == start || end - start > 253 {
                continue;
            }
            if (start > 0 && b[start - 1] == b'_') || (end < b.len() && b[end] == b'_') {
                continue;
            }
            let name = s[start..end].to_ascii_lowercase();
            if !self.patterns.iter().any(|p| glob_match(p, name.as_bytes())) {
                continue;
            }
            let replacement = self.replacement(|| {
                format!(
                    "host-{}.{PSEUDONYM_DOMAIN}",
                    short(self.secret, "hostname", &name)
                )
            });
            found.push(Hit {
                start,
                end,
                rule: RULE_HOSTNAME_PATTERNS,
                replacement,
            });
        }
    }
}

/// Four decimal octets (0-255, up to three digits each) separated by dots.
fn parse_dotted_quad(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 {
            return None;
        }
        *o = part.parse().ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

/// A `/prefix` (at most `max`) at `pos`, if one stands there as a token of its own; returns the
/// end of the match and the prefix.
fn prefix_after(b: &[u8], pos: usize, max: u8) -> (usize, Option<u8>) {
    if b.get(pos) != Some(&b'/') {
        return (pos, None);
    }
    let mut end = pos + 1;
    while end < b.len() && b[end].is_ascii_digit() && end - pos <= 3 {
        end += 1;
    }
    let digits = &b[pos + 1..end];
    if digits.is_empty() || digits.len() > 3 {
        return (pos, None);
    }
    let Some(n) = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<u8>().ok())
    else {
        return (pos, None);
    };
    let after_ok = match b.get(end) {
        None => true,
        Some(&c) if is_word(c) || c == b'/' => false,
        Some(b'.') => !b.get(end + 1).is_some_and(|c| c.is_ascii_alphanumeric()),
        Some(_) => true,
    };
    if n > max || !after_ok {
        return (pos, None);
    }
    (end, Some(n))
}

/// Matches a whole host name against a compiled pattern (`AnyOne` then `AnyRun` per `*`).
fn glob_match(pattern: &[Glob], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Glob::Byte(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(Glob::AnyOne) => {
                p += 1;
                t += 1;
            }
            Some(Glob::AnyRun) => {
                backtrack = Some((p + 1, t));
                p += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    p = bp;
                    t = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    while pattern.get(p) == Some(&Glob::AnyRun) {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"node secret for tests";

    fn hmac_of(secret: &[u8], kind: &str, value: &str) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(secret).unwrap();
        mac.update(format!("{kind}\0{value}").as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The pseudonym the tests expect, computed here from the HMAC independently.
    fn expected(kind: &str, value: &str) -> String {
        let h = hmac_of(SECRET, kind, value);
        let hex12: String = h[..6].iter().map(|b| format!("{b:02x}")).collect();
        match kind {
            "email" => format!("user-{hex12}@pseudonymized.invalid"),
            "username" => format!("user-{hex12}"),
            "hostname" => format!("host-{hex12}.pseudonymized.invalid"),
            "ipv4" => {
                let bits = (u32::from(h[0]) << 9) | (u32::from(h[1]) << 1) | (u32::from(h[2]) >> 7);
                Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + bits).to_string()
            }
            "ipv6" => {
                let mut b = vec![0x20, 0x01, 0x0d, 0xb8];
                b.extend_from_slice(&h[..12]);
                let b: [u8; 16] = b.try_into().unwrap();
                Ipv6Addr::from(b).to_string()
            }
            other => panic!("unknown kind {other}"),
        }
    }

    /// Expands `{kind:value}` placeholders into expected pseudonyms.
    fn expand(template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').unwrap() + open;
            let (kind, value) = rest[open + 1..close].split_once(':').unwrap();
            out.push_str(&expected(kind, value));
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }

    fn base_rules() -> SanitizationRules {
        SanitizationRules {
            own_domains: vec!["corp.example".into()],
            internal_networks: None,
            hostname_patterns: vec!["*.corp.example".into(), "srv-*.example.net".into()],
            remove_properties: vec![],
            action: SanitizeAction::Pseudonymize,
        }
    }

    fn note(text: &str) -> Value {
        json!({
            "type": "note",
            "spec_version": "2.1",
            "id": "note--0b6e3c2e-8a4e-4a53-9d2c-1c4d0f7c9a11",
            "created": "2025-01-01T00:00:00.000Z",
            "modified": "2025-01-01T00:00:00.000Z",
            "content": "see the abstract",
            "abstract": text,
            "object_refs": ["identity--6f1b5c44-1d3d-4b36-b62a-f6f0b3d0a5e1"]
        })
    }

    fn ipv4_sco(value: &str) -> Value {
        json!({
            "type": "ipv4-addr",
            "spec_version": "2.1",
            "id": format!("ipv4-addr--{}", sco_uuid_v5(&json!({"value": value}))),
            "value": value
        })
    }

    /// The `abstract` after sanitization (`None` when removed) and the rules of the changes.
    fn run(rules: &SanitizationRules, text: &str) -> (Option<String>, Vec<&'static str>) {
        let out = sanitize_objects(&[note(text)], rules, SECRET);
        let obj = &out.objects[0];
        let text = obj
            .get("abstract")
            .and_then(Value::as_str)
            .map(str::to_owned);
        (text, out.changes.iter().map(|c| c.rule).collect())
    }

    #[test]
    fn pseudonymize_table() {
        use self::RULE_HOSTNAME_PATTERNS as H;
        use self::RULE_INTERNAL_NETWORKS as N;
        use self::RULE_OWN_DOMAINS as D;
        let cases: &[(&str, &str, &[&str])] = &[
            // own domains
            (
                "mail alice@corp.example now",
                "mail {email:alice@corp.example} now",
                &[D],
            ),
            (
                "alice@mail.corp.example",
                "{email:alice@mail.corp.example}",
                &[D],
            ),
            ("Alice@CORP.Example.", "{email:alice@corp.example}.", &[D]),
            (
                "<mailto:a.b+c@corp.example>",
                "<mailto:{email:a.b+c@corp.example}>",
                &[D],
            ),
            ("alice@corp.example.org", "alice@corp.example.org", &[]),
            ("bob@notcorp.example", "bob@notcorp.example", &[]),
            ("bob@corp.examples", "bob@corp.examples", &[]),
            (
                "logon by CORP\\alice.",
                "logon by {username:corp\\alice}.",
                &[D],
            ),
            ("corp\\Alice", "{username:corp\\alice}", &[D]),
            ("'CORP\\\\alice'", "'{username:corp\\alice}'", &[D]),
            ("OTHER\\alice", "OTHER\\alice", &[]),
            ("\\\\corp\\share", "\\\\corp\\share", &[]),
            // IPv4
            ("10.0.0.5", "{ipv4:10.0.0.5}", &[N]),
            ("host 10.0.0.5, then", "host {ipv4:10.0.0.5}, then", &[N]),
            ("'10.0.0.5'", "'{ipv4:10.0.0.5}'", &[N]),
            ("seen at 10.0.0.5.", "seen at {ipv4:10.0.0.5}.", &[N]),
            (
                "http://10.0.0.5:8080/x",
                "http://{ipv4:10.0.0.5}:8080/x",
                &[N],
            ),
            ("10.0.0.0/8", "{ipv4:10.0.0.0}/8", &[N]),
            ("http://10.0.0.5/24/x", "http://{ipv4:10.0.0.5}/24/x", &[N]),
            ("010.0.0.5", "{ipv4:10.0.0.5}", &[N]),
            ("110.0.0.5", "110.0.0.5", &[]),
            ("1.2.3.4.5", "1.2.3.4.5", &[]),
            ("10.1.2.3.4", "10.1.2.3.4", &[]),
            ("v10.0.0.1", "v10.0.0.1", &[]),
            ("10.0.0.5a", "10.0.0.5a", &[]),
            ("10.0.0.256", "10.0.0.256", &[]),
            ("9.255.255.255", "9.255.255.255", &[]),
            ("11.0.0.0", "11.0.0.0", &[]),
            ("172.15.255.255", "172.15.255.255", &[]),
            ("172.16.0.0", "{ipv4:172.16.0.0}", &[N]),
            ("172.31.255.255", "{ipv4:172.31.255.255}", &[N]),
            ("172.32.0.0", "172.32.0.0", &[]),
            ("192.168.255.255", "{ipv4:192.168.255.255}", &[N]),
            ("192.169.0.0", "192.169.0.0", &[]),
            ("127.0.0.1", "{ipv4:127.0.0.1}", &[N]),
            ("169.254.10.1", "{ipv4:169.254.10.1}", &[N]),
            ("8.8.8.8", "8.8.8.8", &[]),
            (
                "10.0.0.1-10.0.0.9",
                "{ipv4:10.0.0.1}-{ipv4:10.0.0.9}",
                &[N, N],
            ),
            // IPv6
            ("fe80::1", "{ipv6:fe80::1}", &[N]),
            ("FE80::1%eth0", "{ipv6:fe80::1}%eth0", &[N]),
            ("::1", "{ipv6:::1}", &[N]),
            ("fd00::abcd", "{ipv6:fd00::abcd}", &[N]),
            ("[fe80::1]:443", "[{ipv6:fe80::1}]:443", &[N]),
            ("ip:fd12:3456::7, ok", "ip:{ipv6:fd12:3456::7}, ok", &[N]),
            ("fe80::/10", "{ipv6:fe80::}/10", &[N]),
            ("::ffff:10.0.0.5", "{ipv6:::ffff:10.0.0.5}", &[N]),
            ("2001:4860::8888", "2001:4860::8888", &[]),
            ("febf::1 fec0::1", "{ipv6:febf::1} fec0::1", &[N]),
            ("at 10:20:30 UTC", "at 10:20:30 UTC", &[]),
            ("std::vector", "std::vector", &[]),
            // host names
            (
                "srv-db01.example.net",
                "{hostname:srv-db01.example.net}",
                &[H],
            ),
            ("SRV-1.Example.NET", "{hostname:srv-1.example.net}", &[H]),
            ("www.example.net", "www.example.net", &[]),
            ("db.eu.corp.example", "{hostname:db.eu.corp.example}", &[H]),
            ("corp.example", "corp.example", &[]),
            ("x.corp.example.org", "x.corp.example.org", &[]),
            (
                "https://dc1.corp.example:8443/a",
                "https://{hostname:dc1.corp.example}:8443/a",
                &[H],
            ),
            ("my_dc1.corp.example", "my_dc1.corp.example", &[]),
            // overlaps: the e-mail wins over the host name inside it
            ("bob@dc1.corp.example", "{email:bob@dc1.corp.example}", &[D]),
            (
                "bob@srv-2.example.net",
                "bob@{hostname:srv-2.example.net}",
                &[H],
            ),
        ];
        let rules = base_rules();
        for (input, want, want_rules) in cases {
            let (got, rules_seen) = run(&rules, input);
            assert_eq!(got.as_deref(), Some(expand(want).as_str()), "{input}");
            assert_eq!(&rules_seen, want_rules, "{input}");
        }
    }

    #[test]
    fn remove_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("mail alice@corp.example now", Some("mail [REDACTED] now")),
            ("alice@corp.example", None),
            ("by CORP\\alice today", Some("by [REDACTED] today")),
            ("CORP\\alice", None),
            ("from 10.0.0.5, 8.8.8.8", Some("from [REDACTED], 8.8.8.8")),
            ("10.0.0.0/8", None),
            ("fe80::1", None),
            ("[fe80::1]:443", Some("[[REDACTED]]:443")),
            ("srv-7.example.net", None),
            ("ping srv-7.example.net", Some("ping [REDACTED]")),
            ("nothing here", Some("nothing here")),
        ];
        let rules = SanitizationRules {
            action: SanitizeAction::Remove,
            ..base_rules()
        };
        for (input, want) in cases {
            let (got, _) = run(&rules, input);
            assert_eq!(got.as_deref(), *want, "{input}");
        }
    }

    #[test]
    fn network_rules_can_be_replaced_or_disabled() {
        let custom = SanitizationRules {
            internal_networks: Some(vec!["203.0.113.0/24".into(), "2001:db8:1::/48".into()]),
            ..Default::default()
        };
        let none = SanitizationRules {
            internal_networks: Some(vec![]),
            ..Default::default()
        };
        let cases: &[(&SanitizationRules, &str, &str)] = &[
            (&custom, "203.0.113.7", "{ipv4:203.0.113.7}"),
            (&custom, "203.0.114.7", "203.0.114.7"),
            (&custom, "10.0.0.5", "10.0.0.5"),
            (&custom, "2001:db8:1:ff::2", "{ipv6:2001:db8:1:ff::2}"),
            (&custom, "2001:db8:2::2", "2001:db8:2::2"),
            (&none, "10.0.0.5 fe80::1", "10.0.0.5 fe80::1"),
        ];
        for (rules, input, want) in cases {
            assert_eq!(run(rules, input).0.unwrap(), expand(want), "{input}");
        }
    }

    #[test]
    fn pseudonyms_have_the_documented_form() {
        let p = pseudonym(SECRET, "email", "Alice@Corp.Example");
        assert_eq!(
            p,
            hex::encode(hmac_of(SECRET, "email", "alice@corp.example"))
        );
        assert_eq!(
            pseudonym(SECRET, "ipv6", "FE80:0::1"),
            hex::encode(hmac_of(SECRET, "ipv6", "fe80::1"))
        );
        let v4: Ipv4Addr = expected("ipv4", "10.0.0.5").parse().unwrap();
        assert_eq!(
            u32::from(v4) >> 17,
            u32::from(Ipv4Addr::new(198, 18, 0, 0)) >> 17
        );
        let v6 = expected("ipv6", "fe80::1");
        assert!(v6.starts_with("2001:db8:"), "{v6}");
        assert_eq!(v6, v6.to_lowercase());
        let (got, _) = run(&SanitizationRules::default(), "fe80::1");
        assert_eq!(got.unwrap(), v6);
    }

    #[test]
    fn pseudonyms_are_stable_across_objects_and_calls_and_keyed() {
        let objects = vec![
            note("from 10.9.8.7 and alice@corp.example"),
            ipv4_sco("10.9.8.7"),
            json!({"type": "x-thing", "id": "x-thing--5e0b1a36-0a57-4ab0-9a0f-2d1b4a8a7d11",
                   "x_list": ["alice@corp.example"]}),
        ];
        let rules = base_rules();
        let a = sanitize_objects(&objects, &rules, SECRET);
        let b = sanitize_objects(&objects, &rules, SECRET);
        assert_eq!(a, b);
        let ip = expected("ipv4", "10.9.8.7");
        let mail = expected("email", "alice@corp.example");
        assert_eq!(
            a.objects[0]["abstract"],
            json!(format!("from {ip} and {mail}"))
        );
        assert_eq!(a.objects[1]["value"], json!(ip));
        assert_eq!(a.objects[2]["x_list"], json!([mail]));
        let other = sanitize_objects(&objects, &rules, b"another secret");
        assert_ne!(other.objects[1]["value"], a.objects[1]["value"]);
        assert_ne!(other.objects[2]["x_list"], a.objects[2]["x_list"]);
    }

    #[test]
    fn excluded_values_and_nested_values() {
        let ext = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e";
        let obj = json!({
            "type": "x-thing",
            "spec_version": "2.1",
            "id": "x-thing--5e0b1a36-0a57-4ab0-9a0f-2d1b4a8a7d11",
            "created": "2025-01-01T00:00:00.000Z",
            "modified": "2025-01-01T00:00:00.000Z",
            "x_source_ref": "10.0.0.1",
            "x_seen_refs": ["10.0.0.2"],
            "external_references": [{"source_name": "wiki", "url": "http://10.0.0.3/page"}],
            "extensions": {ext: {"extension_type": "property-extension",
                                 "values": ["a", "b", "10.0.0.4"]}}
        });
        let out = sanitize_objects(std::slice::from_ref(&obj), &base_rules(), SECRET);
        let o = &out.objects[0];
        assert_eq!(o["x_source_ref"], obj["x_source_ref"]);
        assert_eq!(o["x_seen_refs"], obj["x_seen_refs"]);
        assert_eq!(
            o["external_references"][0]["url"],
            json!(format!("http://{}/page", expected("ipv4", "10.0.0.3")))
        );
        assert_eq!(
            o["extensions"][ext]["values"][2],
            json!(expected("ipv4", "10.0.0.4"))
        );
        let paths: Vec<&str> = out.changes.iter().map(|c| c.path.as_str()).collect();
        let ext_path = format!("extensions.{ext}.values[2]");
        assert_eq!(paths, ["external_references[0].url", ext_path.as_str()]);
        let c = &out.changes[1];
        assert_eq!(
            (c.object_index, c.object_id.as_str()),
            (0, obj["id"].as_str().unwrap())
        );
        assert_eq!(c.before, "10.0.0.4");
        assert_eq!(
            c.after.as_deref(),
            Some(expected("ipv4", "10.0.0.4").as_str())
        );
    }

    #[test]
    fn remove_action_removes_whole_values_items_and_emptied_lists() {
        let obj = json!({
            "type": "identity", "spec_version": "2.1",
            "id": "identity--6f1b5c44-1d3d-4b36-b62a-f6f0b3d0a5e1",
            "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
            "name": "ACME",
            "contact_information": "alice@corp.example",
            "x_aliases": ["10.0.0.1", "keep me", "fe80::2"],
            "x_only": ["10.0.0.1"],
            "x_nested": {"inner": "srv-1.example.net"}
        });
        let rules = SanitizationRules {
            action: SanitizeAction::Remove,
            ..base_rules()
        };
        let out = sanitize_objects(&[obj], &rules, SECRET);
        let o = out.objects[0].as_object().unwrap();
        assert!(!o.contains_key("contact_information"));
        assert_eq!(o["x_aliases"], json!(["keep me"]));
        assert!(!o.contains_key("x_only"));
        assert!(!o.contains_key("x_nested"));
        let got: Vec<(&str, &str, Option<&str>)> = out
            .changes
            .iter()
            .map(|c| (c.path.as_str(), c.before.as_str(), c.after.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("contact_information", "alice@corp.example", None),
                ("x_aliases[0]", "10.0.0.1", None),
                ("x_aliases[2]", "fe80::2", None),
                ("x_only[0]", "10.0.0.1", None),
                ("x_nested.inner", "srv-1.example.net", None),
            ]
        );
    }

    #[test]
    fn remove_properties_at_any_depth_whatever_the_action() {
        let ext = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e";
        let obj = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--1d6a1f2e-7c1b-4e0b-9a55-2f1e3c1b0d22",
            "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
            "x_internal_ticket": "INC-42",
            "external_references": [{"source_name": "t", "x_internal_ticket": {"n": 42}}],
            "extensions": {ext: {"extension_type": "property-extension",
                                 "x_internal_ticket": 7, "rank": 1}}
        });
        for action in [SanitizeAction::Pseudonymize, SanitizeAction::Remove] {
            let rules = SanitizationRules {
                remove_properties: vec!["x_internal_ticket".into()],
                action,
                ..Default::default()
            };
            let out = sanitize_objects(std::slice::from_ref(&obj), &rules, SECRET);
            let text = out.objects[0].to_string();
            assert!(!text.contains("x_internal_ticket"), "{action:?}: {text}");
            assert_eq!(out.objects[0]["extensions"][ext]["rank"], json!(1));
            assert_eq!(
                out.objects[0]["external_references"][0],
                json!({"source_name": "t"})
            );
            let got: Vec<(&str, &str, &str)> = out
                .changes
                .iter()
                .map(|c| (c.path.as_str(), c.rule, c.before.as_str()))
                .collect();
            let ext_path = format!("extensions.{ext}.x_internal_ticket");
            assert_eq!(
                got,
                [
                    ("x_internal_ticket", RULE_REMOVE_PROPERTIES, "INC-42"),
                    (
                        "external_references[0].x_internal_ticket",
                        RULE_REMOVE_PROPERTIES,
                        "{\"n\":42}"
                    ),
                    (ext_path.as_str(), RULE_REMOVE_PROPERTIES, "7"),
                ]
            );
            assert!(out.changes.iter().all(|c| c.after.is_none()));
        }
    }

    #[test]
    fn pattern_literals_are_replaced_and_quotes_stay_balanced() {
        let pattern = "[ipv4-addr:value = '10.1.2.3'] AND [email-addr:value = 'bob@corp.example'] \
                       AND [user-account:account_login = 'CORP\\\\bob'] \
                       AND [domain-name:value = 'srv-9.example.net']";
        let ind = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--1d6a1f2e-7c1b-4e0b-9a55-2f1e3c1b0d22",
            "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
            "pattern": pattern, "pattern_type": "stix",
            "valid_from": "2025-01-01T00:00:00Z"
        });
        for action in [SanitizeAction::Pseudonymize, SanitizeAction::Remove] {
            let rules = SanitizationRules {
                action,
                ..base_rules()
            };
            let out = sanitize_objects(std::slice::from_ref(&ind), &rules, SECRET);
            let got = out.objects[0]["pattern"].as_str().unwrap();
            let want = match action {
                SanitizeAction::Pseudonymize => expand(
                    "[ipv4-addr:value = '{ipv4:10.1.2.3}'] AND \
                     [email-addr:value = '{email:bob@corp.example}'] \
                     AND [user-account:account_login = '{username:corp\\bob}'] \
                     AND [domain-name:value = '{hostname:srv-9.example.net}']",
                ),
                SanitizeAction::Remove => pattern
                    .replace("10.1.2.3", REDACTED)
                    .replace("bob@corp.example", REDACTED)
                    .replace("CORP\\\\bob", REDACTED)
                    .replace("srv-9.example.net", REDACTED),
            };
            assert_eq!(got, want);
            assert_eq!(got.matches('\'').count(), 8);
            assert_eq!(got.matches('[').count(), got.matches(']').count());
            assert_eq!(out.changes.len(), 4);
        }
    }

    #[test]
    fn sco_with_computed_id_is_renamed_and_references_follow() {
        let ip = ipv4_sco("10.0.0.5");
        let old_id = ip["id"].as_str().unwrap().to_owned();
        let random_ip = json!({"type": "ipv4-addr", "spec_version": "2.1",
            "id": "ipv4-addr--4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10", "value": "10.0.0.6"});
        let rel = json!({"type": "relationship", "spec_version": "2.1",
            "id": "relationship--7a1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f",
            "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
            "relationship_type": "based-on",
            "source_ref": "indicator--1d6a1f2e-7c1b-4e0b-9a55-2f1e3c1b0d22",
            "target_ref": old_id});
        let sighting = json!({"type": "sighting", "spec_version": "2.1",
            "id": "sighting--8b2f3e4d-5c6b-4a79-8887-6b5c4d3e2f10",
            "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
            "sighting_of_ref": "indicator--1d6a1f2e-7c1b-4e0b-9a55-2f1e3c1b0d22",
            "x_detail": {"observed_refs": [old_id, "ipv4-addr--4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"]}});
        let out = sanitize_objects(&[rel, ip, sighting, random_ip], &base_rules(), SECRET);
        let new_value = expected("ipv4", "10.0.0.5");
        let new_id = format!("ipv4-addr--{}", sco_uuid_v5(&json!({"value": new_value})));
        assert_eq!(out.objects[1]["value"], json!(new_value));
        assert_eq!(out.objects[1]["id"], json!(new_id));
        assert_eq!(out.objects[0]["target_ref"], json!(new_id));
        assert_eq!(
            out.objects[2]["x_detail"]["observed_refs"],
            json!([new_id, "ipv4-addr--4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"])
        );
        // The SCO posted with a random id keeps it, though its value changed.
        assert_eq!(
            out.objects[3]["id"],
            json!("ipv4-addr--4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10")
        );
        assert_eq!(out.objects[3]["value"], json!(expected("ipv4", "10.0.0.6")));
        assert_eq!(out.id_renames, vec![(old_id, new_id)]);
    }

    #[test]
    fn unchanged_sco_and_public_values_keep_their_ids() {
        let ip = ipv4_sco("198.51.100.3");
        let out = sanitize_objects(std::slice::from_ref(&ip), &base_rules(), SECRET);
        assert_eq!(out.objects, vec![ip]);
        assert!(out.id_renames.is_empty() && out.changes.is_empty());
    }

    #[test]
    fn chain_of_computed_ids_settles() {
        let addr = json!({"type": "email-addr", "spec_version": "2.1",
            "id": format!("email-addr--{}", sco_uuid_v5(&json!({"value": "alice@corp.example"}))),
            "value": "alice@corp.example"});
        let addr_id = addr["id"].as_str().unwrap().to_owned();
        let subject = "Quarterly numbers";
        let msg = json!({"type": "email-message", "spec_version": "2.1",
            "id": format!("email-message--{}",
                sco_uuid_v5(&json!({"from_ref": addr_id, "subject": subject}))),
            "is_multipart": false, "from_ref": addr_id, "subject": subject});
        let msg_id = msg["id"].as_str().unwrap().to_owned();
        let obs = json!({"type": "observed-data", "spec_version": "2.1",
            "id": "observed-data--2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
            "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
            "first_observed": "2025-01-01T00:00:00Z", "last_observed": "2025-01-01T00:00:00Z",
            "number_observed": 1, "object_refs": [msg_id, addr_id]});
        // The message comes first, so its id can only settle on a second pass.
        let out = sanitize_objects(&[msg, addr, obs], &base_rules(), SECRET);
        let new_value = expected("email", "alice@corp.example");
        let new_addr_id = format!("email-addr--{}", sco_uuid_v5(&json!({"value": new_value})));
        let new_msg_id = format!(
            "email-message--{}",
            sco_uuid_v5(&json!({"from_ref": new_addr_id, "subject": subject}))
        );
        assert_eq!(out.objects[1]["id"], json!(new_addr_id));
        assert_eq!(out.objects[0]["from_ref"], json!(new_addr_id));
        assert_eq!(out.objects[0]["id"], json!(new_msg_id));
        assert_eq!(
            out.objects[2]["object_refs"],
            json!([new_msg_id, new_addr_id])
        );
        assert_eq!(
            out.id_renames,
            vec![(msg_id, new_msg_id), (addr_id, new_addr_id)]
        );
    }

    #[test]
    fn remove_on_sco_value_drops_the_sco_and_references() {
        let ip = ipv4_sco("10.0.0.5");
        let ip_id = ip["id"].as_str().unwrap().to_owned();
        let public = ipv4_sco("198.51.100.3");
        let public_id = public["id"].as_str().unwrap().to_owned();
        let traffic = json!({"type": "network-traffic", "spec_version": "2.1",
            "id": "network-traffic--0e1d2c3b-4a59-4687-9a6b-5c4d3e2f1a0b",
            "src_ref": ip_id, "dst_ref": public_id, "protocols": ["tcp"]});
        let obs = json!({"type": "observed-data", "spec_version": "2.1",
            "id": "observed-data--2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
            "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
            "first_observed": "2025-01-01T00:00:00Z", "last_observed": "2025-01-01T00:00:00Z",
            "number_observed": 1,
            "object_refs": [ip_id, public_id, "network-traffic--0e1d2c3b-4a59-4687-9a6b-5c4d3e2f1a0b"]});
        let rel = json!({"type": "relationship", "spec_version": "2.1",
            "id": "relationship--7a1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f",
            "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
            "relationship_type": "related-to",
            "source_ref": public_id, "target_ref": ip_id});
        let rules = SanitizationRules {
            action: SanitizeAction::Remove,
            ..Default::default()
        };
        let out = sanitize_objects(&[ip, public, traffic, obs, rel, json!(42)], &rules, SECRET);
        assert_eq!(out.objects.len(), 5);
        assert_eq!(out.dropped, vec![ip_id.clone()]);
        assert!(!out.objects.iter().any(|o| o.to_string().contains(&ip_id)));
        assert_eq!(out.objects[0]["id"], json!(public_id));
        assert!(out.objects[1].get("src_ref").is_none());
        assert_eq!(out.objects[1]["dst_ref"], json!(public_id));
        assert_eq!(out.objects[2]["object_refs"].as_array().unwrap().len(), 2);
        assert!(out.objects[3].get("target_ref").is_none());
        assert_eq!(out.objects[4], json!(42));
        let got: Vec<(usize, &str, Option<&str>)> = out
            .changes
            .iter()
            .map(|c| (c.object_index, c.path.as_str(), c.after.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (0, "value", None),
                (0, "", None),
                (2, "src_ref", None),
                (3, "object_refs[0]", None),
                (4, "target_ref", None),
            ]
        );
        assert!(out.changes.iter().all(|c| c.rule == RULE_INTERNAL_NETWORKS));
        // network-traffic posted with a random id keeps it although src_ref went.
        assert!(out.id_renames.is_empty());
    }

    #[test]
    fn remove_drops_scos_only_for_identifying_values() {
        let cases: &[(&str, Value, bool)] = &[
            ("domain-name", json!({"value": "dc1.corp.example"}), true),
            ("email-addr", json!({"value": "bob@corp.example"}), true),
            (
                "email-addr",
                json!({"value": "bob@example.org", "display_name": "bob@corp.example"}),
                false,
            ),
            ("user-account", json!({"account_login": "CORP\\bob"}), true),
            ("user-account", json!({"user_id": "bob@corp.example"}), true),
            (
                "user-account",
                json!({"user_id": "1001", "display_name": "CORP\\bob"}),
                false,
            ),
            ("url", json!({"value": "http://10.0.0.5/admin"}), false),
            ("directory", json!({"path": "srv-1.example.net"}), true),
            ("ipv6-addr", json!({"value": "fd00::1"}), true),
            ("ipv6-addr", json!({"value": "2001:4860::8888"}), false),
        ];
        let rules = SanitizationRules {
            action: SanitizeAction::Remove,
            ..base_rules()
        };
        for (ty, props, dropped) in cases {
            let mut sco = props.clone();
            sco["type"] = json!(ty);
            sco["spec_version"] = json!("2.1");
            sco["id"] = json!(format!("{ty}--9d3e1c2b-6a5f-4e7d-8c9b-0a1b2c3d4e5f"));
            let out = sanitize_objects(&[sco], &rules, SECRET);
            assert_eq!(out.objects.is_empty(), *dropped, "{ty} {props}");
            assert_eq!(out.dropped.len(), usize::from(*dropped), "{ty} {props}");
        }
    }

    #[test]
    fn dropped_reference_leaves_computed_ids_consistent() {
        let addr = json!({"type": "email-addr", "spec_version": "2.1",
            "id": format!("email-addr--{}", sco_uuid_v5(&json!({"value": "bob@corp.example"}))),
            "value": "bob@corp.example"});
        let addr_id = addr["id"].as_str().unwrap().to_owned();
        let msg = json!({"type": "email-message", "spec_version": "2.1",
            "id": format!("email-message--{}",
                sco_uuid_v5(&json!({"from_ref": addr_id, "subject": "hi"}))),
            "is_multipart": false, "from_ref": addr_id, "subject": "hi"});
        let rules = SanitizationRules {
            action: SanitizeAction::Remove,
            ..base_rules()
        };
        let out = sanitize_objects(&[addr, msg], &rules, SECRET);
        assert_eq!(out.objects.len(), 1);
        let new_id = format!("email-message--{}", sco_uuid_v5(&json!({"subject": "hi"})));
        assert_eq!(out.objects[0]["id"], json!(new_id));
        assert!(out.objects[0].get("from_ref").is_none());
    }

    #[test]
    fn file_losing_its_name_is_kept_when_it_has_hashes() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let make = |with_hashes: bool| {
            let mut f = json!({"type": "file", "spec_version": "2.1", "name": "srv-1.example.net"});
            let mut contrib = json!({"name": "srv-1.example.net"});
            if with_hashes {
                f["hashes"] = json!({"SHA-256": "ab".repeat(32), "MD5": md5});
                contrib["hashes"] = json!({"MD5": md5});
            }
            f["id"] = json!(format!("file--{}", sco_uuid_v5(&contrib)));
            f
        };
        let rules = SanitizationRules {
            action: SanitizeAction::Remove,
            ..base_rules()
        };
        let out = sanitize_objects(&[make(true), make(false)], &rules, SECRET);
        assert_eq!(out.objects.len(), 1);
        assert!(out.objects[0].get("name").is_none());
        let want = format!("file--{}", sco_uuid_v5(&json!({"hashes": {"MD5": md5}})));
        assert_eq!(out.objects[0]["id"], json!(want));
        assert_eq!(out.dropped.len(), 1);
    }

    #[test]
    fn validation_names_rule_index_and_reason() {
        let rules = SanitizationRules {
            own_domains: vec![
                "corp.example".into(),
                "".into(),
                "bad_domain.example".into(),
                "-x.example".into(),
                "10.0.0.1".into(),
                "Corp.Example.".into(),
            ],
            internal_networks: Some(vec![
                "10.0.0.0/8".into(),
                "fe80::/10".into(),
                "10.0.0.0/33".into(),
                "300.0.0.0/8".into(),
                "10.1.0.0/8".into(),
                "fe80::/129".into(),
                "10.0.0.5".into(),
            ]),
            hostname_patterns: vec![
                "*.corp.example".into(),
                "".into(),
                "*".into(),
                "srv_*.example".into(),
                "*.*".into(),
            ],
            remove_properties: vec![
                "x_internal_ticket".into(),
                "id".into(),
                "".into(),
                "modified".into(),
                "bad name".into(),
            ],
            action: SanitizeAction::Remove,
        };
        let errors = rules.validate().unwrap_err();
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.rule.as_str(), e.reason.as_str()))
            .collect();
        let want: &[(&str, &str)] = &[
            ("own_domains[1]", "must not be empty"),
            (
                "own_domains[2]",
                "may contain only letters, digits, hyphens and dots",
            ),
            (
                "own_domains[3]",
                "has a label starting or ending with a hyphen",
            ),
            (
                "own_domains[4]",
                "is not a DNS name (its last label is all digits)",
            ),
            (
                "internal_networks[2]",
                "prefix /33 is too long for an IPv4 network (at most /32)",
            ),
            (
                "internal_networks[3]",
                "is not an IPv4 or IPv6 address or CIDR block",
            ),
            (
                "internal_networks[4]",
                "has host bits set (did you mean 10.0.0.0/8?)",
            ),
            (
                "internal_networks[5]",
                "prefix /129 is too long for an IPv6 network (at most /128)",
            ),
            ("hostname_patterns[1]", "must not be empty"),
            (
                "hostname_patterns[2]",
                "must contain at least one letter or digit (it would match every word)",
            ),
            (
                "hostname_patterns[3]",
                "may contain only letters, digits, `-`, `.` and `*`",
            ),
            (
                "hostname_patterns[4]",
                "must contain at least one letter or digit (it would match every word)",
            ),
            (
                "remove_properties[1]",
                "required by STIX, cannot be removed",
            ),
            ("remove_properties[2]", "must not be empty"),
            (
                "remove_properties[3]",
                "required by STIX, cannot be removed",
            ),
            (
                "remove_properties[4]",
                "may contain only ASCII letters, digits, `_` and `-` (at most 250 characters)",
            ),
        ];
        assert_eq!(got, want);
        assert_eq!(errors[4].value, "10.0.0.0/33");
        assert_eq!(base_rules().validate(), Ok(()));
        assert_eq!(SanitizationRules::default().validate(), Ok(()));
    }

    #[test]
    fn validation_limits_list_length() {
        let rules = SanitizationRules {
            hostname_patterns: (0..=MAX_RULE_ENTRIES)
                .map(|i| format!("h{i}.example"))
                .collect(),
            remove_properties: (0..MAX_RULE_ENTRIES).map(|i| format!("x_{i}")).collect(),
            ..Default::default()
        };
        let errors = rules.validate().unwrap_err();
        assert_eq!(
            errors,
            vec![RuleError {
                rule: "hostname_patterns".into(),
                value: "1001".into(),
                reason: "at most 1000 entries are allowed".into(),
            }]
        );
    }

    #[test]
    fn combine_table() {
        let r = |domains: &[&str],
                 nets: Option<&[&str]>,
                 props: &[&str],
                 action: SanitizeAction| SanitizationRules {
            own_domains: domains.iter().map(|s| (*s).to_owned()).collect(),
            internal_networks: nets.map(|n| n.iter().map(|s| (*s).to_owned()).collect()),
            hostname_patterns: vec![],
            remove_properties: props.iter().map(|s| (*s).to_owned()).collect(),
            action,
        };
        use SanitizeAction::{Pseudonymize as P, Remove as R};
        let defaults: Vec<&str> = DEFAULT_INTERNAL_NETWORKS.to_vec();
        let with_defaults = |extra: &[&'static str]| -> Vec<&'static str> {
            let mut v = defaults.clone();
            v.extend_from_slice(extra);
            v
        };
        let cases = vec![
            (
                r(&["a.example", "b.example"], None, &["x_a"], P),
                r(&["B.example", "c.example"], None, &["x_b", "x_a"], P),
                r(
                    &["a.example", "b.example", "c.example"],
                    None,
                    &["x_a", "x_b"],
                    P,
                ),
            ),
            (
                r(&[], Some(&["203.0.113.0/24"]), &[], P),
                r(&[], None, &[], R),
                r(
                    &[],
                    Some(&[
                        "203.0.113.0/24",
                        "10.0.0.0/8",
                        "172.16.0.0/12",
                        "192.168.0.0/16",
                        "127.0.0.0/8",
                        "169.254.0.0/16",
                        "::1/128",
                        "fe80::/10",
                        "fc00::/7",
                    ]),
                    &[],
                    R,
                ),
            ),
            (
                r(&[], None, &[], R),
                r(&[], Some(&["10.0.0.0/8", "198.51.100.0/24"]), &[], P),
                r(&[], Some(&with_defaults(&["198.51.100.0/24"])), &[], R),
            ),
            (
                r(&[], Some(&[]), &[], P),
                r(&[], Some(&["FE80::/10", "fe80:0::/10"]), &[], P),
                r(&[], Some(&["FE80::/10"]), &[], P),
            ),
            (
                r(&[], Some(&[]), &[], P),
                r(&[], Some(&[]), &[], P),
                r(&[], Some(&[]), &[], P),
            ),
        ];
        for (i, (org, community, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                SanitizationRules::combine(&org, &community),
                want,
                "case {i}"
            );
        }
    }

    #[test]
    fn rules_serde() {
        let r: SanitizationRules =
            serde_json::from_str(r#"{"own_domains": ["corp.example"], "action": "remove"}"#)
                .unwrap();
        assert_eq!(r.action, SanitizeAction::Remove);
        assert_eq!(r.internal_networks, None);
        let r: SanitizationRules = serde_json::from_str(r#"{"internal_networks": []}"#).unwrap();
        assert_eq!(r.internal_networks, Some(vec![]));
        assert_eq!(r.action, SanitizeAction::Pseudonymize);
        assert!(serde_json::from_str::<SanitizationRules>(r#"{"own_domain": []}"#).is_err());
        assert_eq!(
            serde_json::to_value(SanitizeAction::Pseudonymize).unwrap(),
            json!("pseudonymize")
        );
    }

    #[test]
    fn glob_semantics() {
        let compile = |p: &str| {
            Matcher::new(
                &SanitizationRules {
                    hostname_patterns: vec![p.to_owned()],
                    ..Default::default()
                },
                SECRET,
            )
            .patterns
            .remove(0)
        };
        let cases: &[(&str, &str, bool)] = &[
            ("*.corp.example", "a.corp.example", true),
            ("*.corp.example", "a.b.corp.example", true),
            ("*.corp.example", ".corp.example", false),
            ("*.corp.example", "corp.example", false),
            ("srv-*.example.net", "srv-1.example.net", true),
            ("srv-*.example.net", "srv-.example.net", false),
            ("srv-*-db", "srv-eu-1-db", true),
            ("srv-*-db", "srv-eu-1-db2", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "abc", false),
        ];
        for (p, text, want) in cases {
            assert_eq!(
                glob_match(&compile(p), text.as_bytes()),
                *want,
                "{p} vs {text}"
            );
        }
    }
}
