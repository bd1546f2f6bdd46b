//! MaxMind GeoIP2 / GeoLite2 database access.
//!
//! The database is memory-resident after opening, so a lookup is a pure in-memory read that
//! the redirect path may afford. A damaged file is refused at start-up rather than on the
//! first click that happens to hit a damaged record; the settings open it once and every
//! part of the process (redirects, the worker) shares that one copy.

use std::{
    fmt,
    net::IpAddr,
    path::{Path, PathBuf},
};

use maxminddb::{geoip2, Reader};

/// Addresses that any real City database covers; decoding their records at start-up
/// catches files whose data section is corrupt, not only a corrupt header.
const PROBE_ADDRESSES: &[&str] = &[
    "81.2.69.142",
    "2.125.160.216",
    "89.160.20.112",
    "216.160.83.56",
    "175.16.199.1",
    "8.8.8.8",
    "1.1.1.1",
    "2001:4860:4860::8888",
];

pub struct GeoIp {
    reader: Reader<Vec<u8>>,
    /// Where it was read from, for the settings' `Debug` output.
    path: PathBuf,
}

/// What the service keeps of a lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
}

impl GeoIp {
    pub fn open(path: &Path) -> Result<Self, String> {
        let reader = Reader::open_readfile(path)
            .map_err(|e| format!("cannot open MaxMind database: {e}"))?;
        let geo = GeoIp {
            reader,
            path: path.to_owned(),
        };
        for address in PROBE_ADDRESSES {
            let ip: IpAddr = address
                .parse()
                .map_err(|_| "bad probe address".to_owned())?;
            geo.try_lookup(ip)
                .map_err(|e| format!("MaxMind database is damaged (record for {ip}): {e}"))?;
        }
        Ok(geo)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Location of `ip`; empty when the database does not know the address.
    pub fn lookup(&self, ip: IpAddr) -> Location {
        self.try_lookup(ip).unwrap_or_default()
    }

    fn try_lookup(&self, ip: IpAddr) -> Result<Location, maxminddb::MaxMindDbError> {
        let Some(city) = self.reader.lookup::<geoip2::City>(ip)? else {
            return Ok(Location::default());
        };
        let english = |names: Option<std::collections::BTreeMap<&str, &str>>| {
            names.and_then(|n| n.get("en").map(|s| (*s).to_owned()))
        };
        Ok(Location {
            country: city.country.and_then(|c| c.iso_code).map(str::to_owned),
            region: city
                .subdivisions
                .and_then(|s| s.into_iter().next())
                .and_then(|s| s.iso_code)
                .map(str::to_owned),
            city: city.city.and_then(|c| english(c.names)),
        })
    }
}

/// The file, not the records: printing a megabyte-sized map would help no one.
impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIp").field("path", &self.path).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/geoip")
            .join(name)
    }

    #[test]
    fn known_addresses_resolve_to_their_country_and_city() {
        let geo = GeoIp::open(&fixture("GeoIP2-City-Test.mmdb")).unwrap();
        let london = geo.lookup("81.2.69.142".parse().unwrap());
        assert_eq!(london.country.as_deref(), Some("GB"));
        assert_eq!(london.city.as_deref(), Some("London"));
        let linkoping = geo.lookup("89.160.20.112".parse().unwrap());
        assert_eq!(linkoping.country.as_deref(), Some("SE"));
    }

    #[test]
    fn unknown_and_private_addresses_give_no_location() {
        let geo = GeoIp::open(&fixture("GeoIP2-City-Test.mmdb")).unwrap();
        assert_eq!(geo.lookup("10.0.0.1".parse().unwrap()), Location::default());
        assert_eq!(
            geo.lookup("127.0.0.1".parse().unwrap()),
            Location::default()
        );
    }

    #[test]
    fn damaged_database_is_refused_when_opened() {
        let err = GeoIp::open(&fixture("GeoIP2-City-Test-Broken-Double-Format.mmdb"))
            .expect_err("the broken fixture must be refused");
        assert!(err.contains("damaged"), "{err}");
    }

    #[test]
    fn missing_file_is_refused() {
        assert!(GeoIp::open(Path::new("/nonexistent.mmdb")).is_err());
    }
}
