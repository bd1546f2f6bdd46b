//! The visitor's address: the TCP peer, or — when the peer is a trusted proxy — the
//! right-most `X-Forwarded-For` hop that is not itself a trusted proxy. Hops left of that
//! are whatever the client claimed and are ignored.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    resolve(
        peer,
        req.headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok()),
        trusted,
    )
}

fn resolve<'a>(
    peer: IpAddr,
    forwarded_headers: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded_headers.flat_map(|h| h.split(',')).collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // An unparsable hop ends the trustworthy part of the chain.
            return Some(peer);
        };
        if !is_trusted(&ip) {
            return Some(ip);
        }
    }
    Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let ip = resolve(
            "203.0.113.9".parse().unwrap(),
            ["1.2.3.4"].into_iter(),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(ip, Some("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_wins() {
        let trusted = nets(&["10.0.0.0/8"]);
        let ip = resolve(
            "10.0.0.2".parse().unwrap(),
            ["6.6.6.6, 81.2.69.142", "10.0.0.1"].into_iter(),
            &trusted,
        );
        assert_eq!(ip, Some("81.2.69.142".parse().unwrap()));
    }

    #[test]
    fn a_garbage_hop_falls_back_to_the_peer() {
        let ip = resolve(
            "10.0.0.2".parse().unwrap(),
            ["nonsense"].into_iter(),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(ip, Some("10.0.0.2".parse().unwrap()));
    }
}
