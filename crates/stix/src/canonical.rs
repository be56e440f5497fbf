//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! Object members are sorted by the UTF-16 code units of their names, no
//! whitespace is emitted, strings use only the escapes JSON requires, and
//! numbers are written as ECMAScript's `Number.prototype.toString` writes the
//! IEEE 754 double they denote. STIX uses JCS to derive deterministic SCO ids
//! ([`sco_uuid_v5`]).

use serde_json::Value;
use uuid::Uuid;

/// The namespace STIX 2.1 uses for UUIDv5 SCO identifiers.
pub const SCO_ID_NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// The RFC 8785 canonical form of `value`.
pub fn to_canonical_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

/// The RFC 8785 canonical form of `value`, as UTF-8 bytes.
pub fn to_canonical_bytes(value: &Value) -> Vec<u8> {
    to_canonical_string(value).into_bytes()
}

/// The UUIDv5 STIX 2.1 prescribes for an SCO: namespace
/// [`SCO_ID_NAMESPACE`] over the canonical form of the object made of its
/// ID-contributing properties (which the caller selects).
pub fn sco_uuid_v5(contributing_properties: &Value) -> Uuid {
    Uuid::new_v5(
        &SCO_ID_NAMESPACE,
        to_canonical_string(contributing_properties).as_bytes(),
    )
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_value(v, out);
            }
            out.push('}');
        }
    }
}

fn write_number(n: &serde_json::Number, out: &mut String) {
    const EXACT: u64 = 1 << 53;
    if let Some(u) = n.as_u64() {
        if u <= EXACT {
            out.push_str(&u.to_string());
            return;
        }
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= EXACT {
            out.push_str(&i.to_string());
            return;
        }
    }
    // Large integers and all non-integers go through the double, as JCS says.
    out.push_str(&format_es_number(n.as_f64().unwrap_or(0.0)));
}

/// Formats a double as ECMAScript's `Number.prototype.toString` does
/// (ES2015 §7.1.12.1): the shortest digits that round-trip, written plainly
/// for exponents in [-7, 21) and as `d.ddde±x` outside. NaN and infinities,
/// which JSON cannot carry, are written as `null`.
pub fn format_es_number(x: f64) -> String {
    if !x.is_finite() {
        return "null".to_owned();
    }
    if x == 0.0 {
        return "0".to_owned(); // includes -0
    }
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "d[.ddd]e[-]x".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i64 = exp.parse().unwrap_or(0);
    let k = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let n = exp + 1; // value = 0.digits * 10^n
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.push_str(&"0".repeat(usize::try_from(n - k).unwrap_or(0)));
    } else if 0 < n && n <= 21 {
        let split = usize::try_from(n).unwrap_or(0);
        out.push_str(&digits[..split]);
        out.push('.');
        out.push_str(&digits[split..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat(usize::try_from(-n).unwrap_or(0)));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
    out
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(text: &str) -> String {
        to_canonical_string(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn rfc8785_section_3_2_2_example() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        assert_eq!(
            canon(input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn rfc8785_sorting_example() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let out = canon(input);
        let keys: Vec<String> = {
            let v: serde_json::Map<String, Value> = serde_json::from_str(&out).unwrap();
            v.keys().cloned().collect()
        };
        assert_eq!(
            keys,
            vec![
                "\r",
                "1",
                "\u{80}",
                "\u{f6}",
                "\u{20ac}",
                "\u{1f600}",
                "\u{fb33}"
            ]
        );
        assert!(out.starts_with("{\"\\r\":\"Carriage Return\",\"1\":\"One\""));
    }

    #[test]
    fn es_number_formatting() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.1, "0.1"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (9007199254740993.0, "9007199254740992"),
            (295147905179352830000.0, "295147905179352830000"),
            (4.35, "4.35"),
            (0.002, "0.002"),
            (1e30, "1e+30"),
        ];
        for (x, want) in cases {
            assert_eq!(format_es_number(*x), *want, "{x:e}");
        }
    }

    #[test]
    fn integers_and_large_numbers() {
        assert_eq!(
            canon("[0,-0,1,-1,9007199254740992]"),
            "[0,0,1,-1,9007199254740992]"
        );
        assert_eq!(canon("18446744073709551615"), "18446744073709552000");
        assert_eq!(canon("-9223372036854775808"), "-9223372036854776000");
        assert_eq!(canon("1.0"), "1");
        assert_eq!(canon("100e-2"), "1");
    }

    #[test]
    fn strings_escape_only_what_is_required() {
        assert_eq!(
            to_canonical_string(&json!("\u{0}\u{1f}\u{7f}\u{2028}é/<>&'")),
            "\"\\u0000\\u001f\u{7f}\u{2028}é/<>&'\""
        );
        assert_eq!(
            to_canonical_string(&json!("\u{8}\u{c}\t\n\r")),
            "\"\\b\\f\\t\\n\\r\""
        );
    }

    #[test]
    fn nested_structures_and_no_whitespace() {
        assert_eq!(
            canon(r#" { "b" : [ 1 , { "z":1, "a" : 2 } ], "a" : { } , "c":[] } "#),
            r#"{"a":{},"b":[1,{"a":2,"z":1}],"c":[]}"#
        );
    }

    #[test]
    fn sco_uuid_v5_matches_reference() {
        // Cross-checked with Python:
        // uuid.uuid5(UUID("00abedb4-aa42-466c-9c01-fed23315a9b7"), '{"value":"example.com"}'),
        // which is what the stix2 library computes for DomainName(value="example.com").
        assert_eq!(
            sco_uuid_v5(&json!({"value": "example.com"})).to_string(),
            "bedb4899-d24b-5401-bc86-8f6b4cc18ec7"
        );
        assert_eq!(
            sco_uuid_v5(&json!({"value": "198.51.100.3"})).to_string(),
            "28bb3599-77cd-5a82-a950-b5bc3caf07c4"
        );
    }
}
