//! Validation tests: the STIX 2.1 specification's examples must pass, and
//! each rule has an example that fails on the expected property.

use serde_json::{json, Value};

use super::*;
use crate::marking::{self, builtin_marking_definitions, builtin_objects};

fn ok(v: &Value) -> ObjectMeta {
    match validate_object(v) {
        Ok(m) => m,
        Err(e) => panic!("expected valid, got {e:#?}\nfor {v:#}"),
    }
}

fn errs(v: &Value) -> Vec<PropertyError> {
    match validate_object(v) {
        Ok(_) => panic!("expected invalid: {v:#}"),
        Err(e) => e,
    }
}

/// Asserts an error on `property` whose message contains `message`.
#[track_caller]
fn assert_err(v: &Value, property: &str, message: &str) {
    let e = errs(v);
    assert!(
        e.iter()
            .any(|x| x.property == property && x.message.contains(message)),
        "expected error on {property:?} containing {message:?}, got {e:#?}"
    );
}

fn with(base: &Value, key: &str, val: Value) -> Value {
    let mut v = base.clone();
    v[key] = val;
    v
}

fn without(base: &Value, key: &str) -> Value {
    let mut v = base.clone();
    if let Some(m) = v.as_object_mut() {
        m.shift_remove(key);
    }
    v
}

// ---- Examples from the STIX 2.1 specification -------------------------

fn attack_pattern() -> Value {
    json!({
        "type": "attack-pattern",
        "spec_version": "2.1",
        "id": "attack-pattern--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
        "created": "2016-05-12T08:17:27.000Z",
        "modified": "2016-05-12T08:17:27.000Z",
        "name": "Spear Phishing as Practiced by Adversary X",
        "description": "A particular form of spear phishing where the attacker claims that the target had won a contest, including personal details, to get them to click on a link.",
        "external_references": [{"source_name": "capec", "external_id": "CAPEC-163"}]
    })
}

fn campaign() -> Value {
    json!({
        "type": "campaign",
        "spec_version": "2.1",
        "id": "campaign--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
        "created": "2016-04-06T20:03:00.000Z",
        "modified": "2016-04-06T20:03:00.000Z",
        "name": "Green Group Attacks Against Finance",
        "description": "Campaign by Green Group against a series of targets in the financial services sector."
    })
}

fn course_of_action() -> Value {
    json!({
        "type": "course-of-action",
        "spec_version": "2.1",
        "id": "course-of-action--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "name": "Add TCP port 80 Filter Rule to the existing Block UDP 1434 Filter",
        "description": "This is how to add a filter rule to block inbound access to TCP port 80 to the existing UDP 1434 filter ..."
    })
}

fn grouping() -> Value {
    json!({
        "type": "grouping",
        "spec_version": "2.1",
        "id": "grouping--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3",
        "created_by_ref": "identity--a463ffb3-1bd9-4d94-b02d-74e4f1658283",
        "created": "2015-12-21T19:59:11.000Z",
        "modified": "2015-12-21T19:59:11.000Z",
        "name": "The Black Vine Cyberespionage Group",
        "description": "A simple collection of Black Vine Cyberespionage Group attributed intel",
        "context": "suspicious-activity",
        "object_refs": [
            "indicator--26ffb872-1dd9-446e-b6f5-d58527e5b5d2",
            "campaign--83422c77-904c-4dc1-aff5-5c38f3a2c55c",
            "relationship--f82356ae-fe6c-437c-9c24-6b64314ae68a",
            "file--0203b5c8-f8b6-4ddb-9ad0-527d727f968b"
        ]
    })
}

fn identity() -> Value {
    json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": "identity--e5f1b90a-d9b6-40ab-81a9-8a29df4b6b65",
        "created": "2016-04-06T20:03:00.000Z",
        "modified": "2016-04-06T20:03:00.000Z",
        "name": "ACME Widget, Inc.",
        "identity_class": "organization"
    })
}

fn incident() -> Value {
    json!({
        "type": "incident",
        "spec_version": "2.1",
        "id": "incident--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "name": "Breach of ACME"
    })
}

fn indicator() -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "indicator_types": ["malicious-activity"],
        "name": "Poison Ivy Malware",
        "description": "This file is part of Poison Ivy",
        "pattern": "[ file:hashes.'SHA-256' = '4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877' ]",
        "pattern_type": "stix",
        "valid_from": "2016-01-01T00:00:00Z"
    })
}

fn infrastructure() -> Value {
    json!({
        "type": "infrastructure",
        "spec_version": "2.1",
        "id": "infrastructure--38c47d93-d984-4fd9-b87b-d69d0841628d",
        "created": "2016-05-07T11:22:30.000Z",
        "modified": "2016-05-07T11:22:30.000Z",
        "name": "Poison Ivy C2",
        "infrastructure_types": ["command-and-control"]
    })
}

fn intrusion_set() -> Value {
    json!({
        "type": "intrusion-set",
        "spec_version": "2.1",
        "id": "intrusion-set--4e78f46f-a023-4e5f-bc24-71b3ca22ec29",
        "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "name": "Bobcat Breakin",
        "description": "Incidents usually feature a shared TTP of a bobcat being released within the building containing network access, scaring users to leave their computers without locking them first. Still determining where the threat actors are getting the bobcats.",
        "aliases": ["Zookeeper"],
        "goals": ["acquisition-theft", "harassment", "damage"]
    })
}

fn location() -> Value {
    json!({
        "type": "location",
        "spec_version": "2.1",
        "id": "location--a6e9345f-5a15-4c29-8bb3-7dcc5d168d64",
        "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
        "created": "2016-04-06T20:03:00.000Z",
        "modified": "2016-04-06T20:03:00.000Z",
        "latitude": 48.8566,
        "longitude": 2.3522
    })
}

fn malware() -> Value {
    json!({
        "type": "malware",
        "spec_version": "2.1",
        "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
        "created": "2016-05-12T08:17:27.000Z",
        "modified": "2016-05-12T08:17:27.000Z",
        "name": "Cryptolocker",
        "description": "A variant of the cryptolocker family",
        "malware_types": ["ransomware"],
        "is_family": false
    })
}

fn malware_analysis() -> Value {
    json!({
        "type": "malware-analysis",
        "spec_version": "2.1",
        "id": "malware-analysis--d25167b7-fed0-4068-9ccd-a73dd2c5b07c",
        "created": "2016-11-01T17:00:00.000Z",
        "modified": "2016-11-01T17:00:00.000Z",
        "product": "microsoft",
        "version": "5.1.0",
        "result": "malicious",
        "sample_ref": "file--a9e1bd9c-8a4a-55a1-8a6c-e2aa5d4ab3a5"
    })
}

fn note() -> Value {
    json!({
        "type": "note",
        "spec_version": "2.1",
        "id": "note--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
        "created": "2016-05-12T08:17:27.000Z",
        "modified": "2016-05-12T08:17:27.000Z",
        "external_references": [{"source_name": "job-tracker", "external_id": "job-id-1234"}],
        "abstract": "Tracking Team Note#1",
        "content": "This note indicates the various steps taken by the threat analyst team to investigate this specific campaign. Step 1) Do a scan 2) Review scanned results for identified hosts not known by external intel….etc",
        "authors": ["John Doe"],
        "object_refs": ["campaign--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"]
    })
}

fn observed_data() -> Value {
    json!({
        "type": "observed-data",
        "spec_version": "2.1",
        "id": "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf",
        "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
        "created": "2016-04-06T19:58:16.000Z",
        "modified": "2016-04-06T19:58:16.000Z",
        "first_observed": "2015-12-21T19:00:00Z",
        "last_observed": "2015-12-21T19:00:00Z",
        "number_observed": 50,
        "object_refs": [
            "ipv4-addr--efcd5e80-570d-4131-b213-62cb18eaa6a8",
            "domain-name--ecb120bf-2694-4902-a737-62b74539a41b"
        ]
    })
}

fn opinion() -> Value {
    json!({
        "type": "opinion",
        "spec_version": "2.1",
        "id": "opinion--b01efc25-77b4-4003-b18b-f6e24b5cd9f7",
        "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
        "created": "2016-05-12T08:17:27.000Z",
        "modified": "2016-05-12T08:17:27.000Z",
        "object_refs": ["relationship--16d2358f-3b0d-4c88-b047-0da2f7ed4471"],
        "opinion": "strongly-disagree",
        "explanation": "This doesn't seem like it is feasible. We've seen how PandaCat has attacked Spanish infrastructure over the last 3 years, so this change in targeting seems too great to be viable."
    })
}

fn report() -> Value {
    json!({
        "type": "report",
        "spec_version": "2.1",
        "id": "report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3",
        "created_by_ref": "identity--a463ffb3-1bd9-4d94-b02d-74e4f1658283",
        "created": "2015-12-21T19:59:11.000Z",
        "modified": "2015-12-21T19:59:11.000Z",
        "name": "The Black Vine Cyberespionage Group",
        "description": "A simple report with an indicator and campaign",
        "published": "2016-01-20T17:00:00.000Z",
        "report_types": ["campaign"],
        "object_refs": [
            "indicator--26ffb872-1dd9-446e-b6f5-d58527e5b5d2",
            "campaign--83422c77-904c-4dc1-aff5-5c38f3a2c55c",
            "relationship--f82356ae-fe6c-437c-9c24-6b64314ae68a"
        ]
    })
}

fn threat_actor() -> Value {
    json!({
        "type": "threat-actor",
        "spec_version": "2.1",
        "id": "threat-actor--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "threat_actor_types": ["crime-syndicate"],
        "name": "Evil Org",
        "description": "The Evil Org threat actor group",
        "aliases": ["Syndicate 1", "Evil Syndicate 99"],
        "roles": ["director"],
        "goals": ["Steal bank money", "Steal credit cards"],
        "sophistication": "advanced",
        "resource_level": "team",
        "primary_motivation": "personal-gain"
    })
}

fn tool() -> Value {
    json!({
        "type": "tool",
        "spec_version": "2.1",
        "id": "tool--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "tool_types": ["remote-access"],
        "name": "VNC"
    })
}

fn vulnerability() -> Value {
    json!({
        "type": "vulnerability",
        "spec_version": "2.1",
        "id": "vulnerability--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
        "created": "2016-05-12T08:17:27.000Z",
        "modified": "2016-05-12T08:17:27.000Z",
        "name": "CVE-2016-1234",
        "external_references": [{"source_name": "cve", "external_id": "CVE-2016-1234"}]
    })
}

fn relationship() -> Value {
    json!({
        "type": "relationship",
        "spec_version": "2.1",
        "id": "relationship--57b56a43-b8b0-4cba-9deb-34e3e1faed9e",
        "created": "2016-04-06T20:06:37.000Z",
        "modified": "2016-04-06T20:06:37.000Z",
        "relationship_type": "indicates",
        "source_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "target_ref": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"
    })
}

fn sighting() -> Value {
    json!({
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--ee20065d-2555-424f-ad9e-0f8428623c75",
        "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
        "created": "2016-04-06T20:08:31.000Z",
        "modified": "2016-04-06T20:08:31.000Z",
        "first_seen": "2015-12-21T19:00:00Z",
        "last_seen": "2015-12-21T19:00:00Z",
        "count": 50,
        "sighting_of_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "observed_data_refs": ["observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf"],
        "where_sighted_refs": ["identity--b67d30ff-02ac-498a-92f9-32f845f448ff"]
    })
}

fn scos() -> Vec<Value> {
    vec![
        json!({"type": "artifact", "spec_version": "2.1", "id": "artifact--6f437177-6e48-5cf8-9d9e-872a2bddd641",
               "mime_type": "application/zip", "payload_bin": "ZX7HIBWPmFuwDQ==",
               "encryption_algorithm": "mime-type-indicated", "decryption_key": "My voice is my passport"}),
        json!({"type": "artifact", "spec_version": "2.1", "id": "artifact--ca17bcf8-9846-5ab4-8662-75c1bf6e63ee",
               "mime_type": "image/jpeg", "url": "https://upload.wikimedia.org/wikipedia/commons/b/b4/JPEG_example_JPG_RIP_100.jpg",
               "hashes": {"SHA-256": "fb6c1c76ec5c4bff56b96f21ab1f1e4e7b4ff4a57d9e14bfbaaa2b0b5c0e3f47"}}),
        json!({"type": "autonomous-system", "spec_version": "2.1", "id": "autonomous-system--f720c34b-98ae-597f-ade5-27dc241e8c74",
               "number": 15139, "name": "Slime Industries", "rir": "ARIN"}),
        json!({"type": "directory", "spec_version": "2.1", "id": "directory--93c0a9b0-520d-545d-9094-1a08ddf46b05",
               "path": "C:\\Windows\\System32"}),
        json!({"type": "domain-name", "spec_version": "2.1", "id": "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5",
               "value": "example.com"}),
        json!({"type": "email-addr", "spec_version": "2.1", "id": "email-addr--2d77a846-6264-5d51-b586-e43822ea1ea3",
               "value": "john@example.com", "display_name": "John Doe"}),
        json!({"type": "email-message", "spec_version": "2.1", "id": "email-message--72b7698f-10c2-565a-a2a6-b4996a2f2265",
               "from_ref": "email-addr--9b7e29b3-fd8d-562e-b3f0-8fc8134f5dda",
               "to_refs": ["email-addr--d1b3bf0c-f02a-51a1-8102-11aba7959868"],
               "is_multipart": false, "date": "1997-11-21T15:55:06.000Z", "subject": "Saying Hello"}),
        json!({"type": "email-message", "spec_version": "2.1", "id": "email-message--cf9b4b7f-14c8-5955-8065-020e0316b559",
               "is_multipart": true, "body_multipart": [
                   {"content_type": "text/plain; charset=utf-8", "content_disposition": "inline", "body": "Cats are funny!"},
                   {"content_type": "image/png", "content_disposition": "attachment; filename=\"tabby.png\"",
                    "body_raw_ref": "artifact--4cce66f8-6eaa-53cb-85d5-3a85fca3a6c5"}]}),
        json!({"type": "file", "spec_version": "2.1", "id": "file--e277603e-1060-5ad4-9937-c26c97f1ca68",
               "name": "foo.dll", "hashes": {"MD5": "d41d8cd98f00b204e9800998ecf8427e"}, "size": 25536}),
        json!({"type": "file", "spec_version": "2.1", "id": "file--73c4cd13-7206-5100-88ee-822c42d3f02a",
               "hashes": {"SHA-256": "ceafbfd424be2ca4a5f0402cae090dda2fb0526cf521b60b60077c0f622b285a"},
               "extensions": {"ntfs-ext": {"alternate_data_streams": [{"name": "second.stream", "size": 25536}]}}}),
        json!({"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
               "value": "198.51.100.3"}),
        json!({"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--4d22aae0-2bf9-5427-8819-e4f6abf20a53",
               "value": "198.51.100.0/24"}),
        json!({"type": "ipv6-addr", "spec_version": "2.1", "id": "ipv6-addr--1e61d36c-a16c-53b7-a80f-2a00161c96b1",
               "value": "2001:0db8:85a3:0000:0000:8a2e:0370:7334"}),
        json!({"type": "mac-addr", "spec_version": "2.1", "id": "mac-addr--65cfcf98-8a6e-5a1b-8f61-379ac4f92d00",
               "value": "d2:fb:49:24:37:18"}),
        json!({"type": "mutex", "spec_version": "2.1", "id": "mutex--eba44954-d4e4-5d3b-814c-2b17dd8de300",
               "name": "__CLEANSWEEP__"}),
        json!({"type": "network-traffic", "spec_version": "2.1", "id": "network-traffic--2568d22a-8998-58eb-99ec-3c8ca74f527d",
               "src_ref": "ipv4-addr--4d22aae0-2bf9-5427-8819-e4f6abf20a53",
               "dst_ref": "ipv4-addr--03b708d9-7761-5523-ab75-5ea096294a68",
               "protocols": ["ipv4", "tcp"], "dst_port": 80}),
        json!({"type": "process", "spec_version": "2.1", "id": "process--f52a906a-0dfc-40bd-92f1-e7778ead38a9",
               "pid": 1221, "created_time": "2016-01-20T14:11:25.55Z", "command_line": "./gedit-bin --new-window",
               "image_ref": "file--e04f22d1-be2c-59de-add8-10f61d15fe20"}),
        json!({"type": "software", "spec_version": "2.1", "id": "software--a1827f6d-ca53-5605-9e93-4316cd22a00a",
               "name": "Word", "cpe": "cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*", "version": "2002", "vendor": "Microsoft"}),
        json!({"type": "url", "spec_version": "2.1", "id": "url--c1477287-23ac-5971-a010-5c287877fa60",
               "value": "https://example.com/research/index.html"}),
        json!({"type": "user-account", "spec_version": "2.1", "id": "user-account--0d5b424b-93b8-5cd8-ac36-306e1789d63c",
               "user_id": "1001", "account_login": "jdoe", "account_type": "unix", "display_name": "John Doe",
               "is_service_account": false, "is_privileged": false, "can_escalate_privs": true,
               "account_created": "2016-01-20T12:31:12Z"}),
        json!({"type": "windows-registry-key", "spec_version": "2.1", "id": "windows-registry-key--2ba37ae7-2745-5082-9dfd-9486dad41016",
               "key": "hkey_local_machine\\system\\bar\\foo",
               "values": [{"name": "Foo", "data": "qwerty", "data_type": "REG_SZ"}]}),
        json!({"type": "x509-certificate", "spec_version": "2.1", "id": "x509-certificate--463d7b2a-8516-5a50-a3d7-6f801465d5de",
               "issuer": "C=ZA, ST=Western Cape, L=Cape Town, O=Thawte Consulting cc, OU=Certification Services Division, CN=Thawte Premium Server CA/emailAddress=premium-server@thawte.com",
               "validity_not_before": "2016-03-12T12:00:00Z", "validity_not_after": "2016-08-21T12:00:00Z",
               "subject": "C=US, ST=Maryland, L=Pasadena, O=Brent Baccala, OU=FreeSoft, CN=www.freesoft.org/emailAddress=baccala@freesoft.org",
               "serial_number": "36:f7:d4:32:f4:ab:70:ea:d3:ce:98:6e:ea:99:93:49:32:0a:b7:06"}),
    ]
}

fn statement_marking() -> Value {
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--d81f86b9-975b-4c0b-875e-810c5ad45a4f",
        "created": "2016-08-01T00:00:00.000Z",
        "definition_type": "statement",
        "definition": {"statement": "Copyright 2016, Example Corp"}
    })
}

fn language_content() -> Value {
    json!({
        "type": "language-content",
        "id": "language-content--b86bd89f-98bb-4fa9-8cb2-9ad421da981d",
        "spec_version": "2.1",
        "created": "2017-02-08T21:31:22.007Z",
        "modified": "2017-02-08T21:31:22.007Z",
        "object_ref": "campaign--12a111f0-b824-4baf-a224-83b80237a094",
        "object_modified": "2017-02-08T21:31:22.007Z",
        "contents": {
            "de": {"name": "Bank Angriff 1", "description": "Weitere Informationen über Banküberfall"},
            "fr": {"name": "Attaque Bank 1", "description": "Plus d'informations sur la crise bancaire"}
        }
    })
}

fn extension_definition() -> Value {
    json!({
        "id": "extension-definition--9c59fd79-4215-4ba2-920d-3e4f320e1e62",
        "type": "extension-definition",
        "spec_version": "2.1",
        "name": "Extension Foo 1",
        "description": "This schema adds two properties to a STIX object at the toplevel",
        "created": "2014-02-20T09:16:08.989Z",
        "modified": "2014-02-20T09:16:08.989Z",
        "created_by_ref": "identity--11b76a96-5d2b-45e0-8a5a-f6994f370731",
        "schema": "https://www.example.com/schema-foo-1/v1/",
        "version": "1.2.1",
        "extension_types": ["toplevel-property-extension"],
        "extension_properties": ["toxicity", "rank"]
    })
}

fn custom_object() -> Value {
    json!({
        "type": "x-acme-widget",
        "spec_version": "2.1",
        "id": "x-acme-widget--2c51b2e0-6a0b-4d2b-8a43-0e3d9bd7d0c1",
        "created": "2020-01-01T00:00:00.000Z",
        "modified": "2020-01-02T00:00:00.000Z",
        "name": "Widget",
        "x_acme_color": "blue",
        "x_acme_parts": [{"x_part_ref": "x-acme-part--c51b2e06-a0b4-4d2b-8a43-0e3d9bd7d0c1"}]
    })
}

fn all_sdos() -> Vec<Value> {
    vec![
        attack_pattern(),
        campaign(),
        course_of_action(),
        grouping(),
        identity(),
        incident(),
        indicator(),
        infrastructure(),
        intrusion_set(),
        location(),
        malware(),
        malware_analysis(),
        note(),
        observed_data(),
        opinion(),
        report(),
        threat_actor(),
        tool(),
        vulnerability(),
    ]
}

// ---- Valid objects ------------------------------------------------------

#[test]
fn every_sdo_example_is_valid() {
    let sdos = all_sdos();
    assert_eq!(sdos.len(), SDO_TYPES.len());
    for v in &sdos {
        let m = ok(v);
        assert_eq!(m.kind, ObjectKind::Sdo);
        assert_eq!(m.object_type, v["type"].as_str().unwrap());
        assert_eq!(m.id.as_str(), v["id"].as_str().unwrap());
        assert_eq!(m.spec_version.as_deref(), Some("2.1"));
        assert_eq!(m.version, m.modified);
        assert!(m.version.is_some());
    }
}

#[test]
fn every_sro_example_is_valid() {
    for v in [relationship(), sighting()] {
        assert_eq!(ok(&v).kind, ObjectKind::Sro);
    }
}

#[test]
fn every_sco_type_has_a_valid_example() {
    let scos = scos();
    for t in SCO_TYPES {
        assert!(scos.iter().any(|s| s["type"] == *t), "no example for {t}");
    }
    for v in &scos {
        let m = ok(v);
        assert_eq!(m.kind, ObjectKind::Sco);
        assert_eq!(m.version, None);
        assert_eq!(m.created, None);
    }
    // SCOs may omit spec_version.
    ok(&without(&scos[4], "spec_version"));
}

#[test]
fn meta_is_extracted() {
    let mut v = indicator();
    v["object_marking_refs"] = json!([marking::TLP_AMBER_ID]);
    v["granular_markings"] = json!([
        {"selectors": ["description"], "marking_ref": marking::TLP_RED_ID},
        {"selectors": ["name"], "marking_ref": marking::TLP_RED_ID},
        {"selectors": ["name"], "lang": "en"}
    ]);
    v["revoked"] = json!(true);
    v["modified"] = json!("2017-01-01T00:00:00.123456Z");
    let m = ok(&v);
    assert_eq!(
        m.created_by_ref.as_deref(),
        Some("identity--f431f809-377b-45e0-aa1c-6a4751cae5ff")
    );
    assert_eq!(
        m.object_marking_refs,
        vec![marking::TLP_AMBER_ID.to_owned()]
    );
    assert_eq!(
        m.granular_marking_refs,
        vec![marking::TLP_RED_ID.to_owned()]
    );
    assert!(m.revoked);
    assert_eq!(m.name.as_deref(), Some("Poison Ivy Malware"));
    assert_eq!(
        m.description.as_deref(),
        Some("This file is part of Poison Ivy")
    );
    assert_eq!(
        m.created.as_ref().unwrap().as_str(),
        "2016-04-06T20:03:48.000Z"
    );
    assert_eq!(
        m.version.as_ref().unwrap().as_str(),
        "2017-01-01T00:00:00.123456Z"
    );
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["kind"], "sdo");
    assert_eq!(json["version"], "2017-01-01T00:00:00.123456Z");
}

#[test]
fn marking_language_extension_and_custom_objects_are_valid() {
    let m = ok(&statement_marking());
    assert_eq!(m.kind, ObjectKind::MarkingDefinition);
    assert_eq!(
        m.version.as_ref().map(Timestamp::as_str),
        Some("2016-08-01T00:00:00.000Z")
    );
    assert_eq!(ok(&language_content()).kind, ObjectKind::LanguageContent);
    assert_eq!(
        ok(&extension_definition()).kind,
        ObjectKind::ExtensionDefinition
    );
    let m = ok(&custom_object());
    assert_eq!(m.kind, ObjectKind::Custom);
    assert_eq!(m.object_type, "x-acme-widget");
    // A custom SCO-like object without spec_version/created.
    ok(
        &json!({"type": "x-acme-sensor", "id": "x-acme-sensor--2c51b2e0-6a0b-4d2b-8a43-0e3d9bd7d0c1", "x_serial": 7}),
    );
    // Incident core extension companion types are not x- prefixed.
    ok(&json!({
        "type": "event", "spec_version": "2.1", "id": "event--2c51b2e0-6a0b-4d2b-8a43-0e3d9bd7d0c1",
        "created": "2023-01-01T00:00:00.000Z", "modified": "2023-01-01T00:00:00.000Z",
        "extensions": {"extension-definition--4ca6de00-5b0d-45ef-a1dc-ea7279ea910e": {"extension_type": "new-sdo"}}
    }));
}

#[test]
fn builtin_objects_are_valid() {
    for v in builtin_objects() {
        ok(&v);
    }
}

#[test]
fn custom_properties_are_accepted() {
    let v = with(
        &indicator(),
        "x_acme_score",
        json!({"a": [1, 2, {"b": null}]}),
    );
    ok(&v);
    let v = with(
        &indicator(),
        "x_acme_source_ref",
        json!("identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"),
    );
    ok(&v);
}

#[test]
fn extensions_are_accepted() {
    let v = with(
        &indicator(),
        "extensions",
        json!({
            "extension-definition--9c59fd79-4215-4ba2-920d-3e4f320e1e62": {"extension_type": "property-extension", "rank": 5},
            "x-acme-ext": {"a": 1}
        }),
    );
    ok(&v);
}

// ---- type and id --------------------------------------------------------

#[test]
fn not_an_object() {
    let e = errs(&json!([1]));
    assert_eq!(e[0].property, "");
    assert_eq!(e[0].message, "object is a JSON array, not a JSON object");
}

#[test]
fn type_rules() {
    assert_err(
        &without(&indicator(), "type"),
        "type",
        "required property is missing",
    );
    assert_err(
        &with(&indicator(), "type", json!(5)),
        "type",
        "must be a string",
    );
    assert_err(
        &with(&indicator(), "type", json!("Indicator")),
        "type",
        "lowercase",
    );
    assert_err(&with(&indicator(), "type", json!("ab")), "type", "3 to 250");
    assert_err(
        &with(&indicator(), "type", json!("x_acme")),
        "type",
        "lowercase",
    );
    assert_err(
        &with(&indicator(), "type", json!("bundle")),
        "type",
        "not a STIX object",
    );
}

#[test]
fn id_rules() {
    assert_err(
        &without(&indicator(), "id"),
        "id",
        "required property is missing",
    );
    assert_err(
        &with(&indicator(), "id", json!(1)),
        "id",
        "must be a string",
    );
    assert_err(
        &with(
            &indicator(),
            "id",
            json!("malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
        ),
        "id",
        "identifier type \"malware\" does not match the object's type \"indicator\"",
    );
    assert_err(
        &with(&indicator(), "id", json!("indicator--1234")),
        "id",
        "not a hyphenated RFC 4122 UUID",
    );
    assert_err(
        &with(
            &indicator(),
            "id",
            json!("indicator-8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
        ),
        "id",
        "type--UUID",
    );
}

#[test]
fn collects_all_errors() {
    let v = json!({
        "type": "indicator",
        "id": "indicator--nope",
        "created": "yesterday",
        "confidence": 101,
        "labels": []
    });
    let e = errs(&v);
    let props: Vec<&str> = e.iter().map(|x| x.property.as_str()).collect();
    for p in [
        "id",
        "spec_version",
        "created",
        "modified",
        "confidence",
        "labels",
        "pattern",
        "pattern_type",
        "valid_from",
    ] {
        assert!(props.contains(&p), "missing error for {p}: {e:#?}");
    }
}

// ---- common properties --------------------------------------------------

#[test]
fn spec_version_rules() {
    assert_err(
        &without(&indicator(), "spec_version"),
        "spec_version",
        "required property is missing",
    );
    assert_err(
        &with(&indicator(), "spec_version", json!("2.0")),
        "spec_version",
        "must be \"2.1\"",
    );
    assert_err(
        &with(&scos()[4], "spec_version", json!("2.0")),
        "spec_version",
        "must be \"2.1\"",
    );
    assert_err(
        &without(&statement_marking(), "spec_version"),
        "spec_version",
        "required",
    );
    assert_err(
        &without(&language_content(), "spec_version"),
        "spec_version",
        "required",
    );
    assert_err(
        &without(&extension_definition(), "spec_version"),
        "spec_version",
        "required",
    );
}

#[test]
fn created_modified_rules() {
    assert_err(
        &without(&campaign(), "created"),
        "created",
        "required property is missing",
    );
    assert_err(
        &without(&campaign(), "modified"),
        "modified",
        "required property is missing",
    );
    assert_err(
        &without(&relationship(), "modified"),
        "modified",
        "required",
    );
    assert_err(
        &with(&campaign(), "created", json!("2016-04-06T20:03:00Z")),
        "created",
        "at least millisecond precision",
    );
    assert_err(
        &with(&campaign(), "modified", json!("2016-04-06T20:03:00.1Z")),
        "modified",
        "at least millisecond precision",
    );
    assert_err(
        &with(
            &campaign(),
            "created",
            json!("2016-04-06T20:03:00.000+00:00"),
        ),
        "created",
        "RFC 3339",
    );
    assert_err(
        &with(&campaign(), "created", json!("2016-02-30T20:03:00.000Z")),
        "created",
        "not a valid date",
    );
    assert_err(
        &with(&campaign(), "created", json!(1460000000)),
        "created",
        "must be a timestamp string",
    );
    assert_err(
        &with(&campaign(), "modified", json!("2016-04-06T20:02:59.999Z")),
        "modified",
        "must not be earlier than created",
    );
    // Sub-millisecond precision is kept and compared.
    let v = with(
        &campaign(),
        "modified",
        json!("2016-04-06T20:03:00.0000001Z"),
    );
    ok(&v);
    let v = with(
        &with(
            &campaign(),
            "created",
            json!("2016-04-06T20:03:00.0000002Z"),
        ),
        "modified",
        json!("2016-04-06T20:03:00.0000001Z"),
    );
    assert_err(&v, "modified", "must not be earlier than created");
}

#[test]
fn labels_confidence_lang_revoked() {
    assert_err(
        &with(&indicator(), "labels", json!("x")),
        "labels",
        "list of strings",
    );
    assert_err(
        &with(&indicator(), "labels", json!([])),
        "labels",
        "must not be an empty list",
    );
    assert_err(
        &with(&indicator(), "labels", json!(["a", 2])),
        "labels[1]",
        "must be a string",
    );
    assert_err(
        &with(&indicator(), "confidence", json!(101)),
        "confidence",
        "from 0 to 100",
    );
    assert_err(
        &with(&indicator(), "confidence", json!(-1)),
        "confidence",
        "from 0 to 100",
    );
    assert_err(
        &with(&indicator(), "confidence", json!(5.5)),
        "confidence",
        "must be an integer",
    );
    assert_err(
        &with(&indicator(), "confidence", json!("50")),
        "confidence",
        "must be an integer",
    );
    ok(&with(&indicator(), "confidence", json!(100)));
    assert_err(
        &with(&indicator(), "lang", json!(["en"])),
        "lang",
        "must be a string",
    );
    assert_err(
        &with(&indicator(), "revoked", json!("true")),
        "revoked",
        "must be a boolean",
    );
}

#[test]
fn external_references_rules() {
    assert_err(
        &with(&indicator(), "external_references", json!({})),
        "external_references",
        "list of objects",
    );
    assert_err(
        &with(&indicator(), "external_references", json!([])),
        "external_references",
        "empty list",
    );
    assert_err(
        &with(&indicator(), "external_references", json!(["x"])),
        "external_references[0]",
        "must be a JSON object",
    );
    assert_err(
        &with(
            &indicator(),
            "external_references",
            json!([{"source_name": "a", "url": "u"}, {"external_id": "x"}]),
        ),
        "external_references[1].source_name",
        "required property is missing",
    );
    assert_err(
        &with(
            &indicator(),
            "external_references",
            json!([{"source_name": 1, "url": "u"}]),
        ),
        "external_references[0].source_name",
        "must be a string",
    );
    assert_err(
        &with(
            &indicator(),
            "external_references",
            json!([{"source_name": "a"}]),
        ),
        "external_references[0]",
        "at least one of description, url or external_id",
    );
    assert_err(
        &with(
            &indicator(),
            "external_references",
            json!([{"source_name": "a", "url": "u", "hashes": {"SHA-256": "abc"}}]),
        ),
        "external_references[0].hashes.SHA-256",
        "must be 64 hexadecimal digits",
    );
}

#[test]
fn created_by_ref_rules() {
    assert_err(
        &with(
            &indicator(),
            "created_by_ref",
            json!("malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"),
        ),
        "created_by_ref",
        "must refer to \"identity\", not a \"malware\"",
    );
    assert_err(
        &with(&indicator(), "created_by_ref", json!("identity--bad")),
        "created_by_ref",
        "not a valid identifier",
    );
    assert_err(
        &with(
            &indicator(),
            "created_by_ref",
            json!(["identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"]),
        ),
        "created_by_ref",
        "must be an identifier",
    );
}

#[test]
fn object_marking_refs_rules() {
    assert_err(
        &with(
            &indicator(),
            "object_marking_refs",
            json!(["identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"]),
        ),
        "object_marking_refs[0]",
        "must refer to \"marking-definition\"",
    );
    assert_err(
        &with(&indicator(), "object_marking_refs", json!([])),
        "object_marking_refs",
        "empty list",
    );
    assert_err(
        &with(
            &indicator(),
            "object_marking_refs",
            json!(marking::TLP_RED_ID),
        ),
        "object_marking_refs",
        "list of identifiers",
    );
    assert_err(
        &with(
            &indicator(),
            "object_marking_refs",
            json!(["marking-definition--x"]),
        ),
        "object_marking_refs[0]",
        "not a valid identifier",
    );
    assert_err(
        &with(&indicator(), "object_marking_refs", json!([7])),
        "object_marking_refs[0]",
        "must be an identifier",
    );
}

#[test]
fn granular_markings_rules() {
    let gm = |v: Value| with(&indicator(), "granular_markings", v);
    assert_err(&gm(json!({})), "granular_markings", "list of objects");
    assert_err(&gm(json!([])), "granular_markings", "empty list");
    assert_err(
        &gm(json!([{"marking_ref": marking::TLP_RED_ID}])),
        "granular_markings[0].selectors",
        "required property is missing",
    );
    assert_err(
        &gm(json!([{"selectors": [], "marking_ref": marking::TLP_RED_ID}])),
        "granular_markings[0].selectors",
        "empty list",
    );
    assert_err(
        &gm(json!([{"selectors": [1], "marking_ref": marking::TLP_RED_ID}])),
        "granular_markings[0].selectors[0]",
        "must be a string",
    );
    assert_err(
        &gm(json!([{"selectors": ["description"]}])),
        "granular_markings[0]",
        "must have marking_ref or lang",
    );
    assert_err(
        &gm(
            json!([{"selectors": ["description"], "lang": "en", "marking_ref": marking::TLP_RED_ID}]),
        ),
        "granular_markings[0]",
        "not both",
    );
    assert_err(
        &gm(
            json!([{"selectors": ["description"], "marking_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"}]),
        ),
        "granular_markings[0].marking_ref",
        "must refer to \"marking-definition\"",
    );
    assert_err(
        &gm(json!([{"selectors": ["description"], "marking_ref": "marking-definition--zzz"}])),
        "granular_markings[0].marking_ref",
        "not a valid identifier",
    );
    assert_err(
        &gm(json!([{"selectors": ["nonexistent"], "marking_ref": marking::TLP_RED_ID}])),
        "granular_markings[0].selectors[0]",
        "does not refer to content",
    );
    // Selectors with list indexes.
    let mut v = indicator();
    v["external_references"] =
        json!([{"source_name": "a", "url": "u"}, {"source_name": "b", "url": "v"}]);
    v["granular_markings"] = json!([{"selectors": ["external_references.[1].url", "indicator_types.[0]", "external_references[0]"], "marking_ref": marking::TLP_RED_ID}]);
    ok(&v);
    v["granular_markings"] =
        json!([{"selectors": ["external_references.[2].url"], "marking_ref": marking::TLP_RED_ID}]);
    assert_err(
        &v,
        "granular_markings[0].selectors[0]",
        "does not refer to content",
    );
}

#[test]
fn selector_resolution() {
    let v = json!({"a": {"b": [1, {"c": 2}]}, "d": "x"});
    for good in ["a", "a.b", "a.b.[0]", "a.b.[1].c", "a.b[1].c", "d"] {
        assert!(selector_resolves(&v, good), "{good}");
    }
    for bad in [
        "", "z", "a.z", "a.b.[2]", "a.b.[x]", "d.e", "a..b", "a.b.[1", "[0]", "a.b.[-1]",
    ] {
        assert!(!selector_resolves(&v, bad), "{bad}");
    }
}

#[test]
fn extensions_rules() {
    let ext = |v: Value| with(&indicator(), "extensions", v);
    assert_err(&ext(json!([])), "extensions", "must be a JSON object");
    assert_err(&ext(json!({})), "extensions", "must not be empty");
    assert_err(
        &ext(json!({"acme": {}})),
        "extensions.acme",
        "ending in \"-ext\"",
    );
    assert_err(
        &ext(json!({"extension-definition--nope": {}})),
        "extensions.extension-definition--nope",
        "not a valid identifier",
    );
    assert_err(
        &ext(json!({"x-acme-ext": 5})),
        "extensions.x-acme-ext",
        "must be a JSON object",
    );
    assert_err(
        &ext(
            json!({"extension-definition--9c59fd79-4215-4ba2-920d-3e4f320e1e62": {"extension_type": "new-thing"}}),
        ),
        "extensions.extension-definition--9c59fd79-4215-4ba2-920d-3e4f320e1e62.extension_type",
        "must be one of",
    );
}

#[test]
fn kill_chain_phases_rules() {
    ok(&with(
        &indicator(),
        "kill_chain_phases",
        json!([{"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "reconnaissance"}]),
    ));
    assert_err(
        &with(
            &indicator(),
            "kill_chain_phases",
            json!([{"kill_chain_name": "x"}]),
        ),
        "kill_chain_phases[0].phase_name",
        "required",
    );
    assert_err(
        &with(&indicator(), "kill_chain_phases", json!([])),
        "kill_chain_phases",
        "empty list",
    );
}

#[test]
fn property_name_rules() {
    assert_err(
        &with(&indicator(), "x-acme-bad", json!(1)),
        "x-acme-bad",
        "ASCII letters, digits and underscores",
    );
    assert_err(&with(&indicator(), "", json!(1)), "", "ASCII letters");
    assert_err(
        &with(&indicator(), &"x".repeat(251), json!(1)),
        &"x".repeat(251),
        "at most 250",
    );
}

#[test]
fn ref_properties_everywhere() {
    assert_err(
        &with(&indicator(), "x_acme_ref", json!("nope")),
        "x_acme_ref",
        "not a valid identifier",
    );
    assert_err(
        &with(&indicator(), "x_acme_refs", json!(["nope"])),
        "x_acme_refs[0]",
        "not a valid identifier",
    );
    assert_err(
        &with(&indicator(), "x_acme_refs", json!([])),
        "x_acme_refs",
        "empty list",
    );
    assert_err(
        &with(
            &indicator(),
            "x_nested",
            json!({"inner": [{"thing_ref": 5}]}),
        ),
        "x_nested.inner[0].thing_ref",
        "must be an identifier",
    );
    // observed-data's deprecated objects use local refs.
    let mut od = without(&observed_data(), "object_refs");
    od["objects"] = json!({
        "0": {"type": "ipv4-addr", "value": "10.0.0.1"},
        "1": {"type": "network-traffic", "src_ref": "0", "protocols": ["tcp"]}
    });
    ok(&od);
}

// ---- per-type rules -----------------------------------------------------

#[test]
fn sdos_requiring_name() {
    for v in [
        attack_pattern(),
        campaign(),
        course_of_action(),
        identity(),
        incident(),
        infrastructure(),
        intrusion_set(),
        report(),
        threat_actor(),
        tool(),
        vulnerability(),
    ] {
        assert_err(&without(&v, "name"), "name", "required property is missing");
        assert_err(&with(&v, "name", json!(1)), "name", "must be a string");
    }
}

#[test]
fn first_seen_last_seen_order() {
    for v in [
        campaign(),
        intrusion_set(),
        threat_actor(),
        infrastructure(),
        malware(),
    ] {
        let v = with(&v, "first_seen", json!("2016-01-02T00:00:00Z"));
        ok(&with(&v, "last_seen", json!("2016-01-02T00:00:00Z")));
        assert_err(
            &with(&v, "last_seen", json!("2016-01-01T00:00:00Z")),
            "last_seen",
            "must not be earlier than first_seen",
        );
    }
}

#[test]
fn malware_analysis_times_are_typed_but_not_ordered() {
    // STIX 2.1 orders first_seen/last_seen, but not analysis_started/analysis_ended.
    let v = with(
        &malware_analysis(),
        "analysis_started",
        json!("2016-01-02T00:00:00Z"),
    );
    ok(&with(&v, "analysis_ended", json!("2016-01-01T00:00:00Z")));
    assert_err(
        &with(&v, "analysis_ended", json!("yesterday")),
        "analysis_ended",
        "timestamp",
    );
}

#[test]
fn grouping_rules() {
    assert_err(&without(&grouping(), "context"), "context", "required");
    assert_err(
        &without(&grouping(), "object_refs"),
        "object_refs",
        "required",
    );
    assert_err(
        &with(&grouping(), "object_refs", json!([])),
        "object_refs",
        "empty list",
    );
}

#[test]
fn indicator_rules() {
    assert_err(&without(&indicator(), "pattern"), "pattern", "required");
    assert_err(
        &with(&indicator(), "pattern", json!("")),
        "pattern",
        "non-empty string",
    );
    assert_err(
        &without(&indicator(), "pattern_type"),
        "pattern_type",
        "required",
    );
    assert_err(
        &without(&indicator(), "valid_from"),
        "valid_from",
        "required",
    );
    assert_err(
        &with(&indicator(), "valid_from", json!("2016-01-01")),
        "valid_from",
        "RFC 3339",
    );
    ok(&with(
        &indicator(),
        "valid_until",
        json!("2016-01-01T00:00:00.001Z"),
    ));
    assert_err(
        &with(&indicator(), "valid_until", json!("2016-01-01T00:00:00Z")),
        "valid_until",
        "must be later than valid_from",
    );
    assert_err(
        &with(&indicator(), "valid_until", json!("2015-01-01T00:00:00Z")),
        "valid_until",
        "must be later than valid_from",
    );
    assert_err(
        &with(&indicator(), "indicator_types", json!([])),
        "indicator_types",
        "empty list",
    );
}

#[test]
fn location_rules() {
    ok(&json!({
        "type": "location", "spec_version": "2.1", "id": "location--a6e9345f-5a15-4c29-8bb3-7dcc5d168d64",
        "created": "2016-04-06T20:03:00.000Z", "modified": "2016-04-06T20:03:00.000Z",
        "region": "northern-america", "country": "us"
    }));
    ok(
        &with(&without(&location(), "latitude"), "country", json!("fr"))
            .as_object()
            .map(|m| {
                let mut m = m.clone();
                m.shift_remove("longitude");
                Value::Object(m)
            })
            .unwrap(),
    );
    let bare = without(&without(&location(), "latitude"), "longitude");
    assert_err(&bare, "", "region, country, or latitude and longitude");
    assert_err(
        &without(&location(), "longitude"),
        "longitude",
        "required when latitude is present",
    );
    assert_err(
        &with(&location(), "latitude", json!(91)),
        "latitude",
        "from -90 to 90",
    );
    assert_err(
        &with(&location(), "longitude", json!(-181.5)),
        "longitude",
        "from -180 to 180",
    );
    assert_err(
        &with(&location(), "latitude", json!("48.8")),
        "latitude",
        "must be a number",
    );
    ok(&with(&location(), "precision", json!(1000.0)));
    assert_err(
        &with(&bare, "precision", json!(10)),
        "precision",
        "requires latitude and longitude",
    );
}

#[test]
fn malware_rules() {
    assert_err(
        &without(&malware(), "is_family"),
        "is_family",
        "required property is missing",
    );
    assert_err(
        &with(&malware(), "is_family", json!("no")),
        "is_family",
        "must be a boolean",
    );
    ok(&without(&malware(), "name"));
    assert_err(
        &with(&without(&malware(), "name"), "is_family", json!(true)),
        "name",
        "required when is_family is true",
    );
    ok(&with(&malware(), "is_family", json!(true)));
    assert_err(
        &with(
            &malware(),
            "sample_refs",
            json!(["identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"]),
        ),
        "sample_refs[0]",
        "must refer to \"file\" or \"artifact\"",
    );
}

#[test]
fn malware_analysis_rules() {
    assert_err(
        &without(&malware_analysis(), "product"),
        "product",
        "required",
    );
    assert_err(
        &without(&malware_analysis(), "result"),
        "result",
        "one of result or analysis_sco_refs",
    );
    ok(&with(
        &without(&malware_analysis(), "result"),
        "analysis_sco_refs",
        json!(["file--a9e1bd9c-8a4a-55a1-8a6c-e2aa5d4ab3a5"]),
    ));
}

#[test]
fn note_rules() {
    assert_err(&without(&note(), "content"), "content", "required");
    assert_err(&without(&note(), "object_refs"), "object_refs", "required");
    assert_err(
        &with(&note(), "authors", json!("me")),
        "authors",
        "list of strings",
    );
}

#[test]
fn observed_data_rules() {
    for k in ["first_observed", "last_observed", "number_observed"] {
        assert_err(&without(&observed_data(), k), k, "required");
    }
    assert_err(
        &with(&observed_data(), "number_observed", json!(0)),
        "number_observed",
        "from 1 to 999999999",
    );
    assert_err(
        &with(&observed_data(), "number_observed", json!(1_000_000_000)),
        "number_observed",
        "from 1 to 999999999",
    );
    ok(&with(
        &observed_data(),
        "number_observed",
        json!(999_999_999),
    ));
    assert_err(
        &with(
            &observed_data(),
            "last_observed",
            json!("2015-12-21T18:59:59Z"),
        ),
        "last_observed",
        "must not be earlier than first_observed",
    );
    assert_err(
        &without(&observed_data(), "object_refs"),
        "object_refs",
        "required",
    );
    assert_err(
        &with(
            &observed_data(),
            "objects",
            json!({"0": {"type": "ipv4-addr", "value": "1.2.3.4"}}),
        ),
        "objects",
        "must not be present together with object_refs",
    );
}

#[test]
fn opinion_rules() {
    assert_err(
        &with(&opinion(), "opinion", json!("meh")),
        "opinion",
        "must be one of: strongly-disagree, disagree, neutral, agree, strongly-agree",
    );
    assert_err(&without(&opinion(), "opinion"), "opinion", "required");
    assert_err(
        &without(&opinion(), "object_refs"),
        "object_refs",
        "required",
    );
    for o in [
        "strongly-disagree",
        "disagree",
        "neutral",
        "agree",
        "strongly-agree",
    ] {
        ok(&with(&opinion(), "opinion", json!(o)));
    }
}

#[test]
fn report_rules() {
    assert_err(&without(&report(), "published"), "published", "required");
    assert_err(
        &with(&report(), "published", json!("2016-01-20")),
        "published",
        "RFC 3339",
    );
    assert_err(
        &without(&report(), "object_refs"),
        "object_refs",
        "required",
    );
    assert_err(
        &with(&report(), "object_refs", json!(["not-an-id"])),
        "object_refs[0]",
        "not a valid identifier",
    );
}

#[test]
fn relationship_rules() {
    for k in ["relationship_type", "source_ref", "target_ref"] {
        assert_err(
            &without(&relationship(), k),
            k,
            "required property is missing",
        );
    }
    assert_err(
        &with(&relationship(), "relationship_type", json!("Indicates")),
        "relationship_type",
        "lowercase",
    );
    assert_err(
        &with(&relationship(), "source_ref", json!("indicator--bad")),
        "source_ref",
        "not a valid identifier",
    );
    assert_err(
        &with(&relationship(), "target_ref", json!(marking::TLP_RED_ID)),
        "target_ref",
        "not a \"marking-definition\"",
    );
    ok(&with(
        &relationship(),
        "target_ref",
        json!("ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"),
    ));
    let timed = with(&relationship(), "start_time", json!("2016-01-01T00:00:00Z"));
    assert_err(
        &with(&timed, "stop_time", json!("2016-01-01T00:00:00Z")),
        "stop_time",
        "must be later than start_time",
    );
}

#[test]
fn sighting_rules() {
    assert_err(
        &without(&sighting(), "sighting_of_ref"),
        "sighting_of_ref",
        "required",
    );
    assert_err(
        &with(
            &sighting(),
            "sighting_of_ref",
            json!("ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"),
        ),
        "sighting_of_ref",
        "must refer to a STIX Domain Object",
    );
    assert_err(
        &with(&sighting(), "count", json!(-1)),
        "count",
        "from 0 to 999999999",
    );
    assert_err(
        &with(&sighting(), "count", json!(1_000_000_000)),
        "count",
        "from 0 to 999999999",
    );
    ok(&with(&sighting(), "count", json!(0)));
    assert_err(
        &with(&sighting(), "last_seen", json!("2015-12-21T18:00:00Z")),
        "last_seen",
        "must not be earlier than first_seen",
    );
    assert_err(
        &with(
            &sighting(),
            "where_sighted_refs",
            json!(["malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"]),
        ),
        "where_sighted_refs[0]",
        "\"identity\" or \"location\"",
    );
    assert_err(
        &with(
            &sighting(),
            "observed_data_refs",
            json!(["identity--b67d30ff-02ac-498a-92f9-32f845f448ff"]),
        ),
        "observed_data_refs[0]",
        "\"observed-data\"",
    );
}

fn sco(t: &str) -> Value {
    scos().into_iter().find(|s| s["type"] == t).unwrap()
}

#[test]
fn sco_rules() {
    let art = sco("artifact");
    assert_err(
        &with(&art, "url", json!("https://x.example/a")),
        "url",
        "must not be present together with payload_bin",
    );
    assert_err(
        &without(&art, "payload_bin"),
        "payload_bin",
        "one of payload_bin or url is required",
    );
    assert_err(
        &with(
            &without(&art, "payload_bin"),
            "url",
            json!("https://x.example/a"),
        ),
        "hashes",
        "required when url is present",
    );
    assert_err(
        &without(&sco("autonomous-system"), "number"),
        "number",
        "required",
    );
    assert_err(
        &with(&sco("autonomous-system"), "number", json!("AS15139")),
        "number",
        "must be an integer",
    );
    assert_err(&without(&sco("directory"), "path"), "path", "required");
    for t in [
        "domain-name",
        "email-addr",
        "url",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
    ] {
        assert_err(
            &without(&sco(t), "value"),
            "value",
            "required property is missing",
        );
    }
    assert_err(
        &with(&sco("domain-name"), "value", json!("")),
        "value",
        "non-empty string",
    );
    assert_err(
        &with(&sco("ipv4-addr"), "value", json!("198.51.100.300")),
        "value",
        "IPv4 address",
    );
    assert_err(
        &with(&sco("ipv6-addr"), "value", json!("2001:db8::g")),
        "value",
        "IPv6 address",
    );
    assert_err(
        &with(&sco("mac-addr"), "value", json!("D2:FB:49:24:37:18")),
        "value",
        "MAC-48",
    );
    assert_err(
        &with(&sco("mac-addr"), "value", json!("d2-fb-49-24-37-18")),
        "value",
        "MAC-48",
    );
    let em = sco("email-message");
    assert_err(&without(&em, "is_multipart"), "is_multipart", "required");
    assert_err(
        &with(&em, "body_multipart", json!([{"body": "x"}])),
        "body_multipart",
        "is_multipart is false",
    );
    assert_err(
        &with(&with(&em, "is_multipart", json!(true)), "body", json!("x")),
        "body",
        "is_multipart is true",
    );
    assert_err(
        &with(
            &em,
            "from_ref",
            json!("url--c1477287-23ac-5971-a010-5c287877fa60"),
        ),
        "from_ref",
        "\"email-addr\"",
    );
    let file = sco("file");
    assert_err(
        &without(&without(&file, "name"), "hashes"),
        "",
        "at least one of name or hashes",
    );
    ok(&without(&file, "name"));
    ok(&without(&file, "hashes"));
    assert_err(
        &with(&file, "hashes", json!({"MD5": "xyz"})),
        "hashes.MD5",
        "must be 32 hexadecimal digits",
    );
    assert_err(
        &with(&file, "hashes", json!({"SHA-1": 5})),
        "hashes.SHA-1",
        "must be a string",
    );
    assert_err(
        &with(&file, "hashes", json!({})),
        "hashes",
        "must not be empty",
    );
    assert_err(&with(&file, "size", json!(-5)), "size", "from 0");
    ok(&with(
        &file,
        "hashes",
        json!({"SSDEEP": "3:a+JraNvsgzsVqSwHq9:tJuOgzsko", "sha256": "ceafbfd424be2ca4a5f0402cae090dda2fb0526cf521b60b60077c0f622b285a"}),
    ));
    assert_err(&without(&sco("mutex"), "name"), "name", "required");
    assert_err(&without(&sco("software"), "name"), "name", "required");
    let nt = sco("network-traffic");
    assert_err(&without(&nt, "protocols"), "protocols", "required");
    assert_err(
        &with(&nt, "protocols", json!([])),
        "protocols",
        "empty list",
    );
    assert_err(
        &without(&without(&nt, "src_ref"), "dst_ref"),
        "src_ref",
        "one of src_ref or dst_ref",
    );
    assert_err(
        &with(&nt, "dst_port", json!(70000)),
        "dst_port",
        "from 0 to 65535",
    );
    assert_err(
        &with(&sco("ipv4-addr"), "defanged", json!("no")),
        "defanged",
        "must be a boolean",
    );
}

// ---- marking definitions ------------------------------------------------

#[test]
fn marking_definition_rules() {
    let m = statement_marking();
    assert_err(
        &without(&m, "created"),
        "created",
        "required property is missing",
    );
    assert_err(
        &with(&m, "modified", json!("2016-08-01T00:00:00.000Z")),
        "modified",
        "cannot be versioned",
    );
    assert_err(
        &without(&m, "definition"),
        "definition",
        "required when definition_type is present",
    );
    assert_err(
        &without(&m, "definition_type"),
        "definition_type",
        "required when definition is present",
    );
    assert_err(
        &without(&without(&m, "definition"), "definition_type"),
        "",
        "definition_type and definition, or extensions",
    );
    assert_err(
        &with(&m, "definition", json!({"text": "x"})),
        "definition.statement",
        "required",
    );
    assert_err(
        &with(&m, "definition", json!("x")),
        "definition",
        "must be a JSON object",
    );
    // Extension-based marking definitions are fine.
    let ext = json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--3a65884d-005a-4290-8335-cb2d778a83ce",
        "created": "2022-01-01T00:00:00.000Z", "name": "Some ACS marking",
        "extensions": {"extension-definition--3a65884d-005a-4290-8335-cb2d778a83ce": {"extension_type": "property-extension", "identifier": "x"}}
    });
    ok(&ext);
}

#[test]
fn builtin_tlp_definitions_validate_and_forgeries_are_refused() {
    for d in builtin_marking_definitions() {
        ok(&d);
        // Any change to a published definition is refused.
        let mut forged = d.clone();
        forged["name"] = json!("TLP:CLEAR");
        if forged != d {
            assert_err(&forged, "id", "altered TLP/PAP definitions are refused");
        }
        let forged = with(
            &d,
            "created_by_ref",
            json!("identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"),
        );
        assert_err(&forged, "id", "differs from it");
    }
    // TLP 1.0 RED content under the WHITE id.
    let mut v = builtin_marking_definitions()[0].clone();
    v["definition"] = json!({"tlp": "red"});
    assert_err(&v, "id", "is the published TLP:WHITE marking definition");
    // TLP 2.0 RED claiming to be CLEAR.
    let mut v = builtin_marking_definitions()[8].clone();
    v["extensions"][marking::TLP2_EXTENSION_DEFINITION_ID]["tlp_2_0"] = json!("clear");
    assert_err(&v, "id", "is the published TLP:RED marking definition");
    // Key order and whitespace do not matter.
    let text = r#"{"name":"TLP:GREEN","id":"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da","definition":{"tlp":"green"},"type":"marking-definition","definition_type":"tlp","created":"2017-01-20T00:00:00.000Z","spec_version":"2.1"}"#;
    ok(&serde_json::from_str(text).unwrap());
}

#[test]
fn other_tlp_markings_are_refused() {
    let v = json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--1d3d2b4e-4b5f-4a6a-9c8d-2f1e0a9b8c7d",
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp", "name": "TLP:WHITE",
        "definition": {"tlp": "white"}
    });
    assert_err(
        &v,
        "definition_type",
        "only the four TLP 1.0 marking definitions",
    );
    let v = with(&v, "definition", json!({"tlp": "purple"}));
    assert_err(
        &v,
        "definition.tlp",
        "must be one of: white, green, amber, red",
    );
    let v = json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--1d3d2b4e-4b5f-4a6a-9c8d-2f1e0a9b8c7d",
        "created": "2022-10-01T00:00:00.000Z", "name": "TLP:CLEAR",
        "extensions": {marking::TLP2_EXTENSION_DEFINITION_ID: {"extension_type": "property-extension", "tlp_2_0": "clear"}}
    });
    assert_err(
        &v,
        &format!("extensions.{}", marking::TLP2_EXTENSION_DEFINITION_ID),
        "only the five published TLP 2.0 marking definitions",
    );
    let v = json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--1d3d2b4e-4b5f-4a6a-9c8d-2f1e0a9b8c7d",
        "created": "2025-01-01T00:00:00.000Z", "name": "PAP:CLEAR",
        "extensions": {marking::PAP_EXTENSION_DEFINITION_ID: {"extension_type": "property-extension", "pap": "clear"}}
    });
    assert_err(
        &v,
        &format!("extensions.{}", marking::PAP_EXTENSION_DEFINITION_ID),
        "only Cairn's four PAP marking definitions",
    );
    // A forged PAP definition.
    let mut v = marking::pap_marking_definitions()[3].clone();
    v["extensions"][marking::PAP_EXTENSION_DEFINITION_ID]["pap"] = json!("clear");
    assert_err(&v, "id", "is the published PAP:RED marking definition");
}

// ---- language content and extension definitions ------------------------

#[test]
fn language_content_rules() {
    let lc = language_content();
    assert_err(&without(&lc, "object_ref"), "object_ref", "required");
    assert_err(&without(&lc, "contents"), "contents", "required");
    assert_err(
        &with(&lc, "contents", json!({})),
        "contents",
        "must not be empty",
    );
    assert_err(
        &with(&lc, "contents", json!({"de": "Bank"})),
        "contents.de",
        "must be a JSON object",
    );
    assert_err(
        &with(&lc, "object_modified", json!("2017-02-08T21:31:22Z")),
        "object_modified",
        "millisecond",
    );
    assert_err(&without(&lc, "modified"), "modified", "required");
}

#[test]
fn extension_definition_rules() {
    let ed = extension_definition();
    for k in [
        "name",
        "schema",
        "version",
        "extension_types",
        "created_by_ref",
    ] {
        assert_err(&without(&ed, k), k, "required property is missing");
    }
    assert_err(
        &with(&ed, "extension_types", json!([])),
        "extension_types",
        "empty list",
    );
    assert_err(
        &with(&ed, "extension_types", json!(["new-sdo", "bogus"])),
        "extension_types[1]",
        "must be one of",
    );
    assert_err(
        &with(&ed, "extension_properties", json!("x")),
        "extension_properties",
        "list of strings",
    );
    for t in [
        "new-sdo",
        "new-sro",
        "new-sco",
        "property-extension",
        "toplevel-property-extension",
    ] {
        ok(&with(&ed, "extension_types", json!([t])));
    }
}

#[test]
fn kinds_by_type() {
    assert_eq!(ObjectKind::of_type("indicator"), ObjectKind::Sdo);
    assert_eq!(ObjectKind::of_type("sighting"), ObjectKind::Sro);
    assert_eq!(ObjectKind::of_type("file"), ObjectKind::Sco);
    assert_eq!(
        ObjectKind::of_type("marking-definition"),
        ObjectKind::MarkingDefinition
    );
    assert_eq!(
        ObjectKind::of_type("language-content"),
        ObjectKind::LanguageContent
    );
    assert_eq!(
        ObjectKind::of_type("extension-definition"),
        ObjectKind::ExtensionDefinition
    );
    assert_eq!(ObjectKind::of_type("x-foo"), ObjectKind::Custom);
    assert_eq!(ObjectKind::Sco.as_str(), "sco");
    let e = PropertyError {
        property: "a.b".into(),
        message: "m".into(),
    };
    assert_eq!(e.to_string(), "a.b: m");
}
