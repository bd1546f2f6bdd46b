//! Click ids: self-describing and signed.
//!
//! A click id carries the link id, the click time and some randomness, followed by a
//! truncated HMAC-SHA256 over them under the service's secret. A conversion reported with a
//! click id is attributed from the id alone — before the click itself is ingested, without
//! a database read — and an id that was not issued here fails the MAC check.
//!
//! Layout (27 bytes, 36 characters of unpadded base64url):
//! `version (1) | link id (8, big-endian) | unix millis (6) | random (4) | MAC (8)`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::stored::stored_as_text;

const VERSION: u8 = 1;
const BODY_LEN: usize = 1 + 8 + 6 + 4;
const MAC_LEN: usize = 8;
const LEN: usize = BODY_LEN + MAC_LEN;
/// Length of the encoded form.
pub const ENCODED_LEN: usize = 36;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickId {
    pub link_id: i64,
    pub clicked_at: DateTime<Utc>,
    encoded: String,
}

stored_as_text!(ClickId, ClickId::stored);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClickIdError {
    #[error("not a click id")]
    Malformed,
    #[error("the click id's signature does not match")]
    BadSignature,
}

/// The key that signs and checks click ids; every process of a deployment shares it.
#[derive(Clone)]
pub struct ClickSigner {
    /// HMAC state with the key already absorbed: cloned per click instead of re-keyed.
    keyed: Hmac<Sha256>,
}

impl ClickSigner {
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        ClickSigner { keyed }
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = self.keyed.clone();
        mac.update(body);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// A new click id for `link_id` at `at` (millisecond precision).
    pub fn issue(&self, link_id: i64, at: DateTime<Utc>) -> ClickId {
        let millis = at.timestamp_millis().clamp(0, (1 << 48) - 1);
        let mut bytes = [0u8; LEN];
        bytes[0] = VERSION;
        bytes[1..9].copy_from_slice(&link_id.to_be_bytes());
        bytes[9..15].copy_from_slice(&millis.to_be_bytes()[2..]);
        bytes[15..19].copy_from_slice(&rand::random::<[u8; 4]>());
        let mac = self.mac(&bytes[..BODY_LEN]);
        bytes[BODY_LEN..].copy_from_slice(&mac);
        ClickId {
            link_id,
            clicked_at: Utc.timestamp_millis_opt(millis).single().unwrap_or(at),
            encoded: URL_SAFE_NO_PAD.encode(bytes),
        }
    }

    /// Decodes and authenticates a click id a client sent back.
    pub fn verify(&self, raw: &str) -> Result<ClickId, ClickIdError> {
        let raw = raw.trim();
        let bytes = decode(raw)?;
        let expected = self.mac(&bytes[..BODY_LEN]);
        let given = &bytes[BODY_LEN..];
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], given)) {
            return Err(ClickIdError::BadSignature);
        }
        let (link_id, clicked_at) = link_and_time(&bytes)?;
        Ok(ClickId {
            link_id,
            clicked_at,
            encoded: raw.to_owned(),
        })
    }
}

/// The link and time of a click id that was verified before it was stored (by the API,
/// before a conversion carrying it was accepted); the signature is not checked again.
pub fn peek(raw: &str) -> Option<(i64, DateTime<Utc>)> {
    decode(raw.trim())
        .ok()
        .and_then(|bytes| link_and_time(&bytes).ok())
}

fn decode(raw: &str) -> Result<Vec<u8>, ClickIdError> {
    if raw.len() != ENCODED_LEN {
        return Err(ClickIdError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| ClickIdError::Malformed)?;
    if bytes.len() != LEN || bytes[0] != VERSION {
        return Err(ClickIdError::Malformed);
    }
    Ok(bytes)
}

fn link_and_time(bytes: &[u8]) -> Result<(i64, DateTime<Utc>), ClickIdError> {
    let mut link = [0u8; 8];
    link.copy_from_slice(&bytes[1..9]);
    let mut millis = [0u8; 8];
    millis[2..].copy_from_slice(&bytes[9..15]);
    let clicked_at = Utc
        .timestamp_millis_opt(i64::from_be_bytes(millis))
        .single()
        .ok_or(ClickIdError::Malformed)?;
    Ok((i64::from_be_bytes(link), clicked_at))
}

impl ClickId {
    /// A click id as a column holds it: verified before it was stored, so only its layout
    /// is read back. The signature is not checked again, and could not be once the key was
    /// rotated; the key is not this type's to have.
    fn stored(raw: &str) -> Option<Self> {
        let bytes = decode(raw).ok()?;
        let (link_id, clicked_at) = link_and_time(&bytes).ok()?;
        Some(ClickId {
            link_id,
            clicked_at,
            encoded: raw.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.encoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> ClickSigner {
        ClickSigner::new(b"test secret")
    }

    #[test]
    fn an_issued_id_decodes_to_its_link_and_time() {
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 12, 30, 0).unwrap();
        let id = signer().issue(4242, at);
        assert_eq!(id.as_str().len(), ENCODED_LEN);
        let decoded = signer().verify(id.as_str()).unwrap();
        assert_eq!(decoded.link_id, 4242);
        assert_eq!(decoded.clicked_at, at);
        assert_eq!(decoded, id);
        assert_eq!(peek(id.as_str()), Some((4242, at)));
    }

    #[test]
    fn a_stored_id_reads_back_without_the_key_and_garbage_does_not() {
        let id = ClickSigner::new(b"a key since rotated").issue(9, Utc::now());
        assert_eq!(ClickId::stored(id.as_str()), Some(id));
        for raw in ["", "not a click id", &"A".repeat(36)] {
            assert_eq!(ClickId::stored(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn ids_are_unique_per_click() {
        let at = Utc::now();
        let a = signer().issue(1, at);
        let b = signer().issue(1, at);
        assert_ne!(a.as_str(), b.as_str());
    }

    #[test]
    fn a_tampered_or_foreign_id_is_rejected() {
        let id = signer().issue(7, Utc::now());
        let other_key = ClickSigner::new(b"another deployment");
        assert_eq!(
            other_key.verify(id.as_str()),
            Err(ClickIdError::BadSignature)
        );

        // Change the link id (bytes 1..9 → characters 1..12) and keep the MAC.
        let mut bytes = URL_SAFE_NO_PAD.decode(id.as_str()).unwrap();
        bytes[8] ^= 1;
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(signer().verify(&forged), Err(ClickIdError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for raw in [
            "",
            "abc",
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            &"A".repeat(36),
            "é",
        ] {
            assert!(signer().verify(raw).is_err(), "{raw:?}");
        }
    }
}
