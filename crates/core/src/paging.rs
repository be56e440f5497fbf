//! Opaque, tamper-proof pagination tokens (`next`). A token carries the position, an expiry and
//! a fingerprint of the filters it was issued for, authenticated with HMAC-SHA-256 under a key
//! derived from the node master key. Forged, expired or reused-with-other-filters tokens are
//! refused.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::keys::MasterKey;

type HmacSha256 = Hmac<Sha256>;

/// How long a `next` token stays valid.
pub const TOKEN_LIFETIME_SECS: i64 = 15 * 60;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    Forged,
    Expired,
    OtherFilters,
}

impl TokenError {
    pub fn message(self) -> &'static str {
        match self {
            TokenError::Malformed => "`next` is not a token this server issued",
            TokenError::Forged => "`next` failed its integrity check",
            TokenError::Expired => "`next` has expired; start again, or continue with added_after",
            TokenError::OtherFilters => {
                "`next` was issued for other filters; send the same filters with it"
            }
        }
    }
}

fn key(master: &MasterKey) -> HmacSha256 {
    let derived = Sha256::digest(format!("cairn/next-token/{}", master.to_hex()).as_bytes());
    HmacSha256::new_from_slice(&derived).expect("HMAC takes keys of any length")
}

/// A fingerprint of the filters (anything that defines the result set).
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..12])
}

/// Issue a token for continuing after `position`.
pub fn seal(master: &MasterKey, position: i64, filters: &str, now_unix: i64) -> String {
    let payload = format!("{position}.{}.{filters}", now_unix + TOKEN_LIFETIME_SECS);
    let mut mac = key(master);
    mac.update(payload.as_bytes());
    let tag = mac.finalize().into_bytes();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}", b64.encode(payload), b64.encode(&tag[..16]))
}

/// Check a token and return its position.
pub fn open(
    master: &MasterKey,
    token: &str,
    filters: &str,
    now_unix: i64,
) -> Result<i64, TokenError> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let payload = b64.decode(payload).map_err(|_| TokenError::Malformed)?;
    let tag = b64.decode(tag).map_err(|_| TokenError::Malformed)?;
    let mut mac = key(master);
    mac.update(&payload);
    mac.verify_truncated_left(&tag)
        .map_err(|_| TokenError::Forged)?;
    let text = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
    let mut parts = text.splitn(3, '.');
    let position: i64 = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or(TokenError::Malformed)?;
    let expires: i64 = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or(TokenError::Malformed)?;
    let issued_for = parts.next().ok_or(TokenError::Malformed)?;
    if tag.len() < 16 {
        return Err(TokenError::Forged);
    }
    if now_unix > expires {
        return Err(TokenError::Expired);
    }
    if issued_for != filters {
        return Err(TokenError::OtherFilters);
    }
    Ok(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_tampering() {
        let m = MasterKey::generate();
        let f = fingerprint(&["type=indicator"]);
        let t = seal(&m, 42, &f, 1000);
        assert_eq!(open(&m, &t, &f, 1001), Ok(42));
        assert_eq!(
            open(&m, &t, &fingerprint(&["type=malware"]), 1001),
            Err(TokenError::OtherFilters)
        );
        assert_eq!(
            open(&m, &t, &f, 1000 + TOKEN_LIFETIME_SECS + 1),
            Err(TokenError::Expired)
        );
        assert_eq!(
            open(&MasterKey::generate(), &t, &f, 1001),
            Err(TokenError::Forged)
        );
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let forged = format!(
            "{}.{}",
            b64.encode(format!("0.99999999999.{f}")),
            t.split_once('.').unwrap().1
        );
        assert_eq!(open(&m, &forged, &f, 1001), Err(TokenError::Forged));
        assert_eq!(open(&m, "garbage", &f, 1001), Err(TokenError::Malformed));
        assert_eq!(open(&m, "a.b", &f, 1001), Err(TokenError::Malformed));
    }
}
