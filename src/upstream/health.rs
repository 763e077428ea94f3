//! The health of one origin as a pure state machine: outcomes of requests and probes go in
//! with the time they happened, a state comes out. No I/O, no clock of its own (Pingora's
//! cache policy style: `now` is passed in).
//!
//! An origin's health is kept per kind of traffic (`Traffic`: playlists, media objects), so
//! that an origin failing one kind is ejected for it even while the other succeeds: an
//! origin cutting every segment short is not kept in rotation by its good playlists.
//! Failures of the connection itself (refused, connect timeout) and probes count for both.
//!
//! ```text
//!            failure (< N in a row)              N failures in a row, or a failure
//! healthy ----------------------> degraded ---- share over `failure_ratio` in the last
//!    ^   <----------------------     |          RECENT requests --------------------> down
//!    |     no trouble for cooldown   |                                                 |
//!    +-------------- success ---------------------------------------- half-open (one request)
//!                                          failure: down again, a new cooldown
//! ```
//!
//! `stale` is not kept here: it is a property of an origin's playlists, which the stream
//! book (`crate::streams`) follows; `OriginGroup::status` combines the two. This module
//! does not own which origin to use (`selection`).

use std::time::{Duration, Instant};

use pingora::ErrorType;

use crate::config::HealthConfig;

/// Outcomes remembered per traffic for the failure share.
pub const RECENT: u32 = 20;
/// The failure share is judged once at least this many outcomes are remembered.
const MIN_SAMPLES: u32 = 8;

/// What an origin is, for selection, `/status` and the health metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthState {
    Healthy,
    /// Failed within the last cool-down, answered slowly, or ejected for one kind of
    /// traffic only.
    Degraded,
    /// Serves a live playlist that stopped advancing while another origin's advanced, and
    /// has not caught up since.
    Stale,
    /// Ejected for every kind of traffic.
    Down,
}

impl HealthState {
    pub const ALL: [HealthState; 4] = [
        HealthState::Healthy,
        HealthState::Degraded,
        HealthState::Stale,
        HealthState::Down,
    ];

    /// The `state` label of the health metric and the `/status` value.
    pub fn label(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Degraded => "degraded",
            HealthState::Stale => "stale",
            HealthState::Down => "down",
        }
    }
}

/// The kinds of traffic an origin's health is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Traffic {
    Playlists,
    /// Segments, parts, init sections, keys: everything but playlists.
    Media,
}

impl Traffic {
    pub const ALL: [Traffic; 2] = [Traffic::Playlists, Traffic::Media];

    pub fn label(self) -> &'static str {
        match self {
            Traffic::Playlists => "playlists",
            Traffic::Media => "media",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How one request to an origin (or one probe) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response that is not a server error (a 404 is the origin working).
    Ok,
    /// A response, but slower than `health.slow`.
    Slow,
    ConnectError,
    /// The connection (or TLS handshake) timed out.
    ConnectTimeout,
    /// No response header, or no body bytes, within the read timeout.
    Timeout,
    Status5xx,
    /// The body ended before its framing said it would, or the connection broke
    /// mid-response.
    Truncated,
    /// A segment it answered 404 for was there at another origin.
    Missing,
    /// An active probe got a status other than 2xx.
    ProbeStatus,
}

impl Outcome {
    pub fn is_failure(self) -> bool {
        !matches!(self, Outcome::Ok | Outcome::Slow)
    }

    /// Whether it says the origin as a whole is unreachable (counted for every traffic).
    pub fn is_connection(self) -> bool {
        matches!(self, Outcome::ConnectError | Outcome::ConnectTimeout)
    }

    /// A label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Slow => "slow",
            Outcome::ConnectError => "connect-error",
            Outcome::ConnectTimeout => "connect-timeout",
            Outcome::Timeout => "timeout",
            Outcome::Status5xx => "5xx",
            Outcome::Truncated => "truncated",
            Outcome::Missing => "missing",
            Outcome::ProbeStatus => "probe-status",
        }
    }

    /// The outcome of a request that failed with a Pingora error of `etype` (in
    /// `fail_to_connect`, `error_while_proxy`, or a probe). `None` for the proxy's own
    /// retry of an answer already reported (`HTTPStatus`).
    pub fn of_error(etype: &ErrorType) -> Option<Outcome> {
        use ErrorType::*;
        Some(match etype {
            ConnectTimedout | TLSHandshakeTimedout => Outcome::ConnectTimeout,
            ReadTimedout | WriteTimedout => Outcome::Timeout,
            HTTPStatus(_) => return None,
            ReadError | WriteError | ConnectionClosed | H1Error | H2Error | InvalidH2
            | InvalidHTTPHeader => Outcome::Truncated,
            _ => Outcome::ConnectError,
        })
    }

    /// The outcome of a response header: `status` and the time it took.
    pub fn of_response(status: u16, took: Duration, health: &HealthConfig) -> Outcome {
        if (500..=599).contains(&status) {
            Outcome::Status5xx
        } else if health.slow.is_some_and(|slow| took > slow) {
            Outcome::Slow
        } else {
            Outcome::Ok
        }
    }
}

/// Whether a request may go to an origin now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Open,
    /// Ejected, cool-down over, no probe in flight: one request may try it.
    Probe,
    Closed,
}

/// An ejection: skipped until `until`, then one probe at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ejection {
    until: Instant,
    /// When the half-open probe was let through. A probe that never reports (client gone,
    /// request cancelled) frees the slot after one cool-down.
    probe_since: Option<Instant>,
}

/// The last `RECENT` outcomes of one traffic, as bits (1: a failure), newest lowest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Recent {
    bits: u32,
    len: u32,
}

impl Recent {
    fn push(&mut self, failed: bool) {
        let mask = (1u32 << RECENT) - 1;
        self.bits = ((self.bits << 1) | u32::from(failed)) & mask;
        self.len = (self.len + 1).min(RECENT);
    }

    fn failures(&self) -> u32 {
        self.bits.count_ones()
    }

    /// The share of failures, once enough outcomes are known.
    fn share(&self) -> Option<f64> {
        (self.len >= MIN_SAMPLES).then(|| f64::from(self.failures()) / f64::from(self.len))
    }
}

/// One traffic's record at one origin.
#[derive(Debug, Clone, Default)]
struct TrafficHealth {
    consecutive_failures: u32,
    recent: Recent,
    /// The latest failure or slow response.
    last_trouble: Option<Instant>,
    ejection: Option<Ejection>,
    /// The latest failure (or slow answer), and when it happened.
    last_error: Option<(Outcome, Instant)>,
    /// Why it was last ejected.
    ejected_for: Option<EjectionReason>,
}

/// Why a traffic was ejected (for `/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EjectionReason {
    /// `failures` failures in a row.
    InARow(Outcome),
    /// Failures over `failure_ratio` of the last `RECENT` requests.
    Share(Outcome),
}

impl EjectionReason {
    /// The failure that tipped it.
    pub fn outcome(self) -> Outcome {
        match self {
            EjectionReason::InARow(o) | EjectionReason::Share(o) => o,
        }
    }
}

impl TrafficHealth {
    fn state(&self, now: Instant, cfg: &HealthConfig) -> HealthState {
        if self.ejection.is_some() {
            HealthState::Down
        } else if self
            .last_trouble
            .is_some_and(|t| now.saturating_duration_since(t) < cfg.cooldown)
        {
            HealthState::Degraded
        } else {
            HealthState::Healthy
        }
    }

    fn admission(&self, now: Instant, cfg: &HealthConfig) -> Admission {
        match self.ejection {
            None => Admission::Open,
            Some(e) if now < e.until => Admission::Closed,
            Some(Ejection {
                probe_since: Some(since),
                ..
            }) if now.saturating_duration_since(since) < cfg.cooldown => Admission::Closed,
            Some(_) => Admission::Probe,
        }
    }

    /// Ejected because the origin could not be reached (connections, probes), and the
    /// cool-down is over.
    fn ejected_for_unreachability(&self, now: Instant) -> bool {
        self.ejection.is_some_and(|e| now >= e.until)
            && self.ejected_for.is_some_and(|r| {
                let o = r.outcome();
                o.is_connection() || o == Outcome::ProbeStatus || o == Outcome::Timeout
            })
    }

    fn record(&mut self, outcome: Outcome, now: Instant, cfg: &HealthConfig) {
        if outcome != Outcome::Ok {
            self.last_error = Some((outcome, now));
        }
        if outcome.is_failure() {
            self.fail(outcome, now, cfg);
        } else {
            self.succeed(outcome, now);
        }
    }

    fn fail(&mut self, outcome: Outcome, now: Instant, cfg: &HealthConfig) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.recent.push(true);
        self.last_trouble = Some(now);
        let reason = if self.consecutive_failures >= cfg.failures {
            Some(EjectionReason::InARow(outcome))
        } else if self.recent.share().is_some_and(|s| s >= cfg.failure_ratio) {
            Some(EjectionReason::Share(outcome))
        } else {
            None
        };
        let eject = match self.ejection {
            // A request sent before the ejection: already counted as down.
            Some(e) if now < e.until => false,
            // The half-open probe failed.
            Some(_) => true,
            None => reason.is_some(),
        };
        if eject {
            self.ejected_for = reason
                .or(self.ejected_for)
                .or(Some(EjectionReason::InARow(outcome)));
            self.ejection = Some(Ejection {
                until: now + cfg.cooldown,
                probe_since: None,
            });
        }
    }

    fn succeed(&mut self, outcome: Outcome, now: Instant) {
        // A straggler that succeeds during the cool-down does not lift the ejection: only
        // a request or probe after it does (half-open).
        if self.ejection.is_some_and(|e| now < e.until) {
            return;
        }
        if self.ejection.take().is_some() {
            // back in service: judged afresh
            self.recent = Recent::default();
        }
        self.recent.push(false);
        self.consecutive_failures = 0;
        if outcome == Outcome::Slow {
            self.last_trouble = Some(now);
        }
    }
}

/// One traffic of an origin, as `/status` shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrafficReport {
    pub state: HealthState,
    pub consecutive_failures: u32,
    /// Failures among the last `RECENT` outcomes, and how many are known.
    pub recent_failures: u32,
    pub recent: u32,
    pub last_error: Option<(Outcome, Instant)>,
    /// Why it is ejected, when it is.
    pub ejected_for: Option<EjectionReason>,
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct OriginHealth {
    traffic: [TrafficHealth; 2],
}

impl OriginHealth {
    /// The origin's state over every traffic: down when ejected for all, degraded when
    /// any is in trouble or ejected, healthy otherwise (stale is added by the group).
    pub fn state(&self, now: Instant, cfg: &HealthConfig) -> HealthState {
        let states = Traffic::ALL.map(|t| self.traffic[t.index()].state(now, cfg));
        if states.iter().all(|s| *s == HealthState::Down) {
            HealthState::Down
        } else {
            states
                .into_iter()
                .max()
                .unwrap_or(HealthState::Healthy)
                .min(HealthState::Degraded)
        }
    }

    /// The state of one traffic.
    pub fn traffic_state(&self, traffic: Traffic, now: Instant, cfg: &HealthConfig) -> HealthState {
        self.traffic[traffic.index()].state(now, cfg)
    }

    pub fn admission(&self, traffic: Traffic, now: Instant, cfg: &HealthConfig) -> Admission {
        self.traffic[traffic.index()].admission(now, cfg)
    }

    /// Takes the half-open probe slot of `traffic`; false if it is not free.
    pub fn claim_probe(&mut self, traffic: Traffic, now: Instant, cfg: &HealthConfig) -> bool {
        let t = &mut self.traffic[traffic.index()];
        if t.admission(now, cfg) != Admission::Probe {
            return false;
        }
        if let Some(e) = t.ejection.as_mut() {
            e.probe_since = Some(now);
        }
        true
    }

    /// Records a request's outcome for its traffic (`None`: a probe). A failure of the
    /// connection itself, or of a probe, counts for every traffic; a probe's success
    /// only ends ejections for unreachability. Returns the state after it.
    pub fn record(
        &mut self,
        traffic: Option<Traffic>,
        outcome: Outcome,
        now: Instant,
        cfg: &HealthConfig,
    ) -> HealthState {
        match traffic.filter(|_| !outcome.is_connection()) {
            Some(t) => {
                self.traffic[t.index()].record(outcome, now, cfg);
                if !outcome.is_failure() {
                    self.reconnected(t, now);
                }
            }
            // a probe's failure (or a refused connection) is every traffic's
            None if outcome.is_failure() => {
                for t in &mut self.traffic {
                    t.record(outcome, now, cfg);
                }
            }
            // a probe's success says the origin answers, not that its segments
            // or playlists are fine: it only ends ejections for unreachability
            None => {
                for t in &mut self.traffic {
                    if t.ejected_for_unreachability(now) {
                        t.succeed(outcome, now);
                    }
                }
            }
        }
        self.state(now, cfg)
    }

    /// A request of `traffic` went through after the cool-down: the other traffic's
    /// ejection for unreachability is over too (the origin answers again).
    fn reconnected(&mut self, traffic: Traffic, now: Instant) {
        for (i, other) in self.traffic.iter_mut().enumerate() {
            if i != traffic.index() && other.ejected_for_unreachability(now) {
                other.succeed(Outcome::Ok, now);
            }
        }
    }

    /// What `/status` shows of one traffic.
    pub fn report(&self, traffic: Traffic, now: Instant, cfg: &HealthConfig) -> TrafficReport {
        let t = &self.traffic[traffic.index()];
        TrafficReport {
            state: t.state(now, cfg),
            consecutive_failures: t.consecutive_failures,
            recent_failures: t.recent.failures(),
            recent: t.recent.len,
            last_error: t.last_error,
            ejected_for: t.ejection.and(t.ejected_for),
        }
    }

    /// The latest failure or slow answer of any traffic, and when.
    pub fn last_error(&self) -> Option<(Outcome, Instant)> {
        self.traffic
            .iter()
            .filter_map(|t| t.last_error)
            .max_by_key(|(_, at)| *at)
    }

    /// The most consecutive failures of any traffic.
    pub fn consecutive_failures(&self) -> u32 {
        self.traffic
            .iter()
            .map(|t| t.consecutive_failures)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
