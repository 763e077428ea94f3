//! The health of one origin as a pure state machine: outcomes of requests and
//! probes go in with the time they happened, a state comes out. No I/O, no
//! clock of its own (Pingora's cache policy style: `now` is passed in).
//!
//! ```text
//!            failure (< N in a row)              N failures in a row
//! healthy ----------------------> degraded -------------------------> down
//!    ^   <----------------------     |                                 |
//!    |     no trouble for cooldown   | (stale: set by the manifest     | cooldown over:
//!    |                               |  watcher, expires on its own)   v
//!    +-------------- success ---------------------------------- half-open (one probe)
//!                                          failure: down again, a new cooldown
//! ```
//!
//! It does not own the decision of which origin to use (`selection`) nor the
//! playlist comparison that says an origin is stale (`manifest_watch`).

use std::time::{Duration, Instant};

use pingora::ErrorType;

use crate::config::HealthConfig;

/// What an origin is, for selection, `/status` and the health metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthState {
    Healthy,
    /// Failed (fewer than `failures` in a row) or answered slowly within the
    /// last cool-down.
    Degraded,
    /// Serves a live playlist that stopped advancing while another origin's
    /// advanced.
    Stale,
    /// Ejected after `failures` consecutive failures (or a failed half-open probe).
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

/// How one request to an origin (or one probe) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response that is not a server error (a 404 is the origin working).
    Ok,
    /// A response, but slower than `health.slow`.
    Slow,
    ConnectError,
    /// Connect or read timeout.
    Timeout,
    Status5xx,
    /// The body ended before its framing said it would, or the connection
    /// broke mid-response.
    Truncated,
    /// An active probe got a status other than 2xx.
    ProbeStatus,
}

impl Outcome {
    pub fn is_failure(self) -> bool {
        !matches!(self, Outcome::Ok | Outcome::Slow)
    }

    /// A label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Slow => "slow",
            Outcome::ConnectError => "connect-error",
            Outcome::Timeout => "timeout",
            Outcome::Status5xx => "5xx",
            Outcome::Truncated => "truncated",
            Outcome::ProbeStatus => "probe-status",
        }
    }

    /// The outcome of a request that failed with a Pingora error of `etype`
    /// (in `fail_to_connect`, `error_while_proxy`, or a probe).
    pub fn of_error(etype: &ErrorType) -> Outcome {
        use ErrorType::*;
        match etype {
            ConnectTimedout | TLSHandshakeTimedout | ReadTimedout | WriteTimedout => {
                Outcome::Timeout
            }
            HTTPStatus(code) if *code >= 500 => Outcome::Status5xx,
            // The proxy's own retry of a segment 404: the origin works.
            HTTPStatus(_) => Outcome::Ok,
            ReadError | WriteError | ConnectionClosed | H1Error | H2Error | InvalidH2
            | InvalidHTTPHeader => Outcome::Truncated,
            _ => Outcome::ConnectError,
        }
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
    /// When the half-open probe was let through. A probe that never reports
    /// (client gone, request cancelled) frees the slot after one cool-down.
    probe_since: Option<Instant>,
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct OriginHealth {
    consecutive_failures: u32,
    /// The latest failure or slow response.
    last_trouble: Option<Instant>,
    ejection: Option<Ejection>,
    stale_until: Option<Instant>,
    /// The latest failure (or slow answer) and when it happened.
    last_error: Option<(Outcome, Instant)>,
}

impl OriginHealth {
    pub fn state(&self, now: Instant, cfg: &HealthConfig) -> HealthState {
        if self.ejection.is_some() {
            HealthState::Down
        } else if self.stale_until.is_some_and(|t| now < t) {
            HealthState::Stale
        } else if self
            .last_trouble
            .is_some_and(|t| now.saturating_duration_since(t) < cfg.cooldown)
        {
            HealthState::Degraded
        } else {
            HealthState::Healthy
        }
    }

    pub fn admission(&self, now: Instant, cfg: &HealthConfig) -> Admission {
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

    /// Takes the half-open probe slot; false if it is not free.
    pub fn claim_probe(&mut self, now: Instant, cfg: &HealthConfig) -> bool {
        if self.admission(now, cfg) != Admission::Probe {
            return false;
        }
        if let Some(e) = self.ejection.as_mut() {
            e.probe_since = Some(now);
        }
        true
    }

    /// Records a request's or probe's outcome; returns the state after it.
    pub fn record(&mut self, outcome: Outcome, now: Instant, cfg: &HealthConfig) -> HealthState {
        if outcome != Outcome::Ok {
            self.last_error = Some((outcome, now));
        }
        if outcome.is_failure() {
            self.fail(now, cfg);
        } else {
            self.succeed(outcome, now);
        }
        self.state(now, cfg)
    }

    fn fail(&mut self, now: Instant, cfg: &HealthConfig) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_trouble = Some(now);
        let eject = match self.ejection {
            // A request sent before the ejection: already counted as down.
            Some(e) if now < e.until => false,
            // The half-open probe failed.
            Some(_) => true,
            None => self.consecutive_failures >= cfg.failures,
        };
        if eject {
            self.ejection = Some(Ejection {
                until: now + cfg.cooldown,
                probe_since: None,
            });
        }
    }

    fn succeed(&mut self, outcome: Outcome, now: Instant) {
        // A straggler that succeeds during the cool-down does not lift the
        // ejection: only a request or probe after it does (half-open).
        if self.ejection.is_some_and(|e| now < e.until) {
            return;
        }
        self.ejection = None;
        self.consecutive_failures = 0;
        if outcome == Outcome::Slow {
            self.last_trouble = Some(now);
        }
    }

    /// Marked stale by the manifest watcher until `until` (`None` clears it).
    pub fn set_stale(&mut self, until: Option<Instant>) {
        self.stale_until = until;
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// The latest failure or slow answer, and when.
    pub fn last_error(&self) -> Option<(Outcome, Instant)> {
        self.last_error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HealthConfig {
        HealthConfig {
            failures: 3,
            cooldown: Duration::from_secs(10),
            slow: Some(Duration::from_secs(1)),
            ..HealthConfig::default()
        }
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn failures_below_the_threshold_degrade_then_heal_after_a_cooldown() {
        let (c, t0) = (cfg(), Instant::now());
        let mut h = OriginHealth::default();
        assert_eq!(h.state(t0, &c), HealthState::Healthy);
        assert_eq!(h.record(Outcome::Timeout, t0, &c), HealthState::Degraded);
        assert_eq!(h.record(Outcome::Ok, t0 + s(1), &c), HealthState::Degraded);
        assert_eq!(h.consecutive_failures(), 0);
        assert_eq!(h.state(t0 + s(10), &c), HealthState::Healthy);
        assert_eq!(h.admission(t0, &c), Admission::Open);
    }

    #[test]
    fn n_consecutive_failures_eject_for_a_cooldown() {
        let (c, t0) = (cfg(), Instant::now());
        let mut h = OriginHealth::default();
        h.record(Outcome::ConnectError, t0, &c);
        h.record(Outcome::Status5xx, t0, &c);
        assert_eq!(h.admission(t0, &c), Admission::Open);
        assert_eq!(h.record(Outcome::Truncated, t0, &c), HealthState::Down);
        assert_eq!(h.admission(t0 + s(9), &c), Admission::Closed);
        // A straggler's success during the cool-down changes nothing.
        assert_eq!(h.record(Outcome::Ok, t0 + s(5), &c), HealthState::Down);
        assert_eq!(h.admission(t0 + s(10), &c), Admission::Probe);
    }

    #[test]
    fn a_success_in_between_resets_the_count() {
        let (c, t0) = (cfg(), Instant::now());
        let mut h = OriginHealth::default();
        for outcome in [
            Outcome::Timeout,
            Outcome::Timeout,
            Outcome::Ok,
            Outcome::Timeout,
        ] {
            h.record(outcome, t0, &c);
        }
        assert_eq!(h.state(t0, &c), HealthState::Degraded);
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_result_decides() {
        let (c, t0) = (cfg(), Instant::now());
        let mut h = OriginHealth::default();
        for _ in 0..3 {
            h.record(Outcome::Timeout, t0, &c);
        }
        let t1 = t0 + s(10);
        assert!(h.claim_probe(t1, &c));
        assert!(!h.claim_probe(t1, &c), "one probe at a time");
        assert_eq!(h.admission(t1, &c), Admission::Closed);
        // Failed probe: down for a new cool-down.
        assert_eq!(h.record(Outcome::Timeout, t1 + s(1), &c), HealthState::Down);
        assert_eq!(h.admission(t1 + s(10), &c), Admission::Closed);
        let t2 = t1 + s(11);
        assert!(h.claim_probe(t2, &c));
        // Successful probe: back in service.
        assert_eq!(h.record(Outcome::Ok, t2, &c), HealthState::Healthy);
        assert_eq!(h.admission(t2, &c), Admission::Open);
        assert_eq!(h.state(t2 + s(12), &c), HealthState::Healthy);
    }

    #[test]
    fn a_probe_that_never_reports_frees_its_slot_after_a_cooldown() {
        let (c, t0) = (cfg(), Instant::now());
        let mut h = OriginHealth::default();
        for _ in 0..3 {
            h.record(Outcome::Status5xx, t0, &c);
        }
        assert!(h.claim_probe(t0 + s(10), &c));
        assert!(!h.claim_probe(t0 + s(19), &c));
        assert!(h.claim_probe(t0 + s(20), &c));
    }

    #[test]
    fn slow_answers_degrade_without_counting_as_failures() {
        let (c, t0) = (cfg(), Instant::now());
        assert_eq!(Outcome::of_response(200, s(2), &c), Outcome::Slow);
        assert_eq!(Outcome::of_response(404, Duration::ZERO, &c), Outcome::Ok);
        assert_eq!(
            Outcome::of_response(503, Duration::ZERO, &c),
            Outcome::Status5xx
        );
        assert_eq!(
            Outcome::of_error(&ErrorType::ReadTimedout),
            Outcome::Timeout
        );
        assert_eq!(
            Outcome::of_error(&ErrorType::ConnectRefused),
            Outcome::ConnectError
        );
        assert_eq!(Outcome::of_error(&ErrorType::HTTPStatus(404)), Outcome::Ok);
        let mut h = OriginHealth::default();
        for _ in 0..5 {
            assert_eq!(h.record(Outcome::Slow, t0, &c), HealthState::Degraded);
        }
        assert_eq!(h.admission(t0, &c), Admission::Open);
    }

    #[test]
    fn stale_is_set_from_outside_and_expires() {
        let (c, t0) = (cfg(), Instant::now());
        let mut h = OriginHealth::default();
        h.set_stale(Some(t0 + s(6)));
        assert_eq!(h.state(t0, &c), HealthState::Stale);
        assert_eq!(h.state(t0 + s(6), &c), HealthState::Healthy);
        h.set_stale(Some(t0 + s(6)));
        h.set_stale(None);
        assert_eq!(h.state(t0, &c), HealthState::Healthy);
        assert_eq!(HealthState::Stale.label(), "stale");
    }
}
