//! API keys: format, hashing and verification.
//!
//! A key is `atk_` followed by 40 random base-62 characters (≈238 bits). Only its SHA-256
//! is stored: with that much entropy a slow password hash adds nothing. The first
//! [`PREFIX_LEN`] characters are stored in clear to find the row and to let people tell
//! keys apart in lists; the hash is then compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_TAG: &str = "atk_";
pub const PREFIX_LEN: usize = 12;
const RANDOM_LEN: usize = 40;
const BASE62: [char; 62] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i',
    'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'A', 'B',
    'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U',
    'V', 'W', 'X', 'Y', 'Z',
];
/// Operator-chosen bootstrap keys must be at least this long.
pub const MIN_SECRET_LEN: usize = 32;
const MAX_SECRET_LEN: usize = 200;

/// What a key may do. Stored as its wire name in `api_keys.scope`; a stored value that is
/// none of them does not decode.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
    sqlx::Type,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Scope {
    Admin,
    Checkout,
    Analyst,
}

impl Scope {
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Checkout => "checkout",
            Scope::Analyst => "analyst",
        }
    }
}

/// A new secret with its derived prefix and hash.
#[derive(Clone)]
pub struct NewSecret {
    pub secret: String,
    pub prefix: String,
    pub hash: [u8; 32],
}

pub fn generate_secret() -> NewSecret {
    let secret = format!("{KEY_TAG}{}", nanoid::nanoid!(RANDOM_LEN, &BASE62));
    derive(secret)
}

/// For `ATTRIB_BOOTSTRAP_ADMIN_KEY`: an operator-chosen secret.
pub fn secret_from(secret: &str) -> Result<NewSecret, String> {
    check_bootstrap_secret(secret)?;
    Ok(derive(secret.to_owned()))
}

pub fn check_bootstrap_secret(secret: &str) -> Result<(), String> {
    if secret.len() < MIN_SECRET_LEN || secret.len() > MAX_SECRET_LEN {
        return Err(format!(
            "must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters (generate one with `attrib keys create`)"
        ));
    }
    if !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".into());
    }
    Ok(())
}

fn derive(secret: String) -> NewSecret {
    let prefix = prefix_of(&secret).to_owned();
    let hash = hash(&secret);
    NewSecret {
        secret,
        prefix,
        hash,
    }
}

pub fn prefix_of(secret: &str) -> &str {
    secret.get(..PREFIX_LEN).unwrap_or(secret)
}

pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time: the time taken does not depend on how many bytes match.
pub fn hash_matches(secret: &str, stored_hash: &[u8]) -> bool {
    hash(secret).ct_eq(stored_hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_verify_against_their_hash_only() {
        let key = generate_secret();
        assert!(key.secret.starts_with(KEY_TAG));
        assert_eq!(key.secret.len(), KEY_TAG.len() + RANDOM_LEN);
        assert_eq!(key.prefix, &key.secret[..PREFIX_LEN]);
        assert!(hash_matches(&key.secret, &key.hash));
        let other = generate_secret();
        assert!(!hash_matches(&other.secret, &key.hash));
        assert!(!hash_matches(&key.secret, &key.hash[..31]));
    }

    #[test]
    fn bootstrap_secrets_must_be_long_and_printable() {
        assert!(secret_from("short").is_err());
        assert!(secret_from(&format!("{} x", "a".repeat(40))).is_err());
        let ok = secret_from(&"k".repeat(40)).unwrap();
        assert_eq!(ok.prefix.len(), PREFIX_LEN);
    }
}
