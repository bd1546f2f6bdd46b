//! The cookieless visitor id: who a first visit without the `atv` cookie came from.
//!
//! A keyed hash (HMAC-SHA256) of address, user agent and UTC day, so the same visitor is
//! the same id for the rest of the day, and neither a stored id nor the /24 prefix stored
//! beside it gives the address back: without the key, trying every address of a /24 (or
//! all of IPv4) against an id finds nothing. The key is `ATTRIB_VISITOR_SECRET`, or one
//! derived from the click secret; every process of a deployment must share it, or one
//! visitor counts as several.

use std::{fmt::Write, net::IpAddr};

use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex characters of an id: 96 bits, plenty against collisions among one day's visitors.
const ID_BYTES: usize = 12;

#[derive(Clone)]
pub struct VisitorKey {
    /// The key already absorbed: cloned per visitor instead of re-keyed.
    keyed: Hmac<Sha256>,
}

impl VisitorKey {
    pub fn new(secret: &[u8]) -> Self {
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        VisitorKey { keyed }
    }

    /// A key of its own for visitor ids, from the click secret: the click secret never
    /// hashes addresses itself, so a visitor id and a click id cannot be played against
    /// each other.
    pub fn derived_from(click_secret: &[u8]) -> Self {
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(click_secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        derive.update(b"attrib visitor id v1");
        Self::new(&derive.finalize().into_bytes())
    }

    /// The visitor id of a visit from `ip` with `user_agent` on `day`.
    pub fn id(&self, ip: Option<IpAddr>, user_agent: Option<&str>, day: NaiveDate) -> String {
        let mut mac = MacWriter(self.keyed.clone());
        // Formatted straight into the MAC: no string built on every redirect.
        if let Some(ip) = ip {
            let _ = write!(mac, "{ip}");
        }
        mac.0.update(&[0]);
        mac.0.update(user_agent.unwrap_or_default().as_bytes());
        mac.0.update(&[0]);
        let _ = write!(mac, "{day}");
        super::hex::lower(&mac.0.finalize().into_bytes()[..ID_BYTES])
    }
}

struct MacWriter(Hmac<Sha256>);

impl Write for MacWriter {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.update(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    #[test]
    fn the_same_visit_on_the_same_day_is_the_same_visitor() {
        let key = VisitorKey::new(b"a visitor secret of thirty-two chars");
        let ip = Some("89.160.20.112".parse().unwrap());
        let id = key.id(ip, Some("Mozilla/5.0 (iPhone)"), day());
        assert_eq!(id.len(), 2 * ID_BYTES);
        assert_eq!(id, key.id(ip, Some("Mozilla/5.0 (iPhone)"), day()));
        assert_ne!(
            id,
            key.id(ip, Some("Mozilla/5.0 (iPhone)"), day().succ_opt().unwrap())
        );
        assert_ne!(id, key.id(ip, Some("curl/8"), day()));
    }

    #[test]
    fn an_id_does_not_give_the_address_back_without_the_key() {
        // The old, unkeyed id: SHA-256 of the same fields, which anyone could recompute for
        // every address of the /24 stored beside it.
        use sha2::Digest;
        let ip: IpAddr = "89.160.20.112".parse().unwrap();
        let mut plain = Sha256::new();
        plain.update(format!("{ip}\0Mozilla/5.0 (iPhone)\0{}", day()));
        let unkeyed = crate::domain::hex::lower(&plain.finalize()[..ID_BYTES]);

        let key = VisitorKey::new(b"a visitor secret of thirty-two chars");
        let keyed = key.id(Some(ip), Some("Mozilla/5.0 (iPhone)"), day());
        assert_ne!(keyed, unkeyed);
        let other = VisitorKey::new(b"another secret of thirty-two chars!!");
        assert_ne!(
            keyed,
            other.id(Some(ip), Some("Mozilla/5.0 (iPhone)"), day())
        );
    }

    #[test]
    fn the_derived_key_is_not_the_click_secret_itself_and_stays_what_it_was() {
        let secret = b"test-click-secret-0123456789abcdef0123";
        let ip = Some("89.160.20.112".parse().unwrap());
        assert_ne!(
            VisitorKey::derived_from(secret).id(ip, None, day()),
            VisitorKey::new(secret).id(ip, None, day())
        );
        // Pinned: ids must stay the same across releases within a day, or a visitor's
        // clicks count as unique twice.
        assert_eq!(
            VisitorKey::derived_from(secret).id(ip, Some("Mozilla/5.0 (iPhone)"), day()),
            "f38dc32cfeaf5dc2ccb1bb45"
        );
    }
}
