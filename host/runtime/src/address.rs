//! The private-network rule: which resolved addresses a provider may connect to.
//!
//! An allow-list entry names hosts, but a name can resolve anywhere: to the machine itself, to
//! the office network, to the cloud's metadata service. So after resolution (and for a request
//! to an IP literal, before it), every address is classified ([`classify`]) and checked
//! ([`check_address`]), both pure functions:
//!
//! | address                                         | allowed when                                             |
//! |-------------------------------------------------|----------------------------------------------------------|
//! | public                                          | always (the allow-list already matched)                  |
//! | loopback (127/8, ::1)                           | the request names the IP literally, or `localhost`       |
//! | private (RFC 1918, 100.64/10, fc00::/7, fec0::/10) | the request names the IP literally                    |
//! | link-local (169.254/16, fe80::/10), cloud metadata, unspecified, multicast/reserved | the request names the IP literally **and** the user granted that entry (not only the component) |
//!
//! …and in every case when the provider is opted in to private networks
//! ([`crate::ProviderSpec::allow_private_networks`], `allow_private_networks = true` in the
//! roster file). IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`) addresses are
//! classified by the IPv4 address they carry.
//!
//! A component can name `http://169.254.169.254` in its own `allowed-hosts`; that alone never
//! reaches the metadata service. `roster sim` keeps working: its roster points the providers at
//! `http://127.0.0.1:PORT`, a loopback address named literally.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of network an address is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// Anything routable on the internet.
    Public,
    /// This machine: 127.0.0.0/8, ::1.
    Loopback,
    /// A private network: 10/8, 172.16/12, 192.168/16, 100.64/10 (shared, carrier-grade NAT),
    /// fc00::/7 (unique local), fec0::/10 (site-local).
    Private,
    /// The local link: 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// A cloud instance-metadata or credentials endpoint: 169.254.169.254, 169.254.170.2,
    /// 169.254.170.23, fd00:ec2::254, 100.100.100.200.
    CloudMetadata,
    /// 0.0.0.0/8 and `::` (on Linux, connecting there reaches this machine).
    Unspecified,
    /// Multicast, broadcast, 240/4, and the deprecated IPv4-compatible `::a.b.c.d`.
    Reserved,
}

impl AddressClass {
    fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "a public address",
            AddressClass::Loopback => "a loopback address (this machine)",
            AddressClass::Private => "a private-network address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::CloudMetadata => "a cloud metadata address",
            AddressClass::Unspecified => "an unspecified address (this machine)",
            AddressClass::Reserved => "a multicast or reserved address",
        }
    }
}

const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(169, 254, 170, 23),
    Ipv4Addr::new(100, 100, 100, 200),
];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, ..] = ip.octets();
    if METADATA_V4.contains(&ip) {
        AddressClass::CloudMetadata
    } else if a == 0 {
        AddressClass::Unspecified
    } else if a == 127 {
        AddressClass::Loopback
    } else if a == 10
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 100 && (64..128).contains(&b))
    {
        AddressClass::Private
    } else if a == 169 && b == 254 {
        AddressClass::LinkLocal
    } else if a >= 224 {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

/// The class of `ip`; IPv4-mapped and NAT64 addresses by the IPv4 address they carry.
pub fn classify(ip: IpAddr) -> AddressClass {
    let v6 = match ip {
        IpAddr::V4(v4) => return classify_v4(v4),
        IpAddr::V6(v6) => v6,
    };
    let s = v6.segments();
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if METADATA_V6.contains(&v6) {
        AddressClass::CloudMetadata
    } else if v6.is_unspecified() {
        AddressClass::Unspecified
    } else if v6.is_loopback() {
        AddressClass::Loopback
    } else if let Some(v4) = v6.to_ipv4_mapped() {
        classify_v4(v4)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        classify_v4(embedded)
    } else if s[..6] == [0; 6] {
        AddressClass::Reserved
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        AddressClass::Private
    } else if s[0] & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if s[0] & 0xff00 == 0xff00 {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

/// A destination the private-network rule refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressRefused {
    /// The host the request named.
    pub host: String,
    /// The address it resolved to (or is).
    pub ip: IpAddr,
    /// Why that address is special.
    pub class: AddressClass,
}

impl fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let AddressRefused { host, ip, class } = self;
        let what = class.describe();
        let literal = host.parse::<IpAddr>().is_ok_and(|h| h == *ip);
        if literal {
            write!(f, "{ip} is {what}")?;
        } else {
            write!(f, "{host} resolves to {ip}, {what}")?;
        }
        let grant = match class {
            AddressClass::Public => return Ok(()),
            AddressClass::Loopback => "the provider's hosts name the IP address itself (or `localhost`), or",
            AddressClass::Private => "the provider's hosts name the IP address itself, or",
            _ if literal => "you list it yourself in the provider's `allowed_hosts` (a component cannot grant it to itself), or",
            _ => "you list the IP address itself in the provider's `allowed_hosts`, or",
        };
        write!(f, "; private networks are refused unless {grant} the provider sets `allow_private_networks = true`")
    }
}

impl std::error::Error for AddressRefused {}

/// Whether a request that named `host` may connect to `ip`.
///
/// `user_granted`: the allow-list entry that matched was given by the user (the roster file's
/// `allowed_hosts`), not only asked for by the component. `allow_private`: the provider is
/// opted in to private networks. `host` may carry IPv6 brackets; case is ignored.
pub fn check_address(
    host: &str,
    ip: IpAddr,
    user_granted: bool,
    allow_private: bool,
) -> Result<(), AddressRefused> {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let class = classify(ip);
    let literal = host.parse::<IpAddr>().is_ok_and(|h| h == ip);
    let allowed = allow_private
        || match class {
            AddressClass::Public => true,
            AddressClass::Loopback => literal || host == "localhost",
            AddressClass::Private => literal,
            AddressClass::LinkLocal
            | AddressClass::CloudMetadata
            | AddressClass::Unspecified
            | AddressClass::Reserved => literal && user_granted,
        };
    if allowed {
        Ok(())
    } else {
        Err(AddressRefused { host, ip, class })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass::*;

    /// tests/vectors/addresses.json, which the Node and Python hosts run too.
    fn vectors() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/addresses.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("tests/vectors/addresses.json"))
            .expect("valid JSON")
    }

    fn class_name(class: AddressClass) -> &'static str {
        match class {
            Public => "public",
            Loopback => "loopback",
            Private => "private",
            LinkLocal => "link_local",
            CloudMetadata => "cloud_metadata",
            Unspecified => "unspecified",
            Reserved => "reserved",
        }
    }

    #[test]
    fn classifies_addresses_as_the_vectors_say() {
        let v = vectors();
        let cases = v["classes"].as_array().unwrap();
        assert!(cases.len() > 30);
        for c in cases {
            let ip = c["ip"].as_str().unwrap();
            assert_eq!(
                class_name(classify(ip.parse().unwrap())),
                c["class"],
                "{ip}"
            );
        }
    }

    #[test]
    fn decides_by_host_grant_and_opt_in_as_the_vectors_say() {
        let v = vectors();
        let cases = v["decisions"].as_array().unwrap();
        assert!(cases.len() > 20);
        for c in cases {
            let (host, ip) = (c["host"].as_str().unwrap(), c["ip"].as_str().unwrap());
            let (granted, opted) = (
                c["user_granted"].as_bool().unwrap(),
                c["allow_private_networks"].as_bool().unwrap(),
            );
            let got = check_address(host, ip.parse().unwrap(), granted, opted);
            assert_eq!(got.is_ok(), c["allowed"].as_bool().unwrap(), "{c}: {got:?}");
        }
    }

    #[test]
    fn refusals_say_what_and_how_to_grant() {
        let e = check_address("127.1", "127.0.0.1".parse().unwrap(), false, false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "127.1 resolves to 127.0.0.1, a loopback address (this machine); private networks are refused unless the \
             provider's hosts name the IP address itself (or `localhost`), or the provider sets `allow_private_networks = true`"
        );
        let e = check_address(
            "169.254.169.254",
            "169.254.169.254".parse().unwrap(),
            false,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("169.254.169.254 is a cloud metadata address; "),
            "{e}"
        );
        assert!(e.contains("a component cannot grant it to itself"), "{e}");
    }
}
