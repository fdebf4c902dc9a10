//! The client's address: the socket's peer, or, when the peer is one of the configured trusted
//! reverse proxies, the address that proxy saw (`X-Forwarded-For`, read from the right, past
//! the trusted proxies). A forwarded header from anyone else is ignored: a client must not be
//! able to choose the address it is counted under.

use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::IpAddr;

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Addresses or networks (`10.0.0.5`, `10.0.0.0/8`, `::1`); anything else is an error that
    /// names the entry.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("ACCREDO_TRUSTED_PROXIES: `{e}` is not an address or a network")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client address of a request.
    pub fn client_of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .collect();
        // The rightmost address not of a trusted proxy is the one the outermost trusted proxy
        // saw; addresses to its left were written by the client and prove nothing.
        Some(
            forwarded
                .iter()
                .rev()
                .copied()
                .find(|a| !self.trusts(*a))
                .or_else(|| forwarded.first().copied())
                .unwrap_or(peer),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(
            format!("{peer}:4000")
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        if let Some(f) = forwarded {
            r = r.insert_header(("x-forwarded-for", f));
        }
        r.to_http_request()
    }

    #[test]
    fn forwarded_addresses_count_only_through_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.1".into()])
            .unwrap_or_else(|_| unreachable!());
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert_eq!(
            proxies.client_of(&request("10.1.2.3", Some("198.51.100.7"))),
            ip("198.51.100.7"),
            "a trusted proxy names the client"
        );
        assert_eq!(
            proxies.client_of(&request("203.0.113.9", Some("198.51.100.7"))),
            ip("203.0.113.9"),
            "anyone else's header is ignored"
        );
        assert_eq!(
            proxies.client_of(&request(
                "10.1.2.3",
                Some("6.6.6.6, 198.51.100.7, 192.0.2.1")
            )),
            ip("198.51.100.7"),
            "read from the right, past the trusted proxies, not the client's own claim"
        );
        assert!(TrustedProxies::parse(&["not-an-ip".into()]).is_err());
    }
}
