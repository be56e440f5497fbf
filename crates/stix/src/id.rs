//! STIX identifiers (`type--UUID`) and object type names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Shortest allowed STIX type name.
pub const MIN_TYPE_LEN: usize = 3;
/// Longest allowed STIX type name.
pub const MAX_TYPE_LEN: usize = 250;

/// Why a string is not a valid STIX identifier or type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string has no `--` separating the type from the UUID.
    #[error("identifier must have the form type--UUID")]
    MissingSeparator,
    /// The type part is not a valid STIX type name.
    #[error("{0}")]
    BadType(TypeNameError),
    /// The UUID part is malformed.
    #[error("identifier's UUID part {0:?} is not a hyphenated RFC 4122 UUID")]
    BadUuid(String),
    /// The UUID part is well formed but its variant is not RFC 4122/9562.
    #[error("identifier's UUID part {0:?} does not have the RFC 4122 variant")]
    BadUuidVariant(String),
    /// The UUID part is well formed but has no defined version (1 to 8).
    #[error("identifier's UUID part {0:?} has no valid UUID version (1 to 8)")]
    BadUuidVersion(String),
}

/// Why a string is not a valid STIX type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeNameError {
    /// Shorter than 3 or longer than 250 characters.
    #[error("type name must be 3 to 250 characters long (got {0})")]
    Length(usize),
    /// Contains a character outside `a-z`, `0-9` and `-`.
    #[error("type name may contain only lowercase ASCII letters, digits and hyphens")]
    Charset,
    /// Does not start with a letter, ends with a hyphen, or contains `--`.
    #[error("type name must start with a letter, must not end with a hyphen and must not contain \"--\"")]
    Shape,
}

/// Checks a STIX object type name: 3 to 250 characters of `a-z`, `0-9` and
/// `-`, starting with a letter, not ending with `-`, without `--`.
pub fn check_type_name(name: &str) -> Result<(), TypeNameError> {
    let len = name.len();
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(TypeNameError::Charset);
    }
    if !(MIN_TYPE_LEN..=MAX_TYPE_LEN).contains(&len) {
        return Err(TypeNameError::Length(len));
    }
    let first_is_letter = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if !first_is_letter || name.ends_with('-') || name.contains("--") {
        return Err(TypeNameError::Shape);
    }
    Ok(())
}

/// Checks that `s` is a 36-character hyphenated UUID of RFC 4122/9562 variant
/// with a version from 1 to 8, and returns it. Upper-case hex is accepted (the
/// STIX JSON schema accepts it), but braces, URNs and the unhyphenated form are
/// not.
pub fn parse_uuid_strict(s: &str) -> Result<Uuid, IdError> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if !shape_ok {
        return Err(IdError::BadUuid(s.to_owned()));
    }
    if !matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B') {
        return Err(IdError::BadUuidVariant(s.to_owned()));
    }
    if !matches!(b[14], b'1'..=b'8') {
        return Err(IdError::BadUuidVersion(s.to_owned()));
    }
    Uuid::parse_str(s).map_err(|_| IdError::BadUuid(s.to_owned()))
}

/// A validated STIX identifier such as
/// `indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f`.
///
/// The original spelling is kept (including any upper-case hex in the UUID);
/// equality, ordering and hashing are on that string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StixId {
    text: String,
    /// Byte offset of the `--` separator.
    sep: usize,
}

impl StixId {
    /// Parses and validates `type--UUID`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        // UUIDs never contain "--", and type names may not either, so the
        // separator is the only occurrence.
        let sep = s.find("--").ok_or(IdError::MissingSeparator)?;
        let (ty, rest) = (&s[..sep], &s[sep + 2..]);
        check_type_name(ty).map_err(IdError::BadType)?;
        parse_uuid_strict(rest)?;
        Ok(Self {
            text: s.to_owned(),
            sep,
        })
    }

    /// Builds an identifier from a type name and a UUID (always lower-case).
    pub fn new(object_type: &str, uuid: Uuid) -> Result<Self, IdError> {
        Self::parse(&format!("{object_type}--{}", uuid.hyphenated()))
    }

    /// The whole identifier.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The type part, e.g. `indicator`.
    pub fn object_type(&self) -> &str {
        &self.text[..self.sep]
    }

    /// The UUID part as written.
    pub fn uuid_str(&self) -> &str {
        &self.text[self.sep + 2..]
    }

    /// The UUID part, parsed.
    pub fn uuid(&self) -> Uuid {
        // Validated at construction; the fallback is unreachable in practice.
        Uuid::parse_str(self.uuid_str()).unwrap_or_default()
    }

    /// Consumes the identifier, returning its string.
    pub fn into_string(self) -> String {
        self.text
    }
}

impl fmt::Debug for StixId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StixId({})", self.text)
    }
}

impl fmt::Display for StixId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for StixId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for StixId {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for StixId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for StixId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_ids() {
        let id = StixId::parse("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").unwrap();
        assert_eq!(id.object_type(), "indicator");
        assert_eq!(id.uuid_str(), "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f");
        assert_eq!(
            id.uuid().to_string(),
            "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        );
        // SCO ids use UUIDv5; custom types may contain hyphens.
        assert!(StixId::parse("ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd").is_ok());
        assert!(StixId::parse("x-acme-widget--ff26c055-6336-5bc5-b98d-13d6226742dd").is_ok());
        assert!(StixId::parse("indicator--8E2E2D2B-17D4-4CBF-938F-98EE46B3CD3F").is_ok());
    }

    #[test]
    fn rejects_bad_ids() {
        for bad in [
            "indicator",
            "indicator--",
            "indicator--not-a-uuid",
            "indicator--8e2e2d2b17d44cbf938f98ee46b3cd3f",
            "indicator--{8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f}",
            "indicator--00000000-0000-0000-0000-000000000000",
            "indicator--8e2e2d2b-17d4-4cbf-738f-98ee46b3cd3f",
            "indicator--8e2e2d2b-17d4-0cbf-938f-98ee46b3cd3f",
            "Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "in--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "x-a---8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "1abc--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f ",
        ] {
            assert!(StixId::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn type_names() {
        assert!(check_type_name("x-acme").is_ok());
        assert_eq!(check_type_name("ab"), Err(TypeNameError::Length(2)));
        assert_eq!(check_type_name("a_b"), Err(TypeNameError::Charset));
        assert_eq!(check_type_name("abc-"), Err(TypeNameError::Shape));
        assert_eq!(check_type_name("a--b"), Err(TypeNameError::Shape));
        assert_eq!(
            check_type_name(&"a".repeat(251)),
            Err(TypeNameError::Length(251))
        );
        assert!(check_type_name(&"a".repeat(250)).is_ok());
    }

    #[test]
    fn serde_round_trip() {
        let id: StixId =
            serde_json::from_str("\"identity--311b2d2d-f010-4473-83ec-1edf84858f4c\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"identity--311b2d2d-f010-4473-83ec-1edf84858f4c\""
        );
        assert!(serde_json::from_str::<StixId>("\"identity--x\"").is_err());
    }
}
