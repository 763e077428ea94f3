//! One origin server, and the group of them behind a route: which origin a
//! request tries next (`select`), what the edge learned from it (`report`,
//! `observe_playlist`), and what the operator sees (`status`).
//!
//! The group owns the shared state (per-origin health, the manifest watch);
//! the rules live in `health`, `selection` and `manifest_watch`, pure. The
//! request remembers which origins it tried: the group never does.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pingora::upstreams::peer::HttpPeer;
use serde::Serialize;

use super::health::{Admission, HealthState, OriginHealth, Outcome};
use super::manifest_watch::{ManifestWatch, DEFAULT_MAX_STREAMS};
use super::selection::{self, Candidate};
use super::siblings::{Owner, Siblings};
use crate::config::{HealthConfig, OriginConfig, OriginGroupConfig};

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
        })
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
    /// A media playlist; `stream_key` is its token-free path (the key of the
    /// manifest watch).
    Playlist { stream_key: &'a str },
}

/// One origin on `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct OriginStatus {
    pub name: String,
    pub priority: u32,
    pub weight: u32,
    pub state: &'static str,
    pub consecutive_failures: u32,
    /// The latest failure or slow answer (`connect-error`, `timeout`, `5xx`,
    /// `truncated`, `slow`, ...), if any.
    pub last_error: Option<&'static str>,
    /// Seconds since that happened.
    pub last_error_seconds_ago: Option<u64>,
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
    watch: Mutex<ManifestWatch>,
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
            watch: Mutex::new(ManifestWatch::new(
                n,
                cfg.health.stale_after,
                DEFAULT_MAX_STREAMS,
            )),
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
                || self.health[c.index]
                    .lock()
                    .claim_probe(now, &self.health_config)
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
        let path = match class {
            SelectFor::Playlist { stream_key } => Some(stream_key),
            SelectFor::Segment => None,
        };
        // Segments never wait for the playlist bookkeeping.
        let watch = path.map(|_| self.watch.lock());
        let candidates: Vec<Candidate> = (0..self.origins.len())
            .map(|i| {
                let health = self.health[i].lock();
                Candidate {
                    index: i,
                    priority: self.origins[i].priority,
                    weight: self.origins[i].weight,
                    state: health.state(now, &self.health_config),
                    admission: health.admission(now, &self.health_config),
                    tried: tried.contains(&i),
                    behind: match (&watch, path) {
                        (Some(w), Some(p)) => w.is_stale(i, p, now),
                        _ => false,
                    },
                }
            })
            .collect();
        let chosen = selection::choose(&candidates, spin)?;
        let (Some(watch), Some(path)) = (watch, path) else {
            return Some(chosen);
        };
        // An origin passed over because its playlist is behind is asked again
        // once per window when it would otherwise rank at least as well:
        // nothing else tells the edge that it caught up, and a primary that
        // recovered would stay `stale` and unused for as long as the backup
        // advances. A re-check still behind is sent to no player (the
        // no-regression guard serves the newer playlist instead).
        if chosen.admission == Admission::Open {
            let recheck: Vec<Candidate> = candidates
                .iter()
                .map(|c| Candidate {
                    tried: c.tried
                        || !c.behind
                        || c.index == chosen.index
                        || c.priority > chosen.priority
                        || c.admission != Admission::Open
                        || watch.observed_recently(c.index, path, now),
                    behind: false,
                    ..*c
                })
                .collect();
            if let Some(behind) = selection::choose(&recheck, spin) {
                if behind.admission == Admission::Open {
                    return Some(behind);
                }
            }
        }
        // The chosen origin's playlist has not advanced for a while: ask an
        // origin not heard from lately, to tell a frozen origin from a stream
        // that paused everywhere (one such request per window and stream).
        if chosen.admission == Admission::Open && watch.is_overdue(chosen.index, path, now) {
            let unheard: Vec<Candidate> = candidates
                .iter()
                .map(|c| Candidate {
                    tried: c.tried
                        || c.index == chosen.index
                        || c.admission != Admission::Open
                        || watch.observed_recently(c.index, path, now),
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

    /// Records how a request to (or a probe of) origin `index` ended.
    pub fn report(&self, index: usize, outcome: Outcome, now: Instant) {
        let Some(health) = self.health.get(index) else {
            return;
        };
        let mut health = health.lock();
        let before = health.state(now, &self.health_config);
        let after = health.record(outcome, now, &self.health_config);
        drop(health);
        if before != after {
            tracing::warn!(
                group = %self.name,
                origin = %self.origins[index].name,
                from = before.label(),
                to = after.label(),
                ?outcome,
                "origin health changed"
            );
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

    /// Records a live media playlist fetched from origin `index`:
    /// `last_sequence` is the media sequence of its last segment
    /// (`#EXT-X-MEDIA-SEQUENCE` + segments - 1). Marks origins whose copy of
    /// the stream is stale for `stale_after` x target duration.
    pub fn observe_playlist(
        &self,
        index: usize,
        stream_key: &str,
        last_sequence: u64,
        target_duration: Duration,
        now: Instant,
    ) {
        let stale = {
            let mut watch = self.watch.lock();
            watch.observe(index, stream_key, last_sequence, target_duration, now)
        };
        let until =
            now + target_duration.max(Duration::from_secs(1)) * self.health_config.stale_after;
        for (i, health) in self.health.iter().enumerate() {
            if stale.contains(&i) {
                health.lock().set_stale(Some(until));
            } else if i == index {
                health.lock().set_stale(None);
            }
        }
    }

    /// The origin whose copy of `stream_key` has the highest sequence.
    pub fn freshest(&self, stream_key: &str) -> Option<usize> {
        self.watch.lock().freshest(stream_key)
    }

    /// Records that a live playlist of `stream_key` ending at `last_sequence`
    /// was sent to a player.
    pub fn served_playlist(
        &self,
        stream_key: &str,
        last_sequence: u64,
        target_duration: Duration,
        now: Instant,
    ) {
        self.watch
            .lock()
            .served(stream_key, last_sequence, target_duration, now);
    }

    /// Keeps the body of the highest playlist served for `stream_key`.
    pub fn keep_served_body(&self, stream_key: &str, last_sequence: u64, body: bytes::Bytes) {
        self.watch
            .lock()
            .keep_served_body(stream_key, last_sequence, body);
    }

    /// The highest playlist served for `stream_key` within the guard window.
    pub fn served_body(&self, stream_key: &str, now: Instant) -> Option<bytes::Bytes> {
        self.watch.lock().served_body(stream_key, now)
    }

    /// The lowest last-segment sequence a live playlist of `stream_key` may
    /// have and still be sent to a player (`None`: no bound).
    pub fn highest_served(&self, stream_key: &str, now: Instant) -> Option<u64> {
        self.watch.lock().highest_served(stream_key, now)
    }

    /// Which edge of the sibling cluster fetches `key` (`Me` without siblings).
    pub fn owner(&self, key: &str) -> Owner {
        self.siblings.as_ref().map_or(Owner::Me, |s| s.owner(key))
    }

    pub fn siblings(&self) -> Option<&Siblings> {
        self.siblings.as_ref()
    }

    /// The health state of origin `index`.
    pub fn state(&self, index: usize, now: Instant) -> Option<HealthState> {
        Some(
            self.health
                .get(index)?
                .lock()
                .state(now, &self.health_config),
        )
    }

    /// Every origin with its health, in configured order (for `/status` and
    /// the health metric).
    pub fn status(&self, now: Instant) -> Vec<OriginStatus> {
        self.origins
            .iter()
            .zip(&self.health)
            .map(|(o, h)| {
                let h = h.lock();
                OriginStatus {
                    name: o.name.clone(),
                    priority: o.priority,
                    weight: o.weight,
                    state: h.state(now, &self.health_config).label(),
                    consecutive_failures: h.consecutive_failures(),
                    last_error: h.last_error().map(|(o, _)| o.label()),
                    last_error_seconds_ago: h
                        .last_error()
                        .map(|(_, at)| now.saturating_duration_since(at).as_secs()),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
