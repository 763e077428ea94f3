//! The per-request counters of one route, resolved once per label set.
//!
//! `record_request` looks each of its three counters up by its labels
//! (a hash of the label values and a lock per counter, on every request).
//! A route's requests only ever carry a few hundred label sets (object class
//! x status class x cache result), so each route keeps a slot per set and
//! resolves it the first time it is met: recording a request is then an
//! index and three atomic adds. The exported series are the same.

use std::sync::OnceLock;

use prometheus::{Counter, IntCounter};

use super::{BYTES_SENT, LOOKUPS, LOOKUP_RESULTS, REQUESTS};
use crate::hls::ObjectClass;
use crate::proxy::CacheResult;

/// Slots for classes and cache results: more than either enum has, so that a
/// new variant still fits (one that does not is counted the slow way).
const CLASS_SLOTS: usize = 16;
const CACHE_SLOTS: usize = 8;
const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"];

/// `hls_edge_requests_total`, `hls_edge_sent_bytes_total` and
/// `hls_edge_cache_lookups_total` for one route.
pub struct RouteRequests {
    route: String,
    slots: Box<[OnceLock<Counters>]>,
}

struct Counters {
    requests: IntCounter,
    bytes: Counter,
    /// Only for the results that count as cache lookups.
    lookups: Option<IntCounter>,
}

impl RouteRequests {
    pub fn new(route: &str) -> RouteRequests {
        let slots = CLASS_SLOTS * STATUS_CLASSES.len() * CACHE_SLOTS;
        RouteRequests {
            route: route.to_string(),
            slots: (0..slots).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Counts one finished request of this route, as `record_request` would.
    pub fn record(&self, class: ObjectClass, status: u16, cache: CacheResult, body_bytes: usize) {
        let status_slot = status_slot(status);
        let (class_slot, cache_slot) = (class as usize, cache as usize);
        if class_slot >= CLASS_SLOTS || cache_slot >= CACHE_SLOTS {
            let status = STATUS_CLASSES[status_slot];
            return count(&self.resolve(class, status, cache), body_bytes);
        }
        let slot = (class_slot * STATUS_CLASSES.len() + status_slot) * CACHE_SLOTS + cache_slot;
        let counters = self.slots[slot]
            .get_or_init(|| self.resolve(class, STATUS_CLASSES[status_slot], cache));
        count(counters, body_bytes);
    }

    fn resolve(&self, class: ObjectClass, status: &str, cache: CacheResult) -> Counters {
        let (class, cache) = (class.label(), cache.label());
        Counters {
            requests: REQUESTS.with_label_values(&[&self.route, class, status, cache]),
            bytes: BYTES_SENT.with_label_values(&[class, cache]),
            lookups: LOOKUP_RESULTS
                .contains(&cache)
                .then(|| LOOKUPS.with_label_values(&[class, cache])),
        }
    }
}

impl std::fmt::Debug for RouteRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteRequests")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

fn count(counters: &Counters, body_bytes: usize) {
    counters.requests.inc();
    counters.bytes.inc_by(body_bytes as f64);
    if let Some(lookups) = &counters.lookups {
        lookups.inc();
    }
}

/// The `status` label of a status code: its index in `STATUS_CLASSES`.
fn status_slot(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        500..=599 => 4,
        _ => 5,
    }
}

/// The `status` label of a status code.
pub(super) fn status_class(status: u16) -> &'static str {
    STATUS_CLASSES[status_slot(status)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_counts_what_record_request_counts() {
        let route = "requests-test-route";
        let book = RouteRequests::new(route);
        let requests = |status: &str, cache: &str| {
            REQUESTS
                .with_label_values(&[route, "key", status, cache])
                .get()
        };
        let lookups = |cache: &str| LOOKUPS.with_label_values(&["key", cache]).get();
        let (hits, misses, refused) = (lookups("hit"), lookups("miss"), lookups("refused"));
        for _ in 0..3 {
            book.record(ObjectClass::Key, 200, CacheResult::Hit, 10);
        }
        book.record(ObjectClass::Key, 502, CacheResult::Miss, 0);
        book.record(ObjectClass::Key, 404, CacheResult::Refused, 0);
        book.record(ObjectClass::Key, 42, CacheResult::Refused, 0);
        assert_eq!(requests("2xx", "hit"), 3);
        assert_eq!(requests("5xx", "miss"), 1);
        assert_eq!(requests("4xx", "refused"), 1);
        assert_eq!(requests("none", "refused"), 1);
        assert_eq!(lookups("hit") - hits, 3);
        assert_eq!(lookups("miss") - misses, 1);
        // a refusal is not a cache lookup
        assert_eq!(lookups("refused"), refused);
    }

    #[test]
    fn every_class_and_result_has_a_slot() {
        assert!((ObjectClass::Other as usize) < CLASS_SLOTS);
        assert!((CacheResult::Refused as usize) < CACHE_SLOTS);
    }
}
