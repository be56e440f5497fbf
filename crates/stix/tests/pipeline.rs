//! End to end: envelope → validation → markings → values.

use cairn_stix::marking::{self, Tlp};
use cairn_stix::values::ValueKind;
use cairn_stix::{
    extract_observable_values, most_restrictive, parse_envelope, validate_object, ObjectKind,
};

const BUNDLE: &str = r#"{
  "type": "bundle",
  "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
  "objects": [
    {
      "type": "indicator",
      "spec_version": "2.1",
      "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
      "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
      "created": "2016-04-06T20:03:48.000Z",
      "modified": "2016-04-06T20:03:48.000Z",
      "indicator_types": ["malicious-activity"],
      "name": "Poison Ivy Malware",
      "pattern": "[ file:hashes.'SHA-256' = '4BAC27393BDD9777CE02453256C5577CD02275510B2227F473D03F533924F877' ] OR [ipv4-addr:value = '198.51.100.1']",
      "pattern_type": "stix",
      "valid_from": "2016-01-01T00:00:00Z",
      "object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
                              "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"]
    },
    {"type":"ipv6-addr","spec_version":"2.1","id":"ipv6-addr--1e61d36c-a16c-53b7-a80f-2a00161c96b1","value":"2001:0db8:85a3:0000:0000:8a2e:0370:7334"},
    {
      "type": "marking-definition",
      "spec_version": "2.1",
      "id": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
      "created": "2022-10-01T00:00:00.000Z",
      "name": "TLP:AMBER+STRICT",
      "extensions": {
        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
          "extension_type": "property-extension",
          "tlp_2_0" : "amber+strict"
        }
      }
    },
    {"type": "indicator", "id": "indicator--nope"}
  ]
}"#;

#[test]
fn bundle_through_the_pipeline() {
    let objects = parse_envelope(BUNDLE.as_bytes()).unwrap();
    assert_eq!(objects.len(), 4);
    // Raw bytes are exactly what was posted (including the odd spacing).
    assert!(objects[2]
        .raw_json()
        .contains("\"tlp_2_0\" : \"amber+strict\""));
    assert!(BUNDLE.contains(objects[1].raw_json()));

    let ind = validate_object(&objects[0].value).unwrap();
    assert_eq!(ind.kind, ObjectKind::Sdo);
    assert_eq!(
        most_restrictive(ind.object_marking_refs.iter().map(String::as_str)),
        Some(Tlp::AmberStrict)
    );
    assert_eq!(
        extract_observable_values(&objects[0].value),
        vec![
            (
                ValueKind::Sha256,
                "4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877".to_owned()
            ),
            (ValueKind::Ipv4, "198.51.100.1".to_owned()),
        ]
    );

    let ip = validate_object(&objects[1].value).unwrap();
    assert_eq!(ip.kind, ObjectKind::Sco);
    assert_eq!(ip.version, None);
    assert_eq!(
        extract_observable_values(&objects[1].value),
        vec![(ValueKind::Ipv6, "2001:db8:85a3::8a2e:370:7334".to_owned())]
    );

    let md = validate_object(&objects[2].value).unwrap();
    assert_eq!(md.kind, ObjectKind::MarkingDefinition);
    assert_eq!(
        marking::tlp_for_marking_ref(md.id.as_str()),
        Some(Tlp::AmberStrict)
    );

    let errs = validate_object(&objects[3].value).unwrap_err();
    assert!(errs.iter().any(|e| e.property == "id"));
    assert!(errs.iter().any(|e| e.property == "pattern"));
}

#[test]
fn every_builtin_object_round_trips_through_an_envelope() {
    let objects = marking::builtin_objects();
    let body = serde_json::json!({ "objects": objects }).to_string();
    let parsed = parse_envelope(body.as_bytes()).unwrap();
    assert_eq!(parsed.len(), 15);
    for (p, o) in parsed.iter().zip(&objects) {
        assert_eq!(&p.value, o);
        validate_object(&p.value).unwrap();
    }
}
