//! Property tests over the public API.

use cairn_stix::canonical::{format_es_number, to_canonical_string};
use cairn_stix::id::parse_uuid_strict;
use cairn_stix::{parse_envelope, validate_object, ObjectKind, Timestamp};
use proptest::prelude::*;
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::{Builder, Uuid};

fn uuid_v4() -> impl Strategy<Value = Uuid> {
    any::<[u8; 16]>().prop_map(|b| Builder::from_random_bytes(b).into_uuid())
}

/// Millisecond timestamps between 1970 and 2100.
fn instant() -> impl Strategy<Value = OffsetDateTime> {
    (0i64..4_102_444_800, 0u32..1000).prop_map(|(s, ms)| {
        OffsetDateTime::from_unix_timestamp(s).unwrap()
            + time::Duration::milliseconds(i64::from(ms))
    })
}

prop_compose! {
    fn valid_indicator()(
        uuid in uuid_v4(),
        created in instant(),
        delta_ms in 0i64..10_000_000_000,
        name in "[A-Za-z0-9 ._-]{1,40}",
        ip in any::<[u8; 4]>(),
        confidence in proptest::option::of(0i64..=100),
        labels in proptest::collection::vec("[a-z][a-z0-9-]{0,15}", 1..4),
        valid_until_delta in proptest::option::of(1i64..1_000_000_000),
    ) -> Value {
        let modified = created + time::Duration::milliseconds(delta_ms);
        let valid_from = Timestamp::from_datetime(created, 0);
        let mut v = json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": format!("indicator--{uuid}"),
            "created": Timestamp::from_datetime_millis(created).as_str(),
            "modified": Timestamp::from_datetime_millis(modified).as_str(),
            "name": name,
            "indicator_types": ["malicious-activity"],
            "pattern": format!("[ipv4-addr:value = '{}.{}.{}.{}']", ip[0], ip[1], ip[2], ip[3]),
            "pattern_type": "stix",
            "valid_from": valid_from.as_str(),
            "labels": labels,
            "object_marking_refs": [cairn_stix::marking::TLP_GREEN_ID]
        });
        if let Some(c) = confidence {
            v["confidence"] = json!(c);
        }
        if let Some(d) = valid_until_delta {
            let until = valid_from.instant() + time::Duration::seconds(d);
            v["valid_until"] = json!(Timestamp::from_datetime(until, 3).as_str());
        }
        v
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(|i| json!(i)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
        "[\\x00-\\x1f\"\\\\]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(("\\PC{0,8}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_valid_indicators_validate(v in valid_indicator()) {
        let meta = validate_object(&v).map_err(|e| TestCaseError::fail(format!("{e:?} for {v}")))?;
        prop_assert_eq!(meta.kind, ObjectKind::Sdo);
        prop_assert_eq!(meta.id.as_str(), v["id"].as_str().unwrap());
        prop_assert_eq!(meta.version.as_ref().map(Timestamp::as_str), v["modified"].as_str());
        prop_assert!(meta.created <= meta.modified);
    }

    #[test]
    fn garbage_uuid_in_id_is_refused(v in valid_indicator(), garbage in "\\PC{0,40}") {
        prop_assume!(parse_uuid_strict(&garbage).is_err());
        let mut v = v;
        v["id"] = json!(format!("indicator--{garbage}"));
        let errs = validate_object(&v).expect_err("garbage id accepted");
        prop_assert!(errs.iter().any(|e| e.property == "id"), "{:?}", errs);
    }

    #[test]
    fn one_bad_character_in_uuid_is_refused(
        v in valid_indicator(),
        pos in 0usize..36,
        bad in prop_oneof![Just('g'), Just('z'), Just('-'), Just(' '), Just('G'), Just('é'), Just('{')],
    ) {
        let id = v["id"].as_str().unwrap().to_owned();
        let (ty, uuid) = id.split_once("--").unwrap();
        let mutated: String = uuid
            .chars()
            .enumerate()
            .map(|(i, c)| if i == pos { bad } else { c })
            .collect();
        prop_assume!(mutated != uuid);
        let mut v = v;
        v["id"] = json!(format!("{ty}--{mutated}"));
        let errs = validate_object(&v).expect_err("mutated id accepted");
        prop_assert!(errs.iter().any(|e| e.property == "id"), "{:?}", errs);
    }

    #[test]
    fn validation_never_panics(v in arb_json()) {
        let _ = validate_object(&v);
        let _ = cairn_stix::extract_observable_values(&v);
    }

    #[test]
    fn validation_never_panics_on_near_valid_objects(
        base in valid_indicator(),
        key in prop_oneof![
            Just("created"), Just("modified"), Just("id"), Just("type"), Just("spec_version"),
            Just("granular_markings"), Just("extensions"), Just("external_references"),
            Just("object_marking_refs"), Just("confidence"), Just("labels"), Just("pattern"),
            Just("valid_until"), Just("kill_chain_phases"), Just("x_thing_ref"),
        ],
        value in arb_json(),
    ) {
        let mut v = base;
        v[key] = value;
        let _ = validate_object(&v);
        let _ = cairn_stix::extract_observable_values(&v);
    }

    #[test]
    fn es_number_format_round_trips(x in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let s = format_es_number(x);
        let back: f64 = s.parse().unwrap();
        prop_assert!(back == x || (back == 0.0 && x == 0.0), "{} -> {} -> {}", x, s, back);
        prop_assert!(!s.contains("e") || s.contains("e+") || s.contains("e-"));
    }

    #[test]
    fn canonical_form_is_idempotent_and_valid_json(v in arb_json()) {
        let c = to_canonical_string(&v);
        let parsed: Value = serde_json::from_str(&c).unwrap();
        prop_assert_eq!(to_canonical_string(&parsed), c.clone());
        prop_assert!(!c.contains('\n'));
    }

    #[test]
    fn envelope_keeps_each_object_verbatim(
        objs in proptest::collection::vec(
            proptest::collection::vec(("[a-z_]{1,8}", arb_json()), 0..5), 0..5),
        pretty in any::<bool>(),
    ) {
        let texts: Vec<String> = objs
            .into_iter()
            .map(|kv| {
                let o = Value::Object(kv.into_iter().collect());
                if pretty { serde_json::to_string_pretty(&o).unwrap() } else { o.to_string() }
            })
            .collect();
        let body = format!("{{ \"objects\" : [ {} ] }}", texts.join(" ,\n"));
        let parsed = parse_envelope(body.as_bytes()).unwrap();
        prop_assert_eq!(parsed.len(), texts.len());
        for (p, t) in parsed.iter().zip(&texts) {
            prop_assert_eq!(p.raw_json(), t.as_str());
            let reparsed: Value = serde_json::from_str(t).unwrap();
            prop_assert_eq!(&p.value, &reparsed);
        }
    }

    #[test]
    fn envelope_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_envelope(&bytes);
    }

    #[test]
    fn timestamps_parse_what_they_format(t in instant(), digits in 0usize..=9) {
        let ts = Timestamp::from_datetime(t, digits);
        let back = Timestamp::parse(ts.as_str()).unwrap();
        prop_assert_eq!(&back, &ts);
        prop_assert_eq!(back.fraction_digits(), digits);
    }
}
