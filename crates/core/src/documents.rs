//! Documents: members share advisories and reports with their attachments (ISO 22396 6.5.4,
//! proper format). A document is a STIX `report` (or `note`) published together with one
//! `artifact` per attachment, all under the same marking and audience, through the same
//! publishing path as any other object.
//!
//! Attachments are checked on **every** way in (this endpoint, TAXII, import, pull): an
//! artifact carrying content (`payload_bin`) must name a media type of the allow-list, its
//! content must really be of that type (signature bytes; text must be UTF-8 without NUL), it
//! must fit the node's size limit, and its SHA-256/SHA-512 hashes, when given, must match. An
//! attachment is served back only to users entitled to its artifact, never as active content.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use uuid::Uuid;

use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::release::tlp_marking_id;
use crate::sharing::*;
use crate::{policy, validate as v, Cairn};

/// The default attachment size limit: 10 MiB.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// The most attachments one document carries.
pub const MAX_ATTACHMENTS: usize = 20;
/// The custom property that keeps an attachment's file name on its artifact.
pub const FILENAME_PROPERTY: &str = "x_cairn_filename";

/// The media types an attachment may have, with the file extension each is saved under.
pub const ALLOWED_TYPES: &[(&str, &str)] = &[
    ("application/pdf", "pdf"),
    ("text/plain", "txt"),
    ("text/markdown", "md"),
    ("text/csv", "csv"),
    ("image/png", "png"),
    ("image/jpeg", "jpg"),
    ("image/gif", "gif"),
];

/// Why an attachment is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentError {
    /// Larger than the limit.
    TooLarge(String),
    /// A media type outside the allow-list.
    Unsupported(String),
    /// Content that is not what it claims, or malformed.
    Invalid(String),
}

impl AttachmentError {
    pub fn message(&self) -> &str {
        match self {
            AttachmentError::TooLarge(m)
            | AttachmentError::Unsupported(m)
            | AttachmentError::Invalid(m) => m,
        }
    }

    /// As the error a client gets for the attachment named by `field`.
    pub fn into_core(self, field: &str) -> CoreError {
        match self {
            AttachmentError::TooLarge(m) => CoreError::TooLarge(format!("{field}: {m}")),
            AttachmentError::Unsupported(m) => CoreError::UnsupportedType(format!("{field}: {m}")),
            AttachmentError::Invalid(m) => CoreError::invalid(field, m),
        }
    }
}

fn allowed_list() -> String {
    ALLOWED_TYPES
        .iter()
        .map(|(t, _)| *t)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The allow-listed media type `declared` names (case and a UTF-8 `charset` parameter of a
/// text type ignored), or why not.
pub fn media_type(declared: &str) -> Result<&'static str, AttachmentError> {
    let mut parts = declared.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((canonical, _)) = ALLOWED_TYPES.iter().find(|(t, _)| *t == essence) else {
        return Err(AttachmentError::Unsupported(format!(
            "media type `{}` is not accepted; accepted: {}",
            v::clip(declared),
            allowed_list()
        )));
    };
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let value = value.trim().trim_matches('"').to_ascii_lowercase();
        let utf8 = matches!(value.as_str(), "utf-8" | "utf8" | "us-ascii");
        if !(canonical.starts_with("text/") && name.trim().eq_ignore_ascii_case("charset") && utf8)
        {
            return Err(AttachmentError::Unsupported(format!(
                "media type parameter `{}` is not accepted (text may say charset=utf-8)",
                v::clip(param.trim())
            )));
        }
    }
    Ok(canonical)
}

/// The file extension attachments of an allow-listed type are saved under.
pub fn extension_of(media_type: &str) -> &'static str {
    ALLOWED_TYPES
        .iter()
        .find(|(t, _)| *t == media_type)
        .map(|(_, e)| *e)
        .unwrap_or("bin")
}

/// Check content against its declared type: within `max` bytes, an allow-listed type, and
/// really of that type. Returns the canonical media type.
pub fn check_attachment(
    declared: &str,
    bytes: &[u8],
    max: usize,
) -> Result<&'static str, AttachmentError> {
    if bytes.len() > max {
        return Err(AttachmentError::TooLarge(format!(
            "the attachment is {} bytes; the limit is {max} bytes",
            bytes.len()
        )));
    }
    let media = media_type(declared)?;
    if bytes.is_empty() {
        return Err(AttachmentError::Invalid("the attachment is empty".into()));
    }
    let ok = match media {
        "application/pdf" => bytes.starts_with(b"%PDF-"),
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => bytes.starts_with(b"\xff\xd8\xff"),
        "image/gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        _ => {
            // Text: UTF-8 (a byte order mark allowed) without NUL.
            if bytes.contains(&0) {
                return Err(AttachmentError::Invalid(format!(
                    "the content is not {media}: it contains NUL bytes"
                )));
            }
            std::str::from_utf8(bytes).is_ok()
        }
    };
    if !ok {
        let what = if media.starts_with("text/") {
            "it is not valid UTF-8 text".to_string()
        } else {
            format!("it does not start with the {media} signature")
        };
        return Err(AttachmentError::Invalid(format!(
            "the content is not {media}: {what}"
        )));
    }
    Ok(media)
}

/// Decode a STIX binary value (base64, RFC 4648), refusing before decoding when it cannot fit
/// `max` bytes.
pub fn decode_payload(encoded: &str, max: usize) -> Result<Vec<u8>, AttachmentError> {
    let padding = encoded.bytes().rev().take_while(|b| *b == b'=').count();
    let decoded_len = (encoded.len() / 4 * 3).saturating_sub(padding.min(2));
    if decoded_len > max {
        return Err(AttachmentError::TooLarge(format!(
            "the attachment is about {decoded_len} bytes; the limit is {max} bytes"
        )));
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| AttachmentError::Invalid(format!("the content is not valid base64: {e}")))
}

/// Check an `artifact` object on its way in. Artifacts that only point to a URL carry no
/// content and pass; those with `payload_bin` must name an accepted `mime_type` that the
/// content really has, fit `max` bytes, and match their SHA-256/SHA-512 hashes when given.
pub fn check_artifact(object: &Value, max: usize) -> Result<(), AttachmentError> {
    let Some(payload) = object.get("payload_bin") else {
        return Ok(());
    };
    let payload = payload
        .as_str()
        .ok_or_else(|| AttachmentError::Invalid("payload_bin must be a string".into()))?;
    let Some(declared) = object.get("mime_type").and_then(Value::as_str) else {
        return Err(AttachmentError::Unsupported(format!(
            "an artifact with payload_bin must name its mime_type; accepted: {}",
            allowed_list()
        )));
    };
    let bytes = decode_payload(payload, max)?;
    check_attachment(declared, &bytes, max)?;
    if let Some(hashes) = object.get("hashes").and_then(Value::as_object) {
        for (alg, value) in hashes {
            let computed = match alg.as_str() {
                "SHA-256" => hex::encode(Sha256::digest(&bytes)),
                "SHA-512" => hex::encode(Sha512::digest(&bytes)),
                _ => continue,
            };
            if !value
                .as_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(&computed))
            {
                return Err(AttachmentError::Invalid(format!(
                    "hashes.{alg} does not match the content"
                )));
            }
        }
    }
    Ok(())
}

/// A file name safe to put in a `Content-Disposition` header and to save: ASCII letters,
/// digits, `.`, `-` and `_` only, no leading dot, at most 100 characters, and ending in the
/// extension of its media type (so a saved file never opens as something else).
pub fn safe_filename(name: &str, media_type: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let mut out: String = out
        .trim_start_matches(['.', '_', '-'])
        .trim_end_matches(['.', '_'])
        .chars()
        .take(90)
        .collect();
    if out.is_empty() {
        out = "attachment".into();
    }
    let ext = extension_of(media_type);
    let has_ext = out.rsplit_once('.').is_some_and(|(_, e)| {
        e.eq_ignore_ascii_case(ext) || (ext == "jpg" && e.eq_ignore_ascii_case("jpeg"))
    });
    if !has_ext {
        out.push('.');
        out.push_str(ext);
    }
    out
}

/// What a document is published as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// A STIX `report` (an advisory, a report).
    #[default]
    Report,
    /// A STIX `note`.
    Note,
}

/// One attachment, as posted.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAttachment {
    /// The file name (kept on the artifact, made safe when served).
    pub filename: String,
    /// One of application/pdf, text/plain, text/markdown, text/csv, image/png, image/jpeg,
    /// image/gif.
    pub mime_type: String,
    /// The content, base64 (RFC 4648).
    pub content: String,
}

/// A document to publish.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDocument {
    /// `report` (default) or `note`.
    #[serde(default)]
    pub kind: DocumentKind,
    /// The report's name, or the note's abstract.
    pub title: String,
    /// The report's description, or the note's content (required for a note).
    #[serde(default)]
    pub text: String,
    /// Ids of shared objects the document is about (added to its `object_refs`).
    #[serde(default)]
    pub about: Vec<String>,
    /// The TLP level (absent: the community default).
    #[serde(default)]
    pub tlp: Option<TlpLevel>,
    /// Recipient organizations for AMBER and AMBER+STRICT (short names or ids).
    #[serde(default)]
    pub organizations: Vec<String>,
    /// Recipient users for RED (user names or ids).
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
}

/// An attachment as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishedAttachment {
    /// The artifact's id; its content is at `…/objects/{id}/content`.
    pub id: String,
    pub filename: String,
    pub mime_type: String,
    pub size: usize,
    pub sha256: String,
}

/// A document as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishedDocument {
    /// The report's (or note's) id.
    pub id: String,
    pub kind: DocumentKind,
    /// The effective TLP level.
    pub tlp: TlpLevel,
    pub attachments: Vec<PublishedAttachment>,
}

/// An attachment's content, for a user entitled to its artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentContent {
    /// A safe file name (see [`safe_filename`]).
    pub filename: String,
    /// An allow-listed media type.
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
}

/// A STIX timestamp (millisecond precision) for now.
pub(crate) fn stix_now() -> String {
    stix_time(crate::ts::now())
}

pub(crate) fn stix_time(at: time::OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default()
}

/// The marking refs and audience extension of an object published by Cairn for a user.
pub(crate) fn mark(object: &mut Value, tlp: Option<TlpLevel>, orgs: &[String], users: &[String]) {
    if let Some(level) = tlp {
        object["object_marking_refs"] = json!([tlp_marking_id(level)]);
    }
    if !orgs.is_empty() || !users.is_empty() {
        let mut ext = json!({"extension_type": "property-extension"});
        if !orgs.is_empty() {
            ext["organizations"] = json!(orgs);
        }
        if !users.is_empty() {
            ext["users"] = json!(users);
        }
        object["extensions"] = json!({ AUDIENCE_EXTENSION: ext });
    }
}

impl Cairn {
    /// Publish a document: a `report` or `note` and one `artifact` per attachment, under one
    /// marking and audience, in one transaction. Attachments are checked before anything is
    /// stored (413 above the limit, 415 for a type outside the allow-list, 422 for content
    /// that is not what it claims); a refused document stores nothing.
    pub async fn publish_document(
        &self,
        actor: &Actor,
        community: &str,
        input: NewDocument,
    ) -> CoreResult<PublishedDocument> {
        let access = self.access(Some(actor), community).await?;
        if !policy::can_share(actor, &access.memberships) {
            let event = AuditEvent::new(actor, "documents.publish", "community", community)
                .outcome(Outcome::Denied)
                .details(json!({"reason": "may not publish in this community"}));
            self.store().append_audit(event).await?;
            return Err(CoreError::forbidden(
                "you may not publish in this community (members' analysts and admins may; observers and read-only users may not)",
            ));
        }
        v::text("title", &input.title, 500)?;
        v::optional_text("text", &input.text, 100_000)?;
        if input.kind == DocumentKind::Note && input.text.trim().is_empty() {
            return Err(CoreError::invalid("text", "a note needs its text"));
        }
        if input.attachments.len() > MAX_ATTACHMENTS {
            return Err(CoreError::invalid(
                "attachments",
                format!("at most {MAX_ATTACHMENTS} attachments per document"),
            ));
        }
        if input.about.len() > 1_000 {
            return Err(CoreError::invalid("about", "at most 1000 objects"));
        }
        if input.tlp == Some(TlpLevel::Red) && input.users.is_empty() {
            return Err(CoreError::invalid(
                "users",
                "a TLP:RED document names the users who may read it",
            ));
        }
        if input.attachments.is_empty() && input.about.is_empty() {
            return Err(CoreError::invalid(
                "attachments",
                "a document carries attachments or is about shared objects (`about`)",
            ));
        }
        // Recipients are members, resolved here so a bad name is named in the answer.
        let ids = |l: Vec<Uuid>| l.iter().map(Uuid::to_string).collect::<Vec<_>>();
        let orgs = ids(self
            .member_orgs(&access, "organizations", &input.organizations)
            .await?);
        let users = ids(self.member_users(&access, &input.users).await?);
        let max = self.max_attachment_bytes();
        let now = stix_now();
        let mut objects = Vec::new();
        let mut published = Vec::new();
        for (i, a) in input.attachments.iter().enumerate() {
            let field = format!("attachments[{i}]");
            v::text(&format!("{field}.filename"), &a.filename, 255)?;
            let bytes = decode_payload(a.content.trim(), max).map_err(|e| e.into_core(&field))?;
            let media =
                check_attachment(&a.mime_type, &bytes, max).map_err(|e| e.into_core(&field))?;
            let sha256 = hex::encode(Sha256::digest(&bytes));
            // A random id (STIX allows it): the same file attached by two sources stays two
            // objects, each under its own source's marking.
            let id = format!("artifact--{}", Uuid::new_v4());
            let filename = safe_filename(&a.filename, media);
            let mut artifact = json!({
                "type": "artifact", "spec_version": "2.1", "id": id,
                "mime_type": media,
                "payload_bin": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "hashes": {"SHA-256": sha256},
                FILENAME_PROPERTY: filename,
            });
            mark(&mut artifact, input.tlp, &orgs, &users);
            objects.push(artifact);
            published.push(PublishedAttachment {
                id,
                filename,
                mime_type: media.to_string(),
                size: bytes.len(),
                sha256,
            });
        }
        let mut refs: Vec<String> = published.iter().map(|a| a.id.clone()).collect();
        for r in &input.about {
            if !refs.contains(r) {
                refs.push(r.clone());
            }
        }
        let (kind, id) = match input.kind {
            DocumentKind::Report => ("report", format!("report--{}", Uuid::new_v4())),
            DocumentKind::Note => ("note", format!("note--{}", Uuid::new_v4())),
        };
        let mut doc = json!({
            "type": kind, "spec_version": "2.1", "id": id,
            "created": now, "modified": now,
            "object_refs": refs,
        });
        match input.kind {
            DocumentKind::Report => {
                doc["name"] = json!(input.title.trim());
                doc["published"] = json!(now);
                doc["report_types"] = json!(["threat-report"]);
                if !input.text.trim().is_empty() {
                    doc["description"] = json!(input.text);
                }
            }
            DocumentKind::Note => {
                doc["abstract"] = json!(input.title.trim());
                doc["content"] = json!(input.text);
            }
        }
        mark(&mut doc, input.tlp, &orgs, &users);
        objects.insert(0, doc);
        let total: usize = published.iter().map(|a| a.size).sum();
        let audit = AuditEvent::new(actor, "documents.publish", "object", &id)
            .org(actor.org_id)
            .details(json!({
                "community": access.community.slug,
                "kind": kind,
                "attachments": published.iter().map(|a| json!({"id": a.id, "mime_type": a.mime_type, "size": a.size, "sha256": a.sha256})).collect::<Vec<_>>(),
                "bytes": total,
            }));
        let stored = self
            .publish_built(actor, &access, objects, &[], audit)
            .await?;
        let tlp = stored
            .first()
            .map(|v| v.tlp)
            .ok_or_else(|| CoreError::Internal("a published document stored nothing".into()))?;
        Ok(PublishedDocument {
            id,
            kind: input.kind,
            tlp,
            attachments: published,
        })
    }

    /// The content of an attachment (an artifact with `payload_bin`), for a user entitled to
    /// the artifact; 404 for anyone else and for artifacts without content. The content is
    /// checked again before it leaves.
    pub async fn attachment(
        &self,
        actor: &Actor,
        community: &str,
        artifact_id: &str,
    ) -> CoreResult<AttachmentContent> {
        let access = self.access(Some(actor), community).await?;
        let found = self.visible(&access, artifact_id).await?;
        let not_found =
            || CoreError::not_found(format!("attachment `{}` not found", v::clip(artifact_id)));
        if found.object_type != "artifact" {
            return Err(not_found());
        }
        let object: Value = serde_json::from_str(&found.raw)
            .map_err(|e| CoreError::Internal(format!("stored artifact: {e}")))?;
        let payload = object
            .get("payload_bin")
            .and_then(Value::as_str)
            .ok_or_else(not_found)?;
        let declared = object
            .get("mime_type")
            .and_then(Value::as_str)
            .unwrap_or("");
        // Stored content is checked without the size limit, which may have been lowered since.
        let bytes = decode_payload(payload, usize::MAX).map_err(|e| {
            CoreError::UnsupportedType(format!("this attachment is not served: {}", e.message()))
        })?;
        let media = check_attachment(declared, &bytes, usize::MAX).map_err(|e| {
            CoreError::UnsupportedType(format!("this attachment is not served: {}", e.message()))
        })?;
        let name = object
            .get(FILENAME_PROPERTY)
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                artifact_id
                    .strip_prefix("artifact--")
                    .unwrap_or(artifact_id)
                    .to_string()
            });
        Ok(AttachmentContent {
            filename: safe_filename(&name, media),
            media_type: media,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn content_must_be_what_it_claims() {
        let max = 1024;
        assert_eq!(
            check_attachment("application/pdf", b"%PDF-1.7\n", max),
            Ok("application/pdf")
        );
        assert_eq!(check_attachment("IMAGE/PNG", PNG, max), Ok("image/png"));
        assert_eq!(
            check_attachment("image/jpeg", b"\xff\xd8\xff\xe0", max),
            Ok("image/jpeg")
        );
        assert_eq!(
            check_attachment("image/gif", b"GIF89a..", max),
            Ok("image/gif")
        );
        assert_eq!(
            check_attachment("text/plain; charset=UTF-8", "grüße".as_bytes(), max),
            Ok("text/plain")
        );
        assert_eq!(
            check_attachment("text/csv", b"a,b\n1,2\n", max),
            Ok("text/csv")
        );
        assert!(matches!(
            check_attachment("application/pdf", PNG, max),
            Err(AttachmentError::Invalid(_))
        ));
        assert!(matches!(
            check_attachment("image/png", b"%PDF-", max),
            Err(AttachmentError::Invalid(_))
        ));
        assert!(matches!(
            check_attachment("text/plain", b"a\0b", max),
            Err(AttachmentError::Invalid(_))
        ));
        assert!(matches!(
            check_attachment("text/plain", b"\xff\xfe", max),
            Err(AttachmentError::Invalid(_))
        ));
        assert!(matches!(
            check_attachment("text/plain", b"", max),
            Err(AttachmentError::Invalid(_))
        ));
        assert!(matches!(
            check_attachment("text/html", b"<p>", max),
            Err(AttachmentError::Unsupported(_))
        ));
        assert!(matches!(
            check_attachment("image/svg+xml", b"<svg>", max),
            Err(AttachmentError::Unsupported(_))
        ));
        assert!(matches!(
            check_attachment("text/plain; charset=latin1", b"a", max),
            Err(AttachmentError::Unsupported(_))
        ));
        assert!(matches!(
            check_attachment("image/png; x=1", PNG, max),
            Err(AttachmentError::Unsupported(_))
        ));
        assert!(matches!(
            check_attachment("text/plain", &[b'a'; 1025], max),
            Err(AttachmentError::TooLarge(_))
        ));
    }

    #[test]
    fn artifacts_are_checked_with_their_hashes() {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let ok = json!({"type": "artifact", "mime_type": "image/png", "payload_bin": b64(PNG),
            "hashes": {"SHA-256": hex::encode(Sha256::digest(PNG)), "MD5": "whatever"}});
        assert_eq!(check_artifact(&ok, 1024), Ok(()));
        let mut lying = ok.clone();
        lying["mime_type"] = json!("application/pdf");
        assert!(matches!(
            check_artifact(&lying, 1024),
            Err(AttachmentError::Invalid(_))
        ));
        let mut wrong_hash = ok.clone();
        wrong_hash["hashes"]["SHA-256"] = json!(hex::encode(Sha256::digest(b"x")));
        assert!(check_artifact(&wrong_hash, 1024).is_err());
        let mut untyped = ok.clone();
        untyped.as_object_mut().unwrap().remove("mime_type");
        assert!(matches!(
            check_artifact(&untyped, 1024),
            Err(AttachmentError::Unsupported(_))
        ));
        assert!(matches!(
            check_artifact(&ok, 4),
            Err(AttachmentError::TooLarge(_))
        ));
        let mut bad = ok.clone();
        bad["payload_bin"] = json!("not base64!");
        assert!(matches!(
            check_artifact(&bad, 1024),
            Err(AttachmentError::Invalid(_))
        ));
        // An artifact pointing to a URL carries no content here.
        assert_eq!(
            check_artifact(
                &json!({"type": "artifact", "url": "https://x.example/a", "hashes": {"SHA-256": "00"}}),
                1
            ),
            Ok(())
        );
        // The size is refused before decoding.
        let big = json!({"mime_type": "text/plain", "payload_bin": "QUFB".repeat(1000)});
        assert!(matches!(
            check_artifact(&big, 100),
            Err(AttachmentError::TooLarge(_))
        ));
    }

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(
            safe_filename("Advisory 2026-01.pdf", "application/pdf"),
            "Advisory_2026-01.pdf"
        );
        assert_eq!(
            safe_filename("../../etc/passwd", "text/plain"),
            "etc_passwd.txt"
        );
        assert_eq!(
            safe_filename("x\"; filename=evil.html", "text/plain"),
            "x_filename_evil.html.txt"
        );
        assert_eq!(safe_filename("", "image/png"), "attachment.png");
        assert_eq!(safe_filename("photo.JPEG", "image/jpeg"), "photo.JPEG");
        assert_eq!(safe_filename("résumé.md", "text/markdown"), "r_sum_.md");
        assert!(safe_filename(&"a".repeat(500), "text/csv").len() <= 100);
    }
}
