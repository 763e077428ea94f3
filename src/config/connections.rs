//! `connections:` how long a player connection may stay silent, how long a
//! request's header may take, and how many connections the edge holds, in
//! all and per client address (`crate::connections` applies them).
//!
//! Defaults are safe for players and hostile to slow attacks: a player
//! sends its request at once (header 10 s, first request 10 s), reloads
//! live playlists every target duration (keep-alive 30 s covers a 10 s
//! target with room), and reads what it asked for (a write stalled 30 s is
//! a client gone). 4096 connections at Pingora's per-connection buffers
//! bound the memory idle connections can take; 128 per address leaves room
//! for a household or an office behind one NAT.

use std::time::Duration;

use serde::Deserialize;

use super::file::Unknown;
use super::Problems;

/// The section as written.
#[derive(Debug, Default, Deserialize)]
pub struct ConnectionsFile {
    pub max: Option<usize>,
    pub max_per_client: Option<usize>,
    pub idle_timeout: Option<String>,
    pub header_timeout: Option<String>,
    pub keepalive_timeout: Option<String>,
    pub send_timeout: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// The validated section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Open player connections, all addresses together.
    pub max: usize,
    /// Open player connections from one client address.
    pub max_per_client: usize,
    /// A new connection that sends no byte of a request within this is closed.
    pub idle_timeout: Duration,
    /// From a request's first byte to the end of its header section.
    pub header_timeout: Duration,
    /// Between a response's end and the next request's first byte.
    pub keepalive_timeout: Duration,
    /// A response write that makes no progress for this long ends the connection.
    pub send_timeout: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            max: 4096,
            max_per_client: 128,
            idle_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
        }
    }
}

pub fn validate(f: &ConnectionsFile, p: &mut Problems) -> Option<ConnectionSettings> {
    p.unknown_keys("connections", &f.unknown);
    let d = ConnectionSettings::default();
    let max = count(p, "connections.max", f.max, d.max);
    let max_per_client = count(
        p,
        "connections.max_per_client",
        f.max_per_client,
        d.max_per_client,
    );
    let timeout = |p: &mut Problems, key: &str, value: &Option<String>, default: &str| {
        let path = format!("connections.{key}");
        let parsed = p.duration(&path, value.as_deref(), default)?;
        if parsed.is_zero() || parsed > Duration::from_secs(3600) {
            p.push(path, "must be between 1ms and 1h");
            return None;
        }
        Some(parsed)
    };
    let idle_timeout = timeout(p, "idle_timeout", &f.idle_timeout, "10s");
    let header_timeout = timeout(p, "header_timeout", &f.header_timeout, "10s");
    let keepalive_timeout = timeout(p, "keepalive_timeout", &f.keepalive_timeout, "30s");
    let send_timeout = timeout(p, "send_timeout", &f.send_timeout, "30s");
    Some(ConnectionSettings {
        max: max?,
        max_per_client: max_per_client?,
        idle_timeout: idle_timeout?,
        header_timeout: header_timeout?,
        keepalive_timeout: keepalive_timeout?,
        send_timeout: send_timeout?,
    })
}

fn count(p: &mut Problems, path: &str, value: Option<usize>, default: usize) -> Option<usize> {
    match value.unwrap_or(default) {
        0 => {
            p.push(path, "must be at least 1");
            None
        }
        n if n > 1_000_000 => {
            p.push(path, format!("{n} is more than 1000000"));
            None
        }
        n => Some(n),
    }
}
