//! Which address a request comes from, in a way a client cannot forge.
//!
//! The TCP peer is the truth. `X-Forwarded-For` is believed only as far as it
//! was written by proxies we trust: walking the header from the right (the hop
//! nearest to us), trusted proxies are skipped and the first other address is
//! the client. A client that sends its own `X-Forwarded-For` to a service
//! whose peer is not a trusted proxy gets its peer address, whatever it wrote.
//! The router applies this rule (`fittrack_router::client_address`) and sends the
//! result on as the only `X-Forwarded-For` entry; subgraphs apply it again with
//! the router as their trusted proxy (by default: loopback).

use std::{fmt, net::IpAddr, str::FromStr};

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Networks whose `X-Forwarded-For` is believed. Configured as a list or a
/// comma-separated string of addresses and CIDR blocks.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trust nobody: every request's address is its peer's.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Loopback only: a router or load balancer on the same host.
    pub fn loopback() -> Self {
        Self(vec![
            IpNet::from_str("127.0.0.0/8").expect("valid CIDR literal"),
            IpNet::from_str("::1/128").expect("valid CIDR literal"),
        ])
    }

    pub fn contains(&self, address: &IpAddr) -> bool {
        let address = canonical(*address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client's address for a request from `peer` carrying these
    /// `X-Forwarded-For` header values (in order).
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(&peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(address) => {
                    client = address;
                    if !self.contains(&address) {
                        break;
                    }
                }
                // Garbage written by someone: stop at the last hop we could read.
                None => break,
            }
        }
        client
    }
}

impl Default for TrustedProxies {
    fn default() -> Self {
        Self::loopback()
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(ToString::to_string))
            .finish()
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(parse_net)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

fn parse_net(item: &str) -> Result<IpNet, String> {
    IpNet::from_str(item)
        .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
        .map_err(|_| format!("not an address or CIDR block: {item:?}"))
}

/// IPv6 addresses are limited by their /64 unless configured otherwise: a
/// subscriber is handed at least a /64, so rotating inside one buys nothing.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The key rate limits count `address` under: an IPv4 address alone, an IPv6
/// address by its network of `ipv6_prefix` bits (`2001:db8:1:2::/64`).
pub fn limit_key(address: IpAddr, ipv6_prefix: u8) -> String {
    match canonical(address) {
        IpAddr::V6(v6) => ipnet::Ipv6Net::new(v6, ipv6_prefix.min(128))
            .map_or_else(|_| v6.to_string(), |net| net.trunc().to_string()),
        v4 => v4.to_string(),
    }
}

/// `203.0.113.7`, `[2001:db8::1]:443`, `203.0.113.7:5000` (some proxies add ports).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = IpAddr::from_str(hop) {
        return Some(canonical(address));
    }
    std::net::SocketAddr::from_str(hop)
        .ok()
        .map(|socket| canonical(socket.ip()))
}

/// IPv4-mapped IPv6 (`::ffff:203.0.113.7`) is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

impl Serialize for TrustedProxies {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(Vec<String>),
            Text(String),
        }
        let text = match Form::deserialize(deserializer)? {
            Form::List(items) => items.join(","),
            Form::Text(text) => text,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_network() {
        assert_eq!(limit_key(ip("203.0.113.7"), 64), "203.0.113.7");
        assert_eq!(limit_key(ip("::ffff:203.0.113.7"), 64), "203.0.113.7");
        let a = limit_key(ip("2001:db8:1:2::a"), 64);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 64), a);
        assert_ne!(limit_key(ip("2001:db8:1:3::a"), 64), a);
        assert_eq!(limit_key(ip("2001:db8:1:3::a"), 48), "2001:db8:1::/48");
        assert_eq!(limit_key(ip("2001:db8::1"), 128), "2001:db8::1/128");
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = TrustedProxies::loopback();
        assert_eq!(
            trusted.client_address(ip("198.51.100.9"), ["203.0.113.7"]),
            ip("198.51.100.9")
        );
        assert_eq!(
            TrustedProxies::none().client_address(ip("127.0.0.1"), ["203.0.113.7"]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right() {
        let trusted: TrustedProxies = "127.0.0.1, 10.0.0.0/8".parse().expect("list");
        // The client wrote a fake first hop; the load balancer appended the real one.
        assert_eq!(
            trusted.client_address(ip("127.0.0.1"), ["6.6.6.6, 203.0.113.7, 10.1.2.3"]),
            ip("203.0.113.7")
        );
        // Several header lines count as one list.
        assert_eq!(
            trusted.client_address(ip("127.0.0.1"), ["6.6.6.6", "203.0.113.7:4312"]),
            ip("203.0.113.7")
        );
        // No header: the proxy itself.
        assert_eq!(
            trusted.client_address(ip("::ffff:127.0.0.1"), []),
            ip("127.0.0.1")
        );
        // Garbage stops the walk at the last readable hop.
        assert_eq!(
            trusted.client_address(ip("127.0.0.1"), ["not-an-ip, 10.0.0.5"]),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn configured_as_a_list_or_a_string() {
        let from_list: TrustedProxies =
            serde_json::from_value(serde_json::json!(["10.0.0.0/8", "::1"])).expect("list");
        let from_text: TrustedProxies =
            serde_json::from_value(serde_json::json!("10.0.0.0/8,::1")).expect("text");
        assert_eq!(from_list, from_text);
        assert!(from_list.contains(&ip("10.9.8.7")));
        assert!(serde_json::from_value::<TrustedProxies>(serde_json::json!("nope")).is_err());
    }
}
