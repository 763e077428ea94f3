//! Counting and logging what the connection limits did. Every event is
//! counted; log lines are at most one a second per kind, with how many
//! events it stands for, so that a flood of refused or cut connections
//! (the attack the limits are for) does not become a flood of log lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::book::CapReached;
use super::clock::TimeoutPhase;
use crate::metrics;

/// One kind of event's log throttle: the second last logged, and the
/// events since.
struct Throttle {
    last_second: AtomicU64,
    pending: AtomicU64,
}

impl Throttle {
    const fn new() -> Throttle {
        Throttle {
            last_second: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    /// `Some(events)` when a line may be written now.
    fn due(&self) -> Option<u64> {
        let events = self.pending.fetch_add(1, Ordering::Relaxed) + 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_second.load(Ordering::Relaxed);
        if now == last {
            return None;
        }
        self.last_second
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        self.pending.fetch_sub(events, Ordering::Relaxed);
        Some(events)
    }
}

static REFUSED: Throttle = Throttle::new();
static TIMED_OUT: Throttle = Throttle::new();

/// A connection refused at accept.
pub fn refused(cap: CapReached, client: Option<std::net::IpAddr>) {
    metrics::CONNECTIONS_REFUSED
        .with_label_values(&[cap.reason()])
        .inc();
    if let Some(events) = REFUSED.due() {
        tracing::warn!(reason = cap.reason(), client = ?client, events, "connection refused: {cap}");
    }
}

/// A connection cut by one of its timeouts.
pub fn timed_out(phase: TimeoutPhase) {
    metrics::CONNECTION_TIMEOUTS
        .with_label_values(&[phase.label()])
        .inc();
    if let Some(events) = TIMED_OUT.due() {
        tracing::info!(
            phase = phase.label(),
            events,
            "connection closed by its timeout"
        );
    }
}

/// A client that stopped reading its response (Pingora's write timeout).
pub fn send_timed_out() {
    metrics::CONNECTION_TIMEOUTS
        .with_label_values(&["send"])
        .inc();
    if let Some(events) = TIMED_OUT.due() {
        tracing::info!(phase = "send", events, "connection closed by its timeout");
    }
}
