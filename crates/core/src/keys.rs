//! The node master key and the organizations' ed25519 signing keys.
//!
//! Private keys are encrypted at rest with ChaCha20-Poly1305 under the node master key (32
//! bytes, read from a file or the environment). Neither key ever appears in `Debug` output.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::{Signer as _, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::model::{OrgKey, PublicKey};
use crate::ts;

/// The node's key-encryption key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    /// Parse 64 hex characters or base64 of 32 bytes (surrounding white space ignored).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| e.to_string())?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| "the master key must be 64 hex characters or base64 of 32 bytes")?
        };
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the master key must be exactly 32 bytes".to_string())?;
        Ok(MasterKey(arr))
    }

    /// A secret derived for one purpose (HMAC-SHA256 keyed with the master key over `label`):
    /// pseudonym keys, per organization and per community, never stored.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Hex text, for writing a new key file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
    }

    /// Encrypt a secret: nonce (12 bytes) followed by ciphertext.
    pub fn seal(&self, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let sealed = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), secret)
            .unwrap_or_default();
        out.extend(sealed);
        out
    }

    /// Decrypt what [`MasterKey::seal`] produced; `None` if the key is wrong or data altered.
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 12 {
            return None;
        }
        let (nonce, body) = sealed.split_at(12);
        self.cipher().decrypt(Nonce::from_slice(nonce), body).ok()
    }
}

/// Key id: `ed25519:` and the first 16 hex characters of SHA-256 of the public key.
pub fn key_id(public_key: &[u8]) -> String {
    let digest = Sha256::digest(public_key);
    format!("ed25519:{}", &hex::encode(digest)[..16])
}

/// A new signing key for an organization, its secret sealed under the master key.
pub fn new_org_key(master: &MasterKey, org_id: Uuid) -> OrgKey {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let signing = SigningKey::from_bytes(&seed);
    let public = signing.verifying_key().to_bytes().to_vec();
    OrgKey {
        key_id: key_id(&public),
        org_id,
        encrypted_secret: master.seal(&seed),
        public_key: public,
        created_at: ts::now(),
        retired_at: None,
    }
}

/// The public view of a community's key (`key.org_id` holds the community id).
pub fn community_public(key: &OrgKey) -> PublicKey {
    PublicKey {
        organization: None,
        community: Some(key.org_id),
        ..key.public()
    }
}

/// Sign bytes with an organization key; `None` if the master key cannot open it.
pub fn sign(master: &MasterKey, key: &OrgKey, message: &[u8]) -> Option<Vec<u8>> {
    let seed: [u8; 32] = master.open(&key.encrypted_secret)?.try_into().ok()?;
    Some(
        SigningKey::from_bytes(&seed)
            .sign(message)
            .to_bytes()
            .to_vec(),
    )
}

/// An opened signing key, for signing many messages with one opening of the sealed secret.
pub struct Signer {
    pub key_id: String,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl Signer {
    /// Open `key` with the master key; `None` if it cannot be opened.
    pub fn open(master: &MasterKey, key: &OrgKey) -> Option<Signer> {
        let seed: [u8; 32] = master.open(&key.encrypted_secret)?.try_into().ok()?;
        Some(Signer {
            key_id: key.key_id.clone(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The signature of `message`, base64 (standard, padded).
    pub fn sign_b64(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key.sign(message).to_bytes())
    }
}

/// Verify a base64 signature over `message` with a base64 public key.
pub fn verify_b64(public_key_b64: &str, message: &[u8], signature_b64: &str) -> bool {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    match (b64.decode(public_key_b64), b64.decode(signature_b64)) {
        (Ok(pk), Ok(sig)) => verify(&pk, message, &sig),
        _ => false,
    }
}

/// Verify a signature with a raw public key.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(pk): Result<[u8; 32], _> = public_key.try_into() else {
        return false;
    };
    let Ok(sig): Result<[u8; 64], _> = signature.try_into() else {
        return false;
    };
    let Ok(vk) = VerifyingKey::from_bytes(&pk) else {
        return false;
    };
    vk.verify(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

impl OrgKey {
    /// The public view of this key.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            key_id: self.key_id.clone(),
            organization: Some(self.org_id),
            community: None,
            algorithm: "ed25519".into(),
            public_key: base64::engine::general_purpose::STANDARD.encode(&self.public_key),
            created_at: self.created_at,
            retired_at: self.retired_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_key_signs_and_verifies() {
        let master = MasterKey::generate();
        let key = new_org_key(&master, Uuid::new_v4());
        assert!(key.key_id.starts_with("ed25519:"));
        let sig = sign(&master, &key, b"hello").unwrap();
        assert!(verify(&key.public_key, b"hello", &sig));
        assert!(!verify(&key.public_key, b"hellO", &sig));
    }

    #[test]
    fn wrong_master_key_cannot_open() {
        let master = MasterKey::generate();
        let key = new_org_key(&master, Uuid::new_v4());
        assert!(sign(&MasterKey::generate(), &key, b"x").is_none());
        let mut tampered = key.encrypted_secret.clone();
        tampered[20] ^= 1;
        assert!(master.open(&tampered).is_none());
    }

    #[test]
    fn master_key_parses_hex_and_base64_and_hides_itself() {
        let k = MasterKey::generate();
        let hex = k.to_hex();
        assert_eq!(MasterKey::parse(&hex).unwrap().0, k.0);
        let b64 = base64::engine::general_purpose::STANDARD.encode(k.0);
        assert_eq!(MasterKey::parse(&b64).unwrap().0, k.0);
        assert!(MasterKey::parse("short").is_err());
        assert!(!format!("{k:?}").contains(&hex));
        let key = new_org_key(&k, Uuid::new_v4());
        assert!(format!("{key:?}").contains("[redacted]"));
    }
}
