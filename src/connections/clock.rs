//! Where one client connection is in its request cycle, and when it must be
//! cut: the state machine behind the idle, header and keep-alive timeouts.
//! Pure: the instants are passed in.
//!
//! ```text
//! Idle --first byte--> Header --header parsed--> Busy --response done--> KeepAlive
//!   (idle_timeout)   (header_timeout)      (no limit here)         (keepalive_timeout)
//!                        ^                                              |
//!                        +------------------first byte------------------+
//! ```
//! A request being answered has no limit here: a blocking LL-HLS playlist
//! request or a coalesced wait is legitimately silent, and a client that stops
//! reading is Pingora's write timeout's to cut (`send_timeout`).

use std::time::{Duration, Instant};

use crate::config::ConnectionSettings;

/// Which limit cut a connection (the `phase` label of
/// `hls_edge_connection_timeouts_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// A new connection sent nothing.
    Idle,
    /// A request's header did not end in time (slowloris).
    Header,
    /// A kept-alive connection sent no next request.
    KeepAlive,
}

impl TimeoutPhase {
    pub fn label(self) -> &'static str {
        match self {
            TimeoutPhase::Idle => "idle",
            TimeoutPhase::Header => "header",
            TimeoutPhase::KeepAlive => "keepalive",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle(Instant),
    Header(Instant),
    Busy,
    KeepAlive(Instant),
}

/// One connection's phase and limits.
#[derive(Debug, Clone)]
pub struct Clock {
    phase: Phase,
    idle: Duration,
    header: Duration,
    keepalive: Duration,
}

impl Clock {
    /// A connection accepted at `now`.
    pub fn new(settings: &ConnectionSettings, now: Instant) -> Clock {
        Clock {
            phase: Phase::Idle(now),
            idle: settings.idle_timeout,
            header: settings.header_timeout,
            keepalive: settings.keepalive_timeout,
        }
    }

    /// Bytes arrived at `now`: a request has begun if none was under way.
    pub fn bytes_arrived(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Idle(_) | Phase::KeepAlive(_)) {
            self.phase = Phase::Header(now);
        }
    }

    /// The request's header was parsed: it is being answered.
    pub fn request_started(&mut self) {
        self.phase = Phase::Busy;
    }

    /// The response ended at `now`: the connection waits for the next one.
    pub fn request_finished(&mut self, now: Instant) {
        self.phase = Phase::KeepAlive(now);
    }

    /// When the connection must be cut if nothing changes, and why.
    pub fn deadline(&self) -> Option<(Instant, TimeoutPhase)> {
        match self.phase {
            Phase::Idle(since) => Some((since + self.idle, TimeoutPhase::Idle)),
            Phase::Header(since) => Some((since + self.header, TimeoutPhase::Header)),
            Phase::KeepAlive(since) => Some((since + self.keepalive, TimeoutPhase::KeepAlive)),
            Phase::Busy => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConnectionSettings {
        ConnectionSettings {
            idle_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(30),
            ..ConnectionSettings::default()
        }
    }

    #[test]
    fn each_phase_has_its_limit() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut c = Clock::new(&settings(), t0);
        assert_eq!(c.deadline(), Some((s(10), TimeoutPhase::Idle)));
        c.bytes_arrived(s(2));
        assert_eq!(c.deadline(), Some((s(7), TimeoutPhase::Header)));
        // more header bytes do not move the deadline: a trickle is cut
        c.bytes_arrived(s(6));
        assert_eq!(c.deadline(), Some((s(7), TimeoutPhase::Header)));
        c.request_started();
        assert_eq!(c.deadline(), None);
        c.bytes_arrived(s(20));
        assert_eq!(c.deadline(), None, "a pipelined request waits its turn");
        c.request_finished(s(40));
        assert_eq!(c.deadline(), Some((s(70), TimeoutPhase::KeepAlive)));
        c.bytes_arrived(s(50));
        assert_eq!(c.deadline(), Some((s(55), TimeoutPhase::Header)));
    }
}
