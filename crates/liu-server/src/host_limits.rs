//! Limits per client address, so that one host can never lock others out:
//! connections it holds on each listener (at most a share of that
//! listener's cap), new connections per second, RTMPT sessions and TLS
//! handshakes in flight. Trusted networks (loopback by default) are exempt.
//! IPv6 addresses count per /64, the block one subscriber usually has.
//!
//! Each admission is a [`HostPermit`]; dropping it gives the place back.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::Deserialize;

/// `[limits]`: what one address may take.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections one address may hold on one listener.
    pub per_host_connections: u32,
    /// The share of a listener's `max_connections` one address may never
    /// exceed, whatever `per_host_connections` says.
    pub per_host_share: f64,
    /// New connections one address may open per second (all listeners;
    /// bursts up to as many at once).
    pub per_host_rate: u32,
    /// RTMPT sessions one address may hold.
    pub per_host_rtmpt_sessions: u32,
    /// TLS handshakes one address may have in flight.
    pub per_host_tls_handshakes: u32,
    /// Networks whose addresses no per-host limit applies to.
    pub trusted: Vec<Network>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            per_host_connections: 1_000,
            per_host_share: 0.5,
            per_host_rate: 200,
            per_host_rtmpt_sessions: 100,
            per_host_tls_handshakes: 64,
            trusted: vec![
                Network::from_str("127.0.0.0/8").expect("valid"),
                Network::from_str("::1/128").expect("valid"),
            ],
        }
    }
}

/// An address block, `ADDRESS/PREFIX` (a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an address or ADDRESS/PREFIX"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix must be 0 to {max}"))?,
        };
        Ok(Network { addr, prefix })
    }
}

impl TryFrom<String> for Network {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRefusal {
    Connections { limit: u32 },
    Rate { per_second: u32 },
    Sessions { limit: u32 },
    Handshakes { limit: u32 },
}

impl fmt::Display for HostRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostRefusal::Connections { limit } => {
                write!(f, "{limit} connections from this address already")
            }
            HostRefusal::Rate { per_second } => {
                write!(
                    f,
                    "more than {per_second} new connections per second from this address"
                )
            }
            HostRefusal::Sessions { limit } => {
                write!(f, "{limit} RTMPT sessions from this address already")
            }
            HostRefusal::Handshakes { limit } => {
                write!(
                    f,
                    "{limit} TLS handshakes from this address in flight already"
                )
            }
        }
    }
}

/// The key an address counts under: itself (IPv4), its /64 (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct HostKey(u128, bool);

impl HostKey {
    fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => HostKey(u128::from(u32::from(v4)), false),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => HostKey(u128::from(u32::from(v4)), false),
                None => HostKey(u128::from(v6) & !u128::from(u64::MAX), true),
            },
        }
    }
}

/// What one address holds.
#[derive(Debug)]
struct Host {
    /// Connections per listener (by its name).
    connections: Vec<(&'static str, u32)>,
    sessions: u32,
    handshakes: u32,
    /// New-connection tokens left, and when they were counted.
    tokens: f64,
    counted: Instant,
}

impl Host {
    fn holds_nothing(&self) -> bool {
        self.sessions == 0 && self.handshakes == 0 && self.connections.iter().all(|(_, n)| *n == 0)
    }
}

/// Which count a permit holds a place in.
#[derive(Debug, Clone, Copy)]
enum Place {
    Connection(&'static str),
    Session,
    Handshake,
}

/// Every address's counts.
#[derive(Debug)]
pub struct HostLimits {
    config: LimitsConfig,
    hosts: Mutex<HashMap<HostKey, Host>>,
}

/// A place one address holds; dropping it gives the place back.
#[derive(Debug)]
pub struct HostPermit {
    limits: Arc<HostLimits>,
    key: HostKey,
    place: Place,
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        let mut hosts = self.limits.hosts();
        let Some(host) = hosts.get_mut(&self.key) else {
            return;
        };
        match self.place {
            Place::Connection(what) => {
                if let Some((_, n)) = host.connections.iter_mut().find(|(w, _)| *w == what) {
                    *n = n.saturating_sub(1);
                }
            }
            Place::Session => host.sessions = host.sessions.saturating_sub(1),
            Place::Handshake => host.handshakes = host.handshakes.saturating_sub(1),
        }
    }
}

impl HostLimits {
    pub fn new(config: LimitsConfig) -> Arc<Self> {
        Arc::new(HostLimits {
            config,
            hosts: Mutex::new(HashMap::new()),
        })
    }

    fn hosts(&self) -> MutexGuard<'_, HashMap<HostKey, Host>> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.config.trusted.iter().any(|n| n.contains(ip))
    }

    /// Admits a new connection from `ip` on the listener `what`, whose own
    /// cap is `listener_max`; `None` for a trusted address.
    pub fn connection(
        self: &Arc<Self>,
        ip: IpAddr,
        what: &'static str,
        listener_max: usize,
        now: Instant,
    ) -> Result<Option<HostPermit>, HostRefusal> {
        if self.trusted(ip) {
            return Ok(None);
        }
        let share = (listener_max as f64 * self.config.per_host_share)
            .floor()
            .max(1.0);
        let limit = self.config.per_host_connections.min(share as u32).max(1);
        let rate = self.config.per_host_rate;
        let key = HostKey::of(ip);
        let mut hosts = self.hosts();
        let host = entry(&mut hosts, key, rate, now);
        let held = host
            .connections
            .iter()
            .find(|(w, _)| *w == what)
            .map_or(0, |(_, n)| *n);
        if held >= limit {
            return Err(HostRefusal::Connections { limit });
        }
        // Token bucket: `rate` per second, bursts of `rate`.
        let elapsed = now.saturating_duration_since(host.counted).as_secs_f64();
        host.tokens = (host.tokens + elapsed * f64::from(rate)).min(f64::from(rate));
        host.counted = now;
        if host.tokens < 1.0 {
            return Err(HostRefusal::Rate { per_second: rate });
        }
        host.tokens -= 1.0;
        match host.connections.iter_mut().find(|(w, _)| *w == what) {
            Some((_, n)) => *n += 1,
            None => host.connections.push((what, 1)),
        }
        Ok(Some(self.permit(key, Place::Connection(what))))
    }

    /// Admits a new RTMPT session from `ip`.
    pub fn session(self: &Arc<Self>, ip: IpAddr) -> Result<Option<HostPermit>, HostRefusal> {
        let limit = self.config.per_host_rtmpt_sessions;
        self.count(ip, Place::Session, limit, |h| &mut h.sessions)
            .map_err(|_| HostRefusal::Sessions { limit })
    }

    /// Admits a TLS handshake from `ip`.
    pub fn handshake(self: &Arc<Self>, ip: IpAddr) -> Result<Option<HostPermit>, HostRefusal> {
        let limit = self.config.per_host_tls_handshakes;
        self.count(ip, Place::Handshake, limit, |h| &mut h.handshakes)
            .map_err(|_| HostRefusal::Handshakes { limit })
    }

    fn count(
        self: &Arc<Self>,
        ip: IpAddr,
        place: Place,
        limit: u32,
        counter: impl FnOnce(&mut Host) -> &mut u32,
    ) -> Result<Option<HostPermit>, ()> {
        if self.trusted(ip) {
            return Ok(None);
        }
        let key = HostKey::of(ip);
        let mut hosts = self.hosts();
        let n = counter(entry(
            &mut hosts,
            key,
            self.config.per_host_rate,
            Instant::now(),
        ));
        if *n >= limit {
            return Err(());
        }
        *n += 1;
        Ok(Some(self.permit(key, place)))
    }

    fn permit(self: &Arc<Self>, key: HostKey, place: Place) -> HostPermit {
        HostPermit {
            limits: self.clone(),
            key,
            place,
        }
    }

    /// Forgets addresses that hold nothing and whose rate allowance is full
    /// again (call it every second or so): the table holds only addresses
    /// with live connections or recent bursts.
    pub fn sweep(&self, now: Instant) {
        let rate = f64::from(self.config.per_host_rate);
        self.hosts().retain(|_, h| {
            let refilled = h.tokens + now.saturating_duration_since(h.counted).as_secs_f64() * rate;
            !(h.holds_nothing() && refilled >= rate)
        });
    }

    /// Addresses in the table (for tests).
    pub fn tracked(&self) -> usize {
        self.hosts().len()
    }
}

fn entry(hosts: &mut HashMap<HostKey, Host>, key: HostKey, rate: u32, now: Instant) -> &mut Host {
    hosts.entry(key).or_insert_with(|| Host {
        connections: Vec::new(),
        sessions: 0,
        handshakes: 0,
        tokens: f64::from(rate),
        counted: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(per_host: u32, rate: u32) -> Arc<HostLimits> {
        HostLimits::new(LimitsConfig {
            per_host_connections: per_host,
            per_host_rate: rate,
            per_host_rtmpt_sessions: 2,
            per_host_tls_handshakes: 1,
            trusted: vec!["10.9.0.0/16".parse().unwrap()],
            ..LimitsConfig::default()
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks() {
        let n: Network = "192.168.1.0/24".parse().unwrap();
        assert!(n.contains(ip("192.168.1.77")));
        assert!(!n.contains(ip("192.168.2.1")));
        assert!(!n.contains(ip("::1")));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let one: Network = "2001:db8::1".parse().unwrap();
        assert!(one.contains(ip("2001:db8::1")) && !one.contains(ip("2001:db8::2")));
        for bad in ["10.0.0.0/33", "nonsense", "::/129", "1.2.3.4/x"] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }

    #[test]
    fn connections_per_host_and_listener_are_bounded_and_given_back() {
        let l = limits(3, 1000);
        let now = Instant::now();
        let a = ip("192.0.2.1");
        let held: Vec<_> = (0..3)
            .map(|_| l.connection(a, "RTMP", 100, now).unwrap().unwrap())
            .collect();
        assert_eq!(
            l.connection(a, "RTMP", 100, now).unwrap_err(),
            HostRefusal::Connections { limit: 3 }
        );
        // Another listener and another address are counted apart.
        assert!(l.connection(a, "HTTP", 100, now).is_ok());
        assert!(l.connection(ip("192.0.2.2"), "RTMP", 100, now).is_ok());
        drop(held);
        assert!(l.connection(a, "RTMP", 100, now).is_ok());
    }

    #[test]
    fn one_address_never_takes_more_than_its_share() {
        let l = limits(1000, 1000);
        let now = Instant::now();
        let a = ip("192.0.2.1");
        let _held: Vec<_> = (0..50)
            .map(|_| l.connection(a, "RTMP", 100, now).unwrap())
            .collect();
        assert_eq!(
            l.connection(a, "RTMP", 100, now).unwrap_err(),
            HostRefusal::Connections { limit: 50 }
        );
    }

    #[test]
    fn new_connections_per_second_refill() {
        let l = limits(1000, 10);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for _ in 0..10 {
            drop(l.connection(a, "HTTP", 10_000, t0).unwrap());
        }
        assert_eq!(
            l.connection(a, "HTTP", 10_000, t0).unwrap_err(),
            HostRefusal::Rate { per_second: 10 }
        );
        let later = t0 + Duration::from_millis(500);
        for _ in 0..5 {
            drop(l.connection(a, "HTTP", 10_000, later).unwrap());
        }
        assert!(l.connection(a, "HTTP", 10_000, later).is_err());
    }

    #[test]
    fn trusted_networks_and_ipv6_blocks() {
        let l = limits(1, 1000);
        let now = Instant::now();
        let trusted = ip("10.9.3.4");
        for _ in 0..10 {
            assert!(l.connection(trusted, "RTMP", 100, now).unwrap().is_none());
        }
        let _p = l
            .connection(ip("2001:db8:0:1::1"), "RTMP", 100, now)
            .unwrap();
        // The same /64: the same host.
        assert!(
            l.connection(ip("2001:db8:0:1::ffff"), "RTMP", 100, now)
                .is_err()
        );
        assert!(
            l.connection(ip("2001:db8:0:2::1"), "RTMP", 100, now)
                .is_ok()
        );
        // An IPv4-mapped address is its IPv4 address.
        let _q = l.connection(ip("192.0.2.9"), "RTMP", 100, now).unwrap();
        assert!(
            l.connection(ip("::ffff:192.0.2.9"), "RTMP", 100, now)
                .is_err()
        );
    }

    #[test]
    fn sessions_and_handshakes() {
        let l = limits(10, 1000);
        let a = ip("192.0.2.1");
        let s1 = l.session(a).unwrap();
        let _s2 = l.session(a).unwrap();
        assert_eq!(
            l.session(a).unwrap_err(),
            HostRefusal::Sessions { limit: 2 }
        );
        drop(s1);
        assert!(l.session(a).is_ok());
        let _h = l.handshake(a).unwrap();
        assert_eq!(
            l.handshake(a).unwrap_err(),
            HostRefusal::Handshakes { limit: 1 }
        );
    }

    #[test]
    fn the_table_forgets_idle_addresses() {
        let l = limits(10, 10);
        let t0 = Instant::now();
        let p = l.connection(ip("192.0.2.1"), "RTMP", 100, t0).unwrap();
        drop(l.connection(ip("192.0.2.2"), "RTMP", 100, t0).unwrap());
        l.sweep(t0);
        assert_eq!(l.tracked(), 2, "one holds a connection, one used a token");
        l.sweep(t0 + Duration::from_secs(1));
        assert_eq!(l.tracked(), 1);
        drop(p);
        l.sweep(t0 + Duration::from_secs(2));
        assert_eq!(l.tracked(), 0);
    }
}
