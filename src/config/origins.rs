//! `origin_groups.NAME`: the origins a route pulls from, how they are ranked
//! (priority, weight), how their health is judged, and the optional sibling
//! edges that share the cache (design section 5).
//!
//! Validation only: every problem is pushed with its key path and the group is
//! still built from what is valid, so that one run names all of them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::file::{HealthFile, OriginFile, OriginGroupFile, SiblingsFile};
use super::Problems;

/// The highest `priority` and `weight` accepted (keeps weighted sums small).
const MAX_RANK: u32 = 1000;

#[derive(Debug, Clone)]
pub struct OriginGroupConfig {
    pub name: String,
    /// In the order written; selection ranks them by `priority`.
    pub origins: Vec<OriginConfig>,
    pub health: HealthConfig,
    /// A segment 404 is tried once more on another origin (it may not have
    /// reached this one yet).
    pub retry_404_segments: bool,
    pub siblings: Option<SiblingsConfig>,
}

#[derive(Debug, Clone)]
pub struct OriginConfig {
    pub url: String,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Lower is tried first (default 0).
    pub priority: u32,
    /// Share of requests among healthy origins of the same priority (default 1).
    pub weight: u32,
    /// Verify the origin's certificate and name (default true). `false` is
    /// for tests only: anyone on the path can then impersonate the origin.
    pub tls_verify: bool,
    /// Another hls-edge (a shield, a sibling): requests are signed with the
    /// peer secret.
    pub peer: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub idle_timeout: Duration,
    pub http2: Http2Config,
}

/// `origin_groups.NAME.http2`: how the edge speaks HTTP/2 to the group's
/// origins and siblings. On `https` origins ALPN offers `h2` then
/// `http/1.1`, so an origin without HTTP/2 is still reached; on `http`
/// origins HTTP/2 is spoken with prior knowledge (h2c, RFC 9113 section
/// 3.3), which the origin must support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Config {
    pub enabled: bool,
    /// Requests multiplexed on one connection before another is opened.
    pub max_streams: usize,
}

impl Default for Http2Config {
    fn default() -> Self {
        Http2Config {
            enabled: false,
            max_streams: 100,
        }
    }
}

/// `origin_groups.NAME.health`: passive ejection, active probes, stale playlists.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// Consecutive failures that eject an origin (for the kind of traffic that failed:
    /// playlists or media).
    pub failures: u32,
    /// A share of failures among the last requests of one kind that ejects the origin for
    /// that kind, even between successes.
    pub failure_ratio: f64,
    /// How long an ejected origin is skipped before one request probes it;
    /// also how long a failure keeps an origin `degraded`.
    pub cooldown: Duration,
    /// A response header slower than this marks the origin `degraded`.
    pub slow: Option<Duration>,
    /// Path probed with a GET on every origin; no active probing when absent.
    pub probe_path: Option<String>,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    /// A live playlist not advanced for this many target durations, while
    /// another origin's has, marks its origin `stale`.
    pub stale_after: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            failures: 3,
            failure_ratio: 0.5,
            cooldown: Duration::from_secs(10),
            slow: None,
            probe_path: None,
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(2),
            stale_after: 3,
        }
    }
}

/// `origin_groups.NAME.siblings`: the edges sharing one cache by consistent
/// hashing of cache keys.
#[derive(Debug, Clone)]
pub struct SiblingsConfig {
    /// Every edge of the cluster, this one included, in the order written.
    pub peers: Vec<OriginConfig>,
    /// This edge's position in `peers`.
    pub me: usize,
}

/// What a group gives its origins: timeouts they do not set themselves,
/// and the HTTP version.
struct GroupDefaults {
    connect: Duration,
    read: Duration,
    idle: Duration,
    http2: Http2Config,
}

pub(super) fn origin_groups(
    groups: &BTreeMap<String, OriginGroupFile>,
    p: &mut Problems,
) -> BTreeMap<String, OriginGroupConfig> {
    groups
        .iter()
        .map(|(name, g)| (name.clone(), origin_group(name, g, p)))
        .collect()
}

fn origin_group(name: &str, g: &OriginGroupFile, p: &mut Problems) -> OriginGroupConfig {
    let path = format!("origin_groups.{name}");
    p.unknown_keys(&path, &g.unknown);
    if g.origins.is_empty() {
        p.push(format!("{path}.origins"), "needs at least one origin");
    }
    let connect = p.duration(
        &format!("{path}.connect_timeout"),
        g.connect_timeout.as_deref(),
        "2s",
    );
    let read = p.duration(
        &format!("{path}.read_timeout"),
        g.read_timeout.as_deref(),
        "10s",
    );
    let idle = p.duration(
        &format!("{path}.idle_timeout"),
        g.idle_timeout.as_deref(),
        "60s",
    );
    let health = match &g.health {
        Some(h) => health(&format!("{path}.health"), h, p),
        None => HealthConfig::default(),
    };
    // A bad group timeout is already reported; the origins are still checked
    // (with the default in its place) so that their problems are named too.
    let timeouts = GroupDefaults {
        connect: connect.unwrap_or(Duration::from_secs(2)),
        read: read.unwrap_or(Duration::from_secs(10)),
        idle: idle.unwrap_or(Duration::from_secs(60)),
        http2: http2(&path, g, p),
    };
    let mut origins: Vec<OriginConfig> = Vec::new();
    for (i, o) in g.origins.iter().enumerate() {
        let opath = format!("{path}.origins[{i}]");
        let Some(origin) = origin(&opath, o, &timeouts, p) else {
            continue;
        };
        if let Some(j) = g.origins[..i].iter().position(|e| e.url == o.url) {
            p.push(format!("{opath}.url"), format!("repeats origins[{j}]"));
        }
        origins.push(origin);
    }
    let siblings = g
        .siblings
        .as_ref()
        .and_then(|s| siblings(&format!("{path}.siblings"), s, &timeouts, p));
    group(name, origins, health, g.retry_404_segments, siblings)
}

fn group(
    name: &str,
    origins: Vec<OriginConfig>,
    health: HealthConfig,
    retry_404_segments: Option<bool>,
    siblings: Option<SiblingsConfig>,
) -> OriginGroupConfig {
    OriginGroupConfig {
        name: name.to_string(),
        origins,
        health,
        retry_404_segments: retry_404_segments.unwrap_or(true),
        siblings,
    }
}

fn origin(path: &str, o: &OriginFile, t: &GroupDefaults, p: &mut Problems) -> Option<OriginConfig> {
    p.unknown_keys(path, &o.unknown);
    let own_connect = o
        .connect_timeout
        .as_deref()
        .map(|v| p.duration(&format!("{path}.connect_timeout"), Some(v), ""));
    let own_read = o
        .read_timeout
        .as_deref()
        .map(|v| p.duration(&format!("{path}.read_timeout"), Some(v), ""));
    let priority = bounded(p, &format!("{path}.priority"), o.priority, 0, 0);
    let weight = bounded(p, &format!("{path}.weight"), o.weight, 1, 1);
    let (tls, host, port) = p.origin_url(&format!("{path}.url"), o.url.as_deref())?;
    if o.tls_verify.is_some() && !tls {
        p.push(
            format!("{path}.tls_verify"),
            "applies to https origins only",
        );
    }
    Some(OriginConfig {
        url: o.url.clone().unwrap_or_default(),
        tls,
        host,
        port,
        priority: priority?,
        weight: weight?,
        tls_verify: o.tls_verify.unwrap_or(true),
        peer: o.peer.unwrap_or(false),
        connect_timeout: own_connect.flatten().unwrap_or(t.connect),
        read_timeout: own_read.flatten().unwrap_or(t.read),
        idle_timeout: t.idle,
        http2: t.http2,
    })
}

fn http2(path: &str, g: &OriginGroupFile, p: &mut Problems) -> Http2Config {
    let d = Http2Config::default();
    let max_streams = g.http2_max_streams.map_or(d.max_streams, |n| n as usize);
    if !(1..=1000).contains(&max_streams) {
        p.push(
            format!("{path}.http2_max_streams"),
            format!("{max_streams} is not between 1 and 1000"),
        );
    }
    if g.http2_max_streams.is_some() && g.http2 != Some(true) {
        p.push(
            format!("{path}.http2_max_streams"),
            "applies with http2: true only",
        );
    }
    Http2Config {
        enabled: g.http2.unwrap_or(false),
        max_streams: max_streams.clamp(1, 1000),
    }
}

/// `value` (or `default`) when it lies in `min..=MAX_RANK`.
fn bounded(
    p: &mut Problems,
    path: &str,
    value: Option<u32>,
    default: u32,
    min: u32,
) -> Option<u32> {
    let v = value.unwrap_or(default);
    if (min..=MAX_RANK).contains(&v) {
        Some(v)
    } else {
        p.push(path, format!("{v} is not between {min} and {MAX_RANK}"));
        None
    }
}

fn health(path: &str, h: &HealthFile, p: &mut Problems) -> HealthConfig {
    p.unknown_keys(path, &h.unknown);
    let d = HealthConfig::default();
    let failures = bounded(p, &format!("{path}.failures"), h.failures, d.failures, 1);
    let stale_after = bounded(
        p,
        &format!("{path}.stale_after"),
        h.stale_after,
        d.stale_after,
        1,
    );
    let failure_ratio = h.failure_ratio.unwrap_or(d.failure_ratio);
    if !(failure_ratio > 0.0 && failure_ratio <= 1.0) {
        p.push(
            format!("{path}.failure_ratio"),
            format!("{failure_ratio} is not a share above 0 and at most 1"),
        );
    }
    let mut positive = |key: &str, value: Option<&str>, default: &str| {
        let key = format!("{path}.{key}");
        match p.duration(&key, value, default) {
            Some(Duration::ZERO) => {
                p.push(key, "must be longer than 0");
                None
            }
            other => other,
        }
    };
    let cooldown = positive("cooldown", h.cooldown.as_deref(), "10s");
    let probe_interval = positive("probe_interval", h.probe_interval.as_deref(), "5s");
    let probe_timeout = positive("probe_timeout", h.probe_timeout.as_deref(), "2s");
    let slow = h
        .slow
        .as_deref()
        .and_then(|v| positive("slow", Some(v), ""));
    if let Some(probe) = h.probe_path.as_deref() {
        if !probe.starts_with('/') || probe.chars().any(|c| c.is_whitespace() || c.is_control()) {
            p.push(
                format!("{path}.probe_path"),
                format!("'{probe}' must be a path starting with '/', without spaces"),
            );
        }
    }
    HealthConfig {
        failures: failures.unwrap_or(d.failures),
        failure_ratio: if failure_ratio > 0.0 && failure_ratio <= 1.0 {
            failure_ratio
        } else {
            d.failure_ratio
        },
        cooldown: cooldown.unwrap_or(d.cooldown),
        slow,
        probe_path: h.probe_path.clone(),
        probe_interval: probe_interval.unwrap_or(d.probe_interval),
        probe_timeout: probe_timeout.unwrap_or(d.probe_timeout),
        stale_after: stale_after.unwrap_or(d.stale_after),
    }
}

fn siblings(
    path: &str,
    s: &SiblingsFile,
    t: &GroupDefaults,
    p: &mut Problems,
) -> Option<SiblingsConfig> {
    p.unknown_keys(path, &s.unknown);
    let mut peers: Vec<OriginConfig> = Vec::new();
    for (i, url) in s.peers.iter().enumerate() {
        let ppath = format!("{path}.peers[{i}]");
        let Some(peer) = sibling(&ppath, Some(url), t, p) else {
            continue;
        };
        if peers.iter().any(|q| same_edge(q, &peer)) {
            p.push(ppath, format!("'{url}' is listed twice"));
            continue;
        }
        peers.push(peer);
    }
    let me = sibling(&format!("{path}.self"), s.me.as_deref(), t, p)?;
    let me_index = match peers.iter().position(|q| same_edge(q, &me)) {
        Some(i) => i,
        None => {
            peers.push(me);
            peers.len() - 1
        }
    };
    if peers.len() < 2 {
        p.push(
            format!("{path}.peers"),
            "needs at least one edge besides self",
        );
        return None;
    }
    Some(SiblingsConfig {
        peers,
        me: me_index,
    })
}

/// A sibling edge, reached like an origin with the group's timeouts.
fn sibling(
    path: &str,
    url: Option<&str>,
    t: &GroupDefaults,
    p: &mut Problems,
) -> Option<OriginConfig> {
    let (tls, host, port) = p.origin_url(path, url)?;
    Some(OriginConfig {
        url: url.unwrap_or_default().to_string(),
        tls,
        host,
        port,
        priority: 0,
        weight: 1,
        tls_verify: true,
        peer: true,
        connect_timeout: t.connect,
        read_timeout: t.read,
        idle_timeout: t.idle,
        http2: t.http2,
    })
}

fn same_edge(a: &OriginConfig, b: &OriginConfig) -> bool {
    (&a.host, a.port) == (&b.host, b.port)
}
