//! One origin server, and the group of them behind a route: which origin a
//! request tries next (`select`), what the edge learned from it (`report`),
//! and what the operator sees (`status`).
//!
//! The group owns the per-origin health; the rules live in `health` and
//! `selection`, pure. What each origin's playlists say (stale, behind) is kept
//! by the stream book (`crate::streams`), which the caller passes in for
//! playlist requests. The request remembers which origins it tried: the group
//! never does.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pingora::protocols::ALPN;
use pingora::upstreams::peer::HttpPeer;
use serde::Serialize;

use super::health::{Admission, EjectionReason, HealthState, OriginHealth, Outcome, Traffic};
use super::selection::{self, Candidate};
use super::siblings::{Owner, Siblings};
use crate::config::{HealthConfig, OriginConfig, OriginGroupConfig};
use crate::streams::OriginProgress;

/// How often an idle HTTP/2 connection to an origin is pinged.
const H2_PING_INTERVAL: Duration = Duration::from_secs(15);

/// Why an origin group cannot be built at start-up.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("origin_groups.{group}: origin '{url}' does not resolve: {reason}")]
    Resolve {
        group: String,
        url: String,
        reason: String,
    },
    #[error("origin_groups.{group}.siblings: '{url}' resolves to the address of another peer")]
    SameAddress { group: String, url: String },
}

/// An origin server as the proxy reaches it.
#[derive(Debug)]
pub struct Origin {
    /// `host:port`, the origin's label in metrics and logs.
    pub name: String,
    /// The `Host` header sent to it.
    pub host_header: String,
    /// Lower is tried first.
    pub priority: u32,
    /// Share of requests among equals.
    pub weight: u32,
    /// Another hls-edge: requests to it carry a peer signature.
    pub is_edge: bool,
    peer: HttpPeer,
    addr: SocketAddr,
    /// HTTP/2 origins: taken by one request at a time while it gets a
    /// connection (see `connection_turn`).
    connection_gate: Option<Arc<tokio::sync::Mutex<()>>>,
    connect_timeout: Duration,
}

impl Origin {
    pub(crate) fn new(group: &str, cfg: &OriginConfig) -> Result<Origin, OriginError> {
        let resolve_error = |reason: String| OriginError::Resolve {
            group: group.to_string(),
            url: cfg.url.clone(),
            reason,
        };
        let addr: SocketAddr = (cfg.host.as_str(), cfg.port)
            .to_socket_addrs()
            .map_err(|e| resolve_error(e.to_string()))?
            .next()
            .ok_or_else(|| resolve_error("no address".to_string()))?;
        // SNI is always set on TLS peers: an empty SNI would skip certificate
        // verification.
        let mut peer = HttpPeer::new(addr, cfg.tls, cfg.host.clone());
        peer.options.verify_cert = cfg.tls_verify;
        peer.options.verify_hostname = cfg.tls_verify;
        peer.options.connection_timeout = Some(cfg.connect_timeout);
        peer.options.total_connection_timeout = Some(cfg.connect_timeout * 2);
        peer.options.read_timeout = Some(cfg.read_timeout);
        peer.options.write_timeout = Some(cfg.read_timeout);
        peer.options.idle_timeout = Some(cfg.idle_timeout);
        if cfg.http2.enabled {
            // https: ALPN offers h2 then http/1.1, so an origin without
            // HTTP/2 still answers; http: prior knowledge (RFC 9113 3.3)
            peer.options.alpn = if cfg.tls { ALPN::H2H1 } else { ALPN::H2 };
            peer.options.max_h2_streams = cfg.http2.max_streams;
            // a multiplexed connection that died silently would stall
            // every request on it until its read timeout
            peer.options.h2_ping_interval = Some(H2_PING_INTERVAL);
        }
        let default_port = if cfg.tls { 443 } else { 80 };
        let host_header = if cfg.port == default_port {
            cfg.host.clone()
        } else {
            format!("{}:{}", cfg.host, cfg.port)
        };
        Ok(Origin {
            name: format!("{}:{}", cfg.host, cfg.port),
            host_header,
            priority: cfg.priority,
            weight: cfg.weight,
            is_edge: cfg.peer,
            peer,
            addr,
            connection_gate: cfg
                .http2
                .enabled
                .then(|| Arc::new(tokio::sync::Mutex::new(()))),
            connect_timeout: cfg.connect_timeout,
        })
    }

    /// For an HTTP/2 origin: waits (at most the connect timeout) until no
    /// other request is getting a connection to it, and holds that turn
    /// until dropped. Pingora takes a multiplexed connection out of its pool
    /// while it adds a stream, so a request arriving in that moment would
    /// open a connection of its own; taking turns makes a burst share the
    /// one connection (or wait for the one being opened). `None` for
    /// HTTP/1.1 origins, and when the wait timed out.
    pub async fn connection_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        let gate = self.connection_gate.clone()?;
        tokio::time::timeout(self.connect_timeout, gate.lock_owned())
            .await
            .ok()
    }

    /// A fresh peer for one request (Pingora keeps the connection pool).
    pub fn peer(&self) -> Box<HttpPeer> {
        Box::new(self.peer.clone())
    }

    /// The address it resolved to at start-up.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// What a request is for, as far as choosing an origin goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectFor<'a> {
    /// Segments, parts, init sections, keys: anything but a media playlist.
    Segment,
    /// A playlist, with what the stream book knows of each origin's copy of it (empty
    /// when it follows none: a master, or a playlist not seen yet).
    Playlist(&'a [OriginProgress]),
}

impl SelectFor<'_> {
    /// The traffic whose health decides.
    pub fn traffic(self) -> Traffic {
        match self {
            SelectFor::Segment => Traffic::Media,
            SelectFor::Playlist(_) => Traffic::Playlists,
        }
    }

    fn progress(self, index: usize) -> OriginProgress {
        match self {
            SelectFor::Playlist(p) => p.get(index).copied().unwrap_or_default(),
            SelectFor::Segment => OriginProgress::default(),
        }
    }
}

/// One origin on `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct OriginStatus {
    pub name: String,
    pub priority: u32,
    pub weight: u32,
    /// `healthy`, `degraded` (trouble lately, or ejected for one kind of traffic),
    /// `stale` (behind on a live playlist), `down` (ejected for everything).
    pub state: &'static str,
    pub consecutive_failures: u32,
    /// The latest failure or slow answer (`connect-error`, `timeout`, `5xx`,
    /// `truncated`, `missing`, `slow`, ...), if any.
    pub last_error: Option<&'static str>,
    /// Seconds since that happened.
    pub last_error_seconds_ago: Option<u64>,
    /// Live playlists on which it is stale (behind the newest served, not caught up).
    pub stale_playlists: usize,
    /// Per kind of traffic (`playlists`, `media`): its own health.
    pub traffic: std::collections::BTreeMap<&'static str, TrafficStatus>,
}

/// One kind of traffic of one origin on `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct TrafficStatus {
    pub state: &'static str,
    pub consecutive_failures: u32,
    /// Failures among the latest requests (`recent`, at most `health::RECENT`).
    pub recent_failures: u32,
    pub recent: u32,
    pub last_error: Option<&'static str>,
    /// Why it is ejected: e.g. `3 in a row: truncated`, `share: missing`.
    pub ejected_for: Option<String>,
}

/// The origins of one group and what the edge knows of them.
#[derive(Debug)]
pub struct OriginGroup {
    pub name: String,
    /// In configured order; an origin's index here names it in `select`,
    /// `report` and the request's tried list.
    pub origins: Vec<Arc<Origin>>,
    pub health_config: HealthConfig,
    pub retry_404_segments: bool,
    health: Vec<Mutex<OriginHealth>>,
    siblings: Option<Siblings>,
    /// Advanced on every choice; drives the weighted share (see `selection`).
    spin: AtomicU64,
    /// Objects whose body an origin cut short after the player got the
    /// header (that request cannot be retried): the player's retry of the
    /// same object goes to another origin first. Key -> origin index.
    cut_short: moka::sync::Cache<String, usize>,
}

impl OriginGroup {
    pub fn new(cfg: &OriginGroupConfig) -> Result<OriginGroup, OriginError> {
        let origins: Vec<Arc<Origin>> = cfg
            .origins
            .iter()
            .map(|o| Origin::new(&cfg.name, o).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let siblings = cfg
            .siblings
            .as_ref()
            .map(|s| Siblings::new(&cfg.name, s))
            .transpose()?;
        let n = origins.len();
        Ok(OriginGroup {
            name: cfg.name.clone(),
            origins,
            health_config: cfg.health.clone(),
            retry_404_segments: cfg.retry_404_segments,
            health: (0..n).map(|_| Mutex::default()).collect(),
            siblings,
            spin: AtomicU64::new(0),
            cut_short: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(cfg.health.cooldown)
                .build(),
        })
    }

    /// The origin a request tries next, given the indices it already tried,
    /// or `None` when none is left (see `selection` for the ranking). Takes
    /// the half-open probe slot of the origin it returns, if it is on probation.
    pub fn select(
        &self,
        tried: &[usize],
        class: SelectFor<'_>,
        now: Instant,
    ) -> Option<(usize, Arc<Origin>)> {
        let spin = self.spin.fetch_add(1, Ordering::Relaxed);
        let mut excluded = tried.to_vec();
        // Another request may take a probe slot between choosing and claiming.
        for _ in 0..=self.origins.len() {
            let c = self.choose(&excluded, class, now, spin)?;
            if c.admission != Admission::Probe
                || self.health[c.index].lock().claim_probe(
                    class.traffic(),
                    now,
                    &self.health_config,
                )
            {
                return Some((c.index, self.origins[c.index].clone()));
            }
            excluded.push(c.index);
        }
        None
    }

    /// Whether `select` would find an origin (it takes nothing).
    pub fn has_untried(&self, tried: &[usize], class: SelectFor<'_>, now: Instant) -> bool {
        self.choose(tried, class, now, 0).is_some()
    }

    fn choose(
        &self,
        tried: &[usize],
        class: SelectFor<'_>,
        now: Instant,
        spin: u64,
    ) -> Option<Candidate> {
        let traffic = class.traffic();
        let candidates: Vec<Candidate> = (0..self.origins.len())
            .map(|i| {
                let health = self.health[i].lock();
                Candidate {
                    index: i,
                    priority: self.origins[i].priority,
                    weight: self.origins[i].weight,
                    state: health.traffic_state(traffic, now, &self.health_config),
                    admission: health.admission(traffic, now, &self.health_config),
                    tried: tried.contains(&i),
                    behind: class.progress(i).behind,
                }
            })
            .collect();
        let chosen = selection::choose(&candidates, spin)?;
        let SelectFor::Playlist(progress) = class else {
            return Some(chosen);
        };
        if progress.is_empty() || chosen.admission != Admission::Open {
            return Some(chosen);
        }
        let known = |i: usize| class.progress(i);
        // An origin passed over because its playlist is behind is asked again
        // once per window when it would otherwise rank at least as well:
        // nothing else tells the edge that it caught up, and a primary that
        // recovered would stay `stale` and unused for as long as the backup
        // advances. A re-check still behind is sent to no player (the
        // no-regression guard serves the newer playlist instead).
        let recheck: Vec<Candidate> = candidates
            .iter()
            .map(|c| Candidate {
                tried: c.tried
                    || !c.behind
                    || c.index == chosen.index
                    || c.priority > chosen.priority
                    || c.admission != Admission::Open
                    || known(c.index).observed_recently,
                behind: false,
                ..*c
            })
            .collect();
        if let Some(behind) = selection::choose(&recheck, spin) {
            if behind.admission == Admission::Open {
                return Some(behind);
            }
        }
        // The chosen origin's playlist has not advanced for a while: ask an
        // origin not heard from lately, to tell a frozen origin from a stream
        // that paused everywhere (one such request per window and stream).
        if known(chosen.index).overdue {
            let unheard: Vec<Candidate> = candidates
                .iter()
                .map(|c| Candidate {
                    tried: c.tried
                        || c.index == chosen.index
                        || c.admission != Admission::Open
                        || known(c.index).observed_recently,
                    ..*c
                })
                .collect();
            if let Some(other) = selection::choose(&unheard, spin) {
                if other.admission == Admission::Open {
                    return Some(other);
                }
            }
        }
        Some(chosen)
    }

    /// Remembers that origin `index` cut the body of `key` short after the
    /// player had the header.
    pub fn note_cut_short(&self, key: &str, index: usize) {
        if self.origins.len() > 1 {
            self.cut_short.insert(key.to_string(), index);
        }
    }

    /// The origin that recently cut `key` short, to be tried last for it.
    pub fn cut_short(&self, key: &str) -> Option<usize> {
        // nothing is noted in a group of one: skip the lookup
        (self.origins.len() > 1)
            .then(|| self.cut_short.get(key))
            .flatten()
    }

    /// Records how a request of `traffic` to origin `index` ended (`None`: a probe, which
    /// counts for every traffic).
    pub fn report(&self, index: usize, traffic: Option<Traffic>, outcome: Outcome, now: Instant) {
        let Some(health) = self.health.get(index) else {
            return;
        };
        let mut health = health.lock();
        let before = Traffic::ALL.map(|t| health.traffic_state(t, now, &self.health_config));
        health.record(traffic, outcome, now, &self.health_config);
        let after = Traffic::ALL.map(|t| health.traffic_state(t, now, &self.health_config));
        drop(health);
        for (i, t) in Traffic::ALL.into_iter().enumerate() {
            if before[i] != after[i] {
                tracing::warn!(
                    group = %self.name,
                    origin = %self.origins[index].name,
                    traffic = t.label(),
                    from = before[i].label(),
                    to = after[i].label(),
                    outcome = outcome.label(),
                    "origin health changed"
                );
            }
        }
    }

    /// The health outcome of a response header from an origin (5xx, slow or ok).
    pub fn outcome_of_response(&self, status: u16, took: Duration) -> Outcome {
        Outcome::of_response(status, took, &self.health_config)
    }

    /// Whether a segment 404 from the request's first origin is tried on
    /// another (the segment may not have reached that origin yet).
    pub fn retries_404(&self, class: SelectFor<'_>, tried: &[usize]) -> bool {
        self.retry_404_segments && class == SelectFor::Segment && tried.len() == 1
    }

    /// Which edge of the sibling cluster fetches `key` (`Me` without siblings).
    pub fn owner(&self, key: &str) -> Owner {
        self.siblings.as_ref().map_or(Owner::Me, |s| s.owner(key))
    }

    pub fn siblings(&self) -> Option<&Siblings> {
        self.siblings.as_ref()
    }

    /// The health state of origin `index` (without `stale`, which the stream book knows).
    pub fn state(&self, index: usize, now: Instant) -> Option<HealthState> {
        Some(
            self.health
                .get(index)?
                .lock()
                .state(now, &self.health_config),
        )
    }

    /// Every origin with its health, in configured order (for `/status` and the
    /// health metric). `stale[i]`: live playlists origin `i` is stale on (from the
    /// stream book).
    pub fn status(&self, now: Instant, stale: &[usize]) -> Vec<OriginStatus> {
        self.origins
            .iter()
            .zip(&self.health)
            .enumerate()
            .map(|(i, (o, h))| {
                let h = h.lock();
                let cfg = &self.health_config;
                let stale_playlists = stale.get(i).copied().unwrap_or(0);
                let state = match h.state(now, cfg) {
                    HealthState::Down => HealthState::Down,
                    _ if stale_playlists > 0 => HealthState::Stale,
                    other => other,
                };
                let traffic = Traffic::ALL
                    .into_iter()
                    .map(|t| {
                        let r = h.report(t, now, cfg);
                        let status = TrafficStatus {
                            state: r.state.label(),
                            consecutive_failures: r.consecutive_failures,
                            recent_failures: r.recent_failures,
                            recent: r.recent,
                            last_error: r.last_error.map(|(o, _)| o.label()),
                            ejected_for: r.ejected_for.map(|e| match e {
                                EjectionReason::InARow(o) => {
                                    format!("{} in a row: {}", cfg.failures, o.label())
                                }
                                EjectionReason::Share(o) => format!(
                                    "{:.0}% of recent requests failed: {}",
                                    cfg.failure_ratio * 100.0,
                                    o.label()
                                ),
                            }),
                        };
                        (t.label(), status)
                    })
                    .collect();
                OriginStatus {
                    name: o.name.clone(),
                    priority: o.priority,
                    weight: o.weight,
                    state: state.label(),
                    consecutive_failures: h.consecutive_failures(),
                    last_error: h.last_error().map(|(o, _)| o.label()),
                    last_error_seconds_ago: h
                        .last_error()
                        .map(|(_, at)| now.saturating_duration_since(at).as_secs()),
                    stale_playlists,
                    traffic,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
