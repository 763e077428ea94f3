//! How many client connections are open, in all and per client: a
//! connection is counted from accept to close by the [`Permit`] it holds.
//!
//! A "client" is an IPv4 address, or an IPv6 /64: one host gets a whole
//! /64 (RFC 6177), so counting single IPv6 addresses would let one client
//! open as many connections as it has addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::metrics;

/// Why a connection was refused at accept (the `reason` label of
/// `hls_edge_connections_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CapReached {
    #[error("the edge holds connections.max connections")]
    Max,
    #[error("this client holds connections.max_per_client connections")]
    PerClient,
}

impl CapReached {
    pub fn reason(self) -> &'static str {
        match self {
            CapReached::Max => "max",
            CapReached::PerClient => "per-client",
        }
    }
}

/// A client's key: its IPv4 address or its IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(u128);

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => ClientKey((u128::from(v6) >> 64 << 64) | 1),
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<ClientKey, usize>,
}

/// The open connections of one listener set.
#[derive(Debug)]
pub struct ConnectionBook {
    max: usize,
    max_per_client: usize,
    counts: Mutex<Counts>,
}

/// One open connection; dropping it (the connection closed) frees its place.
#[derive(Debug)]
pub struct Permit {
    book: Arc<ConnectionBook>,
    client: Option<ClientKey>,
}

impl ConnectionBook {
    pub fn new(max: usize, max_per_client: usize) -> Arc<ConnectionBook> {
        Arc::new(ConnectionBook {
            max,
            max_per_client,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// A place for a connection from `client` (unknown for a Unix socket),
    /// or which limit it would exceed.
    pub fn admit(self: &Arc<Self>, client: Option<IpAddr>) -> Result<Permit, CapReached> {
        let client = client.map(ClientKey::of);
        let mut counts = self.counts.lock();
        if counts.total >= self.max {
            return Err(CapReached::Max);
        }
        if let Some(key) = client {
            let mine = counts.per_client.entry(key).or_insert(0);
            if *mine >= self.max_per_client {
                return Err(CapReached::PerClient);
            }
            *mine += 1;
        }
        counts.total += 1;
        metrics::CONNECTIONS_OPEN.inc();
        Ok(Permit {
            book: self.clone(),
            client,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().total
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.book.counts.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(key) = self.client {
            if let Some(n) = counts.per_client.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.per_client.remove(&key);
                }
            }
        }
        metrics::CONNECTIONS_OPEN.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn caps_per_client_and_in_all_and_places_come_back() {
        let book = ConnectionBook::new(4, 2);
        let a1 = book.admit(ip("192.0.2.1")).unwrap();
        let _a2 = book.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert_eq!(
            book.admit(ip("192.0.2.1")).unwrap_err(),
            CapReached::PerClient
        );
        let _b1 = book.admit(ip("2001:db8::1")).unwrap();
        // the same /64
        let _b2 = book.admit(ip("2001:db8::ffff:2")).unwrap();
        assert_eq!(book.admit(ip("2001:db8::3")).unwrap_err(), CapReached::Max);
        drop(a1);
        assert_eq!(book.open(), 3);
        assert_eq!(
            book.admit(ip("2001:db8::3")).unwrap_err(),
            CapReached::PerClient
        );
        let c = book.admit(ip("198.51.100.9")).unwrap();
        assert_eq!(book.admit(None).unwrap_err(), CapReached::Max);
        drop(c);
        assert!(book.admit(None).is_ok());
    }
}
