//! Secrets of authentication: API tokens (256 random bits, shown once, stored as SHA-256) and
//! passwords (argon2id).

use argon2::password_hash::{rand_core::OsRng as PwRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every token starts with this, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "cairn_";

/// A freshly made token: the secret (to show once) and what is stored.
#[derive(Clone)]
pub struct NewToken {
    pub secret: String,
    pub hash: String,
    pub prefix: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("secret", &"[redacted]")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// 256 random bits, hex, behind [`TOKEN_PREFIX`].
pub fn generate_token() -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    NewToken {
        hash: hash_token(&secret),
        prefix: display_prefix(&secret),
        secret,
    }
}

/// The stored form of a token: lowercase hex SHA-256 of the whole token text.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// What lists show of a token.
pub fn display_prefix(secret: &str) -> String {
    secret.chars().take(TOKEN_PREFIX.len() + 6).collect()
}

/// Whether text has the shape of a Cairn token (cheap check before any lookup).
pub fn looks_like_token(text: &str) -> bool {
    text.len() == TOKEN_PREFIX.len() + 64
        && text.starts_with(TOKEN_PREFIX)
        && text[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
}

/// Whether text is a valid stored token hash (64 lowercase hex characters).
pub fn is_token_hash(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// argon2id PHC string of a password.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut PwRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Check a password against its PHC string; a malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hashed() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(TOKEN_PREFIX));
        assert!(looks_like_token(&a.secret));
        assert_eq!(hash_token(&a.secret), a.hash);
        assert!(is_token_hash(&a.hash));
        assert!(!a.hash.contains(&a.secret[TOKEN_PREFIX.len()..]));
        assert!(!format!("{a:?}").contains(&a.secret));
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        assert!(!looks_like_token("cairn_xyz"));
        assert!(!looks_like_token(&format!("other_{}", "a".repeat(64))));
        assert!(!looks_like_token(&format!("cairn_{}", "g".repeat(64))));
    }

    #[test]
    fn passwords_verify_only_with_the_right_secret() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong", &phc));
        assert!(!verify_password("x", "not a hash"));
    }
}
