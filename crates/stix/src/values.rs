//! Observable values for correlation.
//!
//! [`extract_observable_values`] pulls normalized values out of a STIX
//! object so that the same IP, domain, URL, e-mail address or file hash can
//! be matched across objects from different producers:
//!
//! * SCOs: `value` of `ipv4-addr`, `ipv6-addr`, `domain-name`, `url`,
//!   `email-addr`; `hashes` of `file` and `artifact`;
//! * observed-data's deprecated embedded `objects`, the same way;
//! * indicators with `pattern_type` `stix` (or none): every
//!   `object-path = 'literal'` comparison in the pattern whose path is one
//!   of those above (`[ipv4-addr:value = '1.2.3.4']`,
//!   `[file:hashes.'SHA-256' = '…']`, several joined with `AND`/`OR`, or in
//!   several observation expressions), plus e-mail addresses behind
//!   `email-message:from_ref.value`/`sender_ref`/`to_refs[*]`/`cc_refs[*]`/
//!   `bcc_refs[*]` and IPs behind `network-traffic:src_ref.value`/
//!   `dst_ref.value`. Negated comparisons, other operators and everything
//!   else are ignored.
//!
//! Normalization: IPv4 as written (validated; `/32` dropped), IPv6 in RFC
//! 5952 compressed lower-case form (`/128` dropped), domains lower-cased
//! without a trailing dot, URLs with scheme and host lower-cased, e-mail
//! addresses lower-cased, hashes lower-case hex (MD5, SHA-1, SHA-256,
//! SHA-512 only). Values that fail validation are skipped.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;
use serde_json::Value;

/// The kind of an observable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    /// IPv4 address or CIDR block.
    Ipv4,
    /// IPv6 address or CIDR block.
    Ipv6,
    /// Domain name.
    Domain,
    /// URL.
    Url,
    /// E-mail address.
    Email,
    /// MD5 hash.
    Md5,
    /// SHA-1 hash.
    Sha1,
    /// SHA-256 hash.
    Sha256,
    /// SHA-512 hash.
    Sha512,
}

impl ValueKind {
    /// Every kind.
    pub const ALL: [ValueKind; 9] = [
        ValueKind::Ipv4,
        ValueKind::Ipv6,
        ValueKind::Domain,
        ValueKind::Url,
        ValueKind::Email,
        ValueKind::Md5,
        ValueKind::Sha1,
        ValueKind::Sha256,
        ValueKind::Sha512,
    ];

    /// A stable lower-case name: `ipv4`, `ipv6`, `domain`, `url`, `email`,
    /// `md5`, `sha1`, `sha256`, `sha512`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Ipv4 => "ipv4",
            ValueKind::Ipv6 => "ipv6",
            ValueKind::Domain => "domain",
            ValueKind::Url => "url",
            ValueKind::Email => "email",
            ValueKind::Md5 => "md5",
            ValueKind::Sha1 => "sha1",
            ValueKind::Sha256 => "sha256",
            ValueKind::Sha512 => "sha512",
        }
    }

    /// The kind named by [`ValueKind::as_str`].
    pub fn parse(s: &str) -> Option<ValueKind> {
        ValueKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The hash kind for a STIX hash algorithm name (`MD5`, `SHA-1`,
    /// `SHA-256`, `SHA-512`; case, `-`, `_` and quotes ignored).
    pub fn for_hash_algorithm(alg: &str) -> Option<ValueKind> {
        let norm: String = alg
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | '\'' | '"'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        match norm.as_str() {
            "MD5" => Some(ValueKind::Md5),
            "SHA1" => Some(ValueKind::Sha1),
            "SHA256" => Some(ValueKind::Sha256),
            "SHA512" => Some(ValueKind::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Normalizes `raw` as a value of `kind`; `None` if it is not one.
pub fn normalize(kind: ValueKind, raw: &str) -> Option<String> {
    match kind {
        ValueKind::Ipv4 => normalize_ipv4(raw),
        ValueKind::Ipv6 => normalize_ipv6(raw),
        ValueKind::Domain => normalize_domain(raw),
        ValueKind::Url => normalize_url(raw),
        ValueKind::Email => normalize_email(raw),
        ValueKind::Md5 => normalize_hex(raw, 32),
        ValueKind::Sha1 => normalize_hex(raw, 40),
        ValueKind::Sha256 => normalize_hex(raw, 64),
        ValueKind::Sha512 => normalize_hex(raw, 128),
    }
}

/// The kind of a value typed by a person (exact value lookup), normalized
/// like ingest: an IPv4 or IPv6 address or block, a URL (`scheme://…`), an
/// e-mail address, an MD5, SHA-1, SHA-256 or SHA-512 hash (hex of the
/// length of one), or a domain name (with at least one inner dot).
/// Surrounding white space is ignored. `None` if it is none of these; a
/// value of another shape (a single-label host name) needs its kind named
/// and [`normalize`].
pub fn classify(raw: &str) -> Option<(ValueKind, String)> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if let Some(v) = normalize_ipv4(raw) {
        return Some((ValueKind::Ipv4, v));
    }
    if let Some(v) = normalize_ipv6(raw) {
        return Some((ValueKind::Ipv6, v));
    }
    if raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        let kind = match raw.len() {
            32 => ValueKind::Md5,
            40 => ValueKind::Sha1,
            64 => ValueKind::Sha256,
            128 => ValueKind::Sha512,
            _ => return None,
        };
        return normalize(kind, raw).map(|v| (kind, v));
    }
    if raw.contains("://") {
        let (scheme, _) = raw.split_once("://")?;
        let scheme_ok = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        return scheme_ok
            .then(|| normalize_url(raw))
            .flatten()
            .map(|v| (ValueKind::Url, v));
    }
    if raw.contains('@') {
        return normalize_email(raw).map(|v| (ValueKind::Email, v));
    }
    let inner_dot = raw.trim_end_matches('.').contains('.');
    if inner_dot {
        return normalize_domain(raw).map(|v| (ValueKind::Domain, v));
    }
    None
}

fn split_prefix(raw: &str, max: u8) -> Option<(&str, Option<u8>)> {
    match raw.split_once('/') {
        None => Some((raw, None)),
        Some((addr, len)) => {
            if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u8 = len.parse().ok()?;
            (n <= max).then_some((addr, Some(n)))
        }
    }
}

/// An IPv4 address or CIDR block in dotted-quad form; `/32` is dropped.
pub fn normalize_ipv4(raw: &str) -> Option<String> {
    let (addr, len) = split_prefix(raw, 32)?;
    let ip: Ipv4Addr = addr.parse().ok()?;
    Some(match len {
        None | Some(32) => ip.to_string(),
        Some(n) => format!("{ip}/{n}"),
    })
}

/// An IPv6 address or CIDR block in RFC 5952 form; `/128` is dropped.
pub fn normalize_ipv6(raw: &str) -> Option<String> {
    let (addr, len) = split_prefix(raw, 128)?;
    let ip: Ipv6Addr = addr.parse().ok()?;
    Some(match len {
        None | Some(128) => ip.to_string(),
        Some(n) => format!("{ip}/{n}"),
    })
}

/// A domain name, lower-cased, without a trailing dot.
pub fn normalize_domain(raw: &str) -> Option<String> {
    let d = raw.strip_suffix('.').unwrap_or(raw);
    let bad_char = |c: char| {
        c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\' | '@' | ':' | '\'' | '"')
    };
    if d.is_empty() || d.starts_with('.') || d.contains("..") || d.chars().any(bad_char) {
        return None;
    }
    Some(d.to_lowercase())
}

/// A URL with its scheme and host lower-cased; the rest is kept as is.
/// Strings without `scheme://` are returned unchanged.
pub fn normalize_url(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.chars().any(char::is_whitespace) {
        return None;
    }
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Some(raw.to_owned());
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Some(raw.to_owned());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    // The host ends at the port colon, unless it is a bracketed IPv6 literal.
    let host_end = if hostport.starts_with('[') {
        hostport.find(']').map_or(hostport.len(), |i| i + 1)
    } else {
        hostport.find(':').unwrap_or(hostport.len())
    };
    let (host, port) = hostport.split_at(host_end);
    Some(format!(
        "{}://{userinfo}{}{port}{tail}",
        scheme.to_ascii_lowercase(),
        host.to_lowercase()
    ))
}

/// An e-mail address, lower-cased; it must contain `@` with text on both
/// sides.
pub fn normalize_email(raw: &str) -> Option<String> {
    let (local, domain) = raw.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || raw.chars().any(char::is_whitespace) {
        return None;
    }
    Some(raw.to_lowercase())
}

fn normalize_hex(raw: &str, len: usize) -> Option<String> {
    (raw.len() == len && raw.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| raw.to_ascii_lowercase())
}

/// Normalized observable values found in `object` (see the module docs),
/// without duplicates, in the order found.
pub fn extract_observable_values(object: &Value) -> Vec<(ValueKind, String)> {
    let mut out = Vec::new();
    collect(object, &mut out, true);
    out
}

fn push(out: &mut Vec<(ValueKind, String)>, kind: ValueKind, raw: &str) {
    if let Some(v) = normalize(kind, raw) {
        if !out.iter().any(|(k, x)| *k == kind && *x == v) {
            out.push((kind, v));
        }
    }
}

fn collect(object: &Value, out: &mut Vec<(ValueKind, String)>, top: bool) {
    let Some(ty) = object.get("type").and_then(Value::as_str) else {
        return;
    };
    let value = object.get("value").and_then(Value::as_str);
    match ty {
        "ipv4-addr" | "ipv6-addr" | "domain-name" | "url" | "email-addr" => {
            let kind = match ty {
                "ipv4-addr" => ValueKind::Ipv4,
                "ipv6-addr" => ValueKind::Ipv6,
                "domain-name" => ValueKind::Domain,
                "url" => ValueKind::Url,
                _ => ValueKind::Email,
            };
            if let Some(v) = value {
                push(out, kind, v);
            }
        }
        "file" | "artifact" => {
            if let Some(h) = object.get("hashes").and_then(Value::as_object) {
                for (alg, v) in h {
                    if let (Some(kind), Some(v)) = (ValueKind::for_hash_algorithm(alg), v.as_str())
                    {
                        push(out, kind, v);
                    }
                }
            }
        }
        "indicator" => {
            let stix = !matches!(
                object.get("pattern_type").and_then(Value::as_str),
                Some(t) if t != "stix"
            );
            if let (true, Some(p)) = (stix, object.get("pattern").and_then(Value::as_str)) {
                for (path, literal) in pattern_comparisons(p) {
                    if let Some(kind) = kind_for_path(&path, &literal) {
                        push(out, kind, &literal);
                    }
                }
            }
        }
        "observed-data" if top => {
            if let Some(objs) = object.get("objects").and_then(Value::as_object) {
                for o in objs.values() {
                    collect(o, out, false);
                }
            }
        }
        _ => {}
    }
}

/// The value kind an indicator object path compares against, if it is one
/// this module extracts.
fn kind_for_path(path: &str, literal: &str) -> Option<ValueKind> {
    let ip_kind = || {
        if normalize_ipv4(literal).is_some() {
            Some(ValueKind::Ipv4)
        } else if normalize_ipv6(literal).is_some() {
            Some(ValueKind::Ipv6)
        } else {
            None
        }
    };
    match path {
        "ipv4-addr:value" => Some(ValueKind::Ipv4),
        "ipv6-addr:value" => Some(ValueKind::Ipv6),
        "domain-name:value" => Some(ValueKind::Domain),
        "url:value" => Some(ValueKind::Url),
        "email-addr:value"
        | "email-message:from_ref.value"
        | "email-message:sender_ref.value"
        | "email-message:to_refs[*].value"
        | "email-message:cc_refs[*].value"
        | "email-message:bcc_refs[*].value" => Some(ValueKind::Email),
        "network-traffic:src_ref.value" | "network-traffic:dst_ref.value" => ip_kind(),
        _ => {
            let alg = path
                .strip_prefix("file:hashes.")
                .or_else(|| path.strip_prefix("artifact:hashes."))?;
            ValueKind::for_hash_algorithm(alg)
        }
    }
}

#[derive(Debug, PartialEq)]
enum Tok {
    /// A word containing `:` (an object path), quoted segments unquoted.
    Path(String),
    /// Any other word (keywords, literal prefixes like `t`, `b`, `h`).
    Word,
    /// A comparison operator.
    Op(&'static str),
    /// A string literal, unescaped.
    Lit(String),
    /// Brackets, parentheses, commas.
    Punct,
}

/// Reads a quoted literal starting after the opening `'`; returns the
/// unescaped content and the index after the closing quote.
fn read_literal(chars: &[char], mut i: usize) -> Option<(String, usize)> {
    let mut s = String::new();
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => {
                s.push(*chars.get(i + 1)?);
                i += 2;
            }
            '\'' => return Some((s, i + 1)),
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
    None
}

fn tokenize(pattern: &str) -> Vec<Tok> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '\'' => match read_literal(&chars, i + 1) {
                Some((s, next)) => {
                    toks.push(Tok::Lit(s));
                    i = next;
                }
                None => break,
            },
            '=' => {
                toks.push(Tok::Op("="));
                i += 1;
            }
            '!' | '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                toks.push(Tok::Op(match (c, eq) {
                    ('!', _) => "!=",
                    ('<', true) => "<=",
                    ('<', false) => "<",
                    ('>', true) => ">=",
                    _ => ">",
                }));
                i += if eq { 2 } else { 1 };
            }
            '[' | ']' | '(' | ')' | ',' => {
                toks.push(Tok::Punct);
                i += 1;
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.get(i) {
                    if c.is_whitespace()
                        || matches!(c, '=' | '!' | '<' | '>' | ']' | '(' | ')' | ',')
                    {
                        break;
                    }
                    if c == '\'' {
                        if !word.ends_with('.') {
                            break;
                        }
                        match read_literal(&chars, i + 1) {
                            Some((seg, next)) => {
                                word.push_str(&seg);
                                i = next;
                                continue;
                            }
                            None => return toks,
                        }
                    }
                    if c == '[' {
                        // A list index inside a path: `[*]` or `[n]`.
                        let close = chars[i..].iter().position(|&x| x == ']');
                        match close {
                            Some(off) => {
                                word.extend(&chars[i..=i + off]);
                                i += off + 1;
                                continue;
                            }
                            None => return toks,
                        }
                    }
                    word.push(c);
                    i += 1;
                }
                toks.push(if word.contains(':') {
                    Tok::Path(word)
                } else {
                    Tok::Word
                });
            }
        }
    }
    toks
}

/// Every `object-path = 'literal'` comparison in a STIX pattern, with
/// quoted path segments unquoted (`file:hashes.'SHA-256'` becomes
/// `file:hashes.SHA-256`) and `\'`/`\\` escapes in literals resolved.
/// Comparisons preceded by `NOT`, using other operators, or against
/// non-string literals are not returned.
pub fn pattern_comparisons(pattern: &str) -> Vec<(String, String)> {
    let toks = tokenize(pattern);
    toks.windows(3)
        .filter_map(|w| match w {
            [Tok::Path(p), Tok::Op("="), Tok::Lit(l)] => Some((p.clone(), l.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vals(v: Value) -> Vec<(&'static str, String)> {
        extract_observable_values(&v)
            .into_iter()
            .map(|(k, s)| (k.as_str(), s))
            .collect()
    }

    #[test]
    fn normalizers() {
        assert_eq!(
            normalize_ipv4("198.51.100.3").as_deref(),
            Some("198.51.100.3")
        );
        assert_eq!(normalize_ipv4("10.0.0.0/8").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(normalize_ipv4("10.0.0.1/32").as_deref(), Some("10.0.0.1"));
        for bad in [
            "1.2.3",
            "1.2.3.256",
            "01.2.3.4",
            "1.2.3.4/33",
            "1.2.3.4/",
            " 1.2.3.4",
            "::1",
        ] {
            assert_eq!(normalize_ipv4(bad), None, "{bad}");
        }
        assert_eq!(
            normalize_ipv6("2001:0DB8:0000:0000:0000:0000:0000:0001").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            normalize_ipv6("2001:db8::/32").as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(normalize_ipv6("::1/128").as_deref(), Some("::1"));
        assert_eq!(normalize_ipv6("1.2.3.4"), None);
        assert_eq!(normalize_ipv6("::1/129"), None);
        assert_eq!(
            normalize_domain("Example.COM.").as_deref(),
            Some("example.com")
        );
        assert_eq!(normalize_domain("."), None);
        assert_eq!(normalize_domain("a b.com"), None);
        assert_eq!(
            normalize_url("HTTPS://User@WWW.Example.com:8443/Path?Q=A#F").as_deref(),
            Some("https://User@www.example.com:8443/Path?Q=A#F")
        );
        assert_eq!(
            normalize_url("http://[2001:DB8::1]:80/X").as_deref(),
            Some("http://[2001:db8::1]:80/X")
        );
        assert_eq!(
            normalize_url("HTTP://EXAMPLE.com").as_deref(),
            Some("http://example.com")
        );
        assert_eq!(normalize_url("not a url"), None);
        assert_eq!(
            normalize_email("John.Doe@Example.COM").as_deref(),
            Some("john.doe@example.com")
        );
        assert_eq!(normalize_email("nobody"), None);
        assert_eq!(
            normalize(ValueKind::Md5, "D41D8CD98F00B204E9800998ECF8427E").as_deref(),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(normalize(ValueKind::Md5, "abc"), None);
        assert_eq!(normalize(ValueKind::Sha1, &"g".repeat(40)), None);
    }

    #[test]
    fn classify_typed_values() {
        let c = |s: &str| classify(s).map(|(k, v)| (k.as_str(), v));
        assert_eq!(c(" 198.51.100.7 "), Some(("ipv4", "198.51.100.7".into())));
        assert_eq!(c("10.0.0.0/8"), Some(("ipv4", "10.0.0.0/8".into())));
        assert_eq!(
            c("2001:DB8:0:0:0:0:0:1"),
            Some(("ipv6", "2001:db8::1".into()))
        );
        assert_eq!(c("Evil.EXAMPLE."), Some(("domain", "evil.example".into())));
        assert_eq!(
            c("HTTP://Evil.example/A"),
            Some(("url", "http://evil.example/A".into()))
        );
        assert_eq!(
            c("Bad@Evil.example"),
            Some(("email", "bad@evil.example".into()))
        );
        assert_eq!(c(&"A".repeat(32)), Some(("md5", "a".repeat(32))));
        assert_eq!(c(&"b".repeat(40)), Some(("sha1", "b".repeat(40))));
        assert_eq!(c(&"C".repeat(64)), Some(("sha256", "c".repeat(64))));
        assert_eq!(c(&"d".repeat(128)), Some(("sha512", "d".repeat(128))));
        for bad in [
            "",
            "   ",
            "localhost",
            "abc",
            "deadbeef",
            "a b.example",
            "://x",
            "1http://x",
            "@",
            "..",
            "!!!",
        ] {
            assert_eq!(c(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn kinds() {
        for k in ValueKind::ALL {
            assert_eq!(ValueKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(
            ValueKind::for_hash_algorithm("SHA-256"),
            Some(ValueKind::Sha256)
        );
        assert_eq!(ValueKind::for_hash_algorithm("sha1"), Some(ValueKind::Sha1));
        assert_eq!(
            ValueKind::for_hash_algorithm("'SHA-512'"),
            Some(ValueKind::Sha512)
        );
        assert_eq!(ValueKind::for_hash_algorithm("SHA3-256"), None);
        assert_eq!(ValueKind::for_hash_algorithm("SSDEEP"), None);
    }

    #[test]
    fn sco_values() {
        assert_eq!(
            vals(
                json!({"type": "ipv4-addr", "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd", "value": "198.51.100.3"})
            ),
            vec![("ipv4", "198.51.100.3".to_owned())]
        );
        assert_eq!(
            vals(json!({"type": "ipv6-addr", "value": "2001:0db8:85a3:0000:0000:8a2e:0370:7334"})),
            vec![("ipv6", "2001:db8:85a3::8a2e:370:7334".to_owned())]
        );
        assert_eq!(
            vals(json!({"type": "domain-name", "value": "Example.com."})),
            vec![("domain", "example.com".to_owned())]
        );
        assert_eq!(
            vals(json!({"type": "url", "value": "HTTPS://Example.com/Index.html"})),
            vec![("url", "https://example.com/Index.html".to_owned())]
        );
        assert_eq!(
            vals(
                json!({"type": "email-addr", "value": "John@Example.com", "display_name": "John"})
            ),
            vec![("email", "john@example.com".to_owned())]
        );
        assert_eq!(
            vals(json!({"type": "file", "name": "foo.exe", "hashes": {
                "SHA-256": "EFFB46BBA102EA2BA3A7A5E3F4D1E0A5F0B5C7E6F1A2B3C4D5E6F708192A3B4C",
                "MD5": "D41D8CD98F00B204E9800998ECF8427E",
                "SSDEEP": "3:a+JraNvsgzsVqSwHq9:tJuOgzsko",
                "SHA-1": "not-hex"
            }})),
            vec![
                (
                    "sha256",
                    "effb46bba102ea2ba3a7a5e3f4d1e0a5f0b5c7e6f1a2b3c4d5e6f708192a3b4c".to_owned()
                ),
                ("md5", "d41d8cd98f00b204e9800998ecf8427e".to_owned()),
            ]
        );
        assert!(vals(json!({"type": "ipv4-addr", "value": "999.1.1.1"})).is_empty());
        assert!(vals(json!({"type": "mutex", "name": "x"})).is_empty());
        assert!(vals(json!("not an object")).is_empty());
    }

    #[test]
    fn observed_data_embedded_objects() {
        assert_eq!(
            vals(json!({"type": "observed-data", "objects": {
                "0": {"type": "ipv4-addr", "value": "10.0.0.1"},
                "1": {"type": "domain-name", "value": "EVIL.example"}
            }})),
            vec![
                ("ipv4", "10.0.0.1".to_owned()),
                ("domain", "evil.example".to_owned())
            ]
        );
    }

    fn ind(pattern: &str) -> Value {
        json!({"type": "indicator", "pattern_type": "stix", "pattern": pattern})
    }

    #[test]
    fn indicator_patterns() {
        assert_eq!(
            vals(ind("[ipv4-addr:value = '198.51.100.1']")),
            vec![("ipv4", "198.51.100.1".to_owned())]
        );
        assert_eq!(
            vals(ind("[file:hashes.'SHA-256' = 'AEC070645FE53EE3B3763059376134F058CC337247C978ADD178B6CCDFB0019F']")),
            vec![("sha256", "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f".to_owned())]
        );
        assert_eq!(
            vals(ind("[file:hashes.MD5='d41d8cd98f00b204e9800998ecf8427e' OR file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']")),
            vec![
                ("md5", "d41d8cd98f00b204e9800998ecf8427e".to_owned()),
                ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709".to_owned())
            ]
        );
        assert_eq!(
            vals(ind("([domain-name:value = 'Evil.EXAMPLE.'] AND [url:value = 'HTTP://Evil.example/A']) FOLLOWEDBY [email-addr:value = 'Bad@Evil.example'] WITHIN 300 SECONDS")),
            vec![
                ("domain", "evil.example".to_owned()),
                ("url", "http://evil.example/A".to_owned()),
                ("email", "bad@evil.example".to_owned())
            ]
        );
        assert_eq!(
            vals(ind(
                r"[url:value = 'http://example.com/it\'s' AND domain-name:value = 'a\\b.example']"
            )),
            vec![("url", "http://example.com/it's".to_owned())]
        );
        assert_eq!(
            vals(ind("[email-message:from_ref.value = 'A@B.example' AND email-message:to_refs[*].value = 'c@d.example'] OR [network-traffic:dst_ref.value = '2001:DB8::1']")),
            vec![
                ("email", "a@b.example".to_owned()),
                ("email", "c@d.example".to_owned()),
                ("ipv6", "2001:db8::1".to_owned())
            ]
        );
        // Ignored: negation, other operators, non-string literals, other paths.
        assert!(vals(ind("[ipv4-addr:value NOT = '1.2.3.4']")).is_empty());
        assert!(vals(ind("[ipv4-addr:value != '1.2.3.4']")).is_empty());
        assert!(vals(ind("[ipv4-addr:value ISSUBSET '10.0.0.0/8']")).is_empty());
        assert!(vals(ind("[file:name = 'foo.exe' AND file:size > 10]")).is_empty());
        assert!(vals(ind("[artifact:payload_bin = b'ZmlsZSBkYXRh']")).is_empty());
        assert!(vals(ind("[ipv4-addr:value = '1.2.3")).is_empty());
        assert!(vals(ind("[ipv4-addr:value = 'not-an-ip']")).is_empty());
        assert!(vals(ind("")).is_empty());
        // Duplicates collapse.
        assert_eq!(
            vals(ind(
                "[ipv4-addr:value = '1.2.3.4'] OR [ipv4-addr:value = '1.2.3.4']"
            ))
            .len(),
            1
        );
        // Non-STIX patterns are not parsed.
        assert!(vals(json!({"type": "indicator", "pattern_type": "snort", "pattern": "[ipv4-addr:value = '1.2.3.4']"})).is_empty());
        // No pattern_type: treated as STIX.
        assert_eq!(
            vals(json!({"type": "indicator", "pattern": "[ipv4-addr:value = '1.2.3.4']"})).len(),
            1
        );
    }

    #[test]
    fn comparisons_are_exposed() {
        assert_eq!(
            pattern_comparisons(
                "[file:hashes.'SHA-256' = 'x' AND file:name = 'a\\'b' AND file:size = 3]"
            ),
            vec![
                ("file:hashes.SHA-256".to_owned(), "x".to_owned()),
                ("file:name".to_owned(), "a'b".to_owned())
            ]
        );
    }
}
