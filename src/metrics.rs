//! Every metric the edge exports, named in one place (prefix `hls_edge_`).
//!
//! Labels are bounded sets: route names from the config, object classes,
//! status classes and cache results. Never a raw path or a session id.

mod requests;
mod transport;

pub use requests::RouteRequests;
pub use transport::*;

use once_cell::sync::Lazy;
use prometheus::{
    register_counter_vec, register_gauge, register_gauge_vec, register_histogram,
    register_histogram_vec, register_int_counter, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec, CounterVec, Gauge, GaugeVec, Histogram, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec,
};

/// Requests answered, by route, object class, status class (`2xx`...) and
/// cache result (`hit`, `miss`, `coalesced`, `stale`, `bypass`, `refused`).
pub static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_requests_total",
        "Requests answered, by route, object class, status class and cache result",
        &["route", "class", "status", "cache"]
    )
    .expect("metric names are unique")
});

/// Response body bytes sent to players, by object class and cache result.
pub static BYTES_SENT: Lazy<CounterVec> = Lazy::new(|| {
    register_counter_vec!(
        "hls_edge_sent_bytes_total",
        "Response body bytes sent to clients, by object class and cache result",
        &["class", "cache"]
    )
    .expect("metric names are unique")
});

/// Share of requests of a class answered from the cache (hits and coalesced
/// waiters over all cache-enabled requests), updated as requests end.
pub static HIT_RATIO: Lazy<GaugeVec> = Lazy::new(|| {
    register_gauge_vec!(
        "hls_edge_cache_hit_ratio",
        "Requests served from cache (hit or coalesced) over cache-enabled requests, per object class",
        &["class"]
    )
    .expect("metric names are unique")
});

/// Cache-enabled requests by object class and result (`hit`, `coalesced`,
/// `miss`, `stale`): the hit ratio in PromQL is
/// `sum(rate(...{cache=~"hit|coalesced"}[5m])) / sum(rate(...[5m]))`.
pub static LOOKUPS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_cache_lookups_total",
        "Cache-enabled requests by object class and cache result",
        &["class", "cache"]
    )
    .expect("metric names are unique")
});

pub static CACHE_BYTES: Lazy<Gauge> = Lazy::new(|| {
    register_gauge!(
        "hls_edge_cache_bytes",
        "Bytes held by the cache (bodies and metadata)"
    )
    .expect("metric names are unique")
});

pub static CACHE_OBJECTS: Lazy<Gauge> = Lazy::new(|| {
    register_gauge!("hls_edge_cache_objects", "Objects held by the cache")
        .expect("metric names are unique")
});

pub static CACHE_EVICTIONS: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "hls_edge_cache_evictions_total",
        "Objects evicted to keep the cache within its size"
    )
    .expect("metric names are unique")
});

pub static CACHE_LOCK_LATE_JOINS: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "hls_edge_cache_late_joins_total",
        "Media misses that found a fill begun after their lookup and read it instead of fetching again"
    )
    .expect("metric names are unique")
});

/// Responses the policy refused to store, by reason (`not-found`, `status`,
/// `unframed`, `origin-no-store`).
pub static NOT_STORED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_cache_not_stored_total",
        "Origin responses not stored, by object class and reason",
        &["class", "reason"]
    )
    .expect("metric names are unique")
});

/// Origin requests, by origin group, origin and outcome (status class or
/// error kind).
pub static ORIGIN_REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_origin_requests_total",
        "Requests sent to origins, by origin group, origin and outcome",
        &["group", "origin", "outcome"]
    )
    .expect("metric names are unique")
});

pub static ORIGIN_LATENCY: Lazy<HistogramVec> = Lazy::new(|| {
    register_histogram_vec!(
        "hls_edge_origin_response_seconds",
        "Time from sending a request to an origin to its response header",
        &["group", "origin"],
        vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
    )
    .expect("metric names are unique")
});

/// Byte hit ratio: body bytes sent from the cache (hit + coalesced) over
/// bytes sent for cache-enabled requests, per class.
pub static BYTE_HIT_RATIO: Lazy<GaugeVec> = Lazy::new(|| {
    register_gauge_vec!(
        "hls_edge_cache_byte_hit_ratio",
        "Body bytes served from the cache over bytes of cache-enabled requests, by class",
        &["class"]
    )
    .expect("metric names are unique")
});

/// Distinct viewers (session ids, else client addresses) per stream in the
/// last 30 s.
pub static STREAM_VIEWERS: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "hls_edge_stream_viewers",
        "Distinct viewers (session id or client address) in the last 30 s, by stream",
        &["stream"]
    )
    .expect("metric names are unique")
});

pub static STREAM_PLAYLIST_AGE: Lazy<GaugeVec> = Lazy::new(|| {
    register_gauge_vec!(
        "hls_edge_stream_playlist_age_seconds",
        "Time since the stream's live playlist media sequence last advanced",
        &["stream"]
    )
    .expect("metric names are unique")
});

pub static STREAM_SEGMENT_LAG: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "hls_edge_stream_segment_lag",
        "Segments the live playlists sent to players trail the newest fetched from an origin",
        &["stream"]
    )
    .expect("metric names are unique")
});

/// Media bodies an origin cut after the header went to the player, completed
/// (or not) from another origin with a range request, by group, the origin
/// asked for the rest and how it went (`completed`, `mismatch`: not the same
/// object, `failed`: no answer or cut again, `none-left`: no origin to ask).
pub static ORIGIN_RESUMES: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_origin_resumes_total",
        "Cut media bodies completed from another origin by a range request, by outcome",
        &["group", "origin", "outcome"]
    )
    .expect("metric names are unique")
});

/// LL-HLS blocking playlist requests (`_HLS_msn`) by cache result: `miss` went to the
/// origin (which held it until the playlist had the asked part), `coalesced` waited on
/// another's identical request, `hit` found it stored (rfc8216bis B.1).
pub static BLOCKING_REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_blocking_requests_total",
        "LL-HLS blocking playlist requests (_HLS_msn), by cache result",
        &["cache"]
    )
    .expect("metric names are unique")
});

/// How long blocking playlist requests were held before their answer's header.
pub static BLOCKING_HOLD: Lazy<Histogram> = Lazy::new(|| {
    register_histogram!(
        "hls_edge_blocking_hold_seconds",
        "Time from a blocking playlist request to its answer's header",
        vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    )
    .expect("metric names are unique")
});

/// Requests for a part a playlist only hinted (`EXT-X-PRELOAD-HINT`) when they arrived,
/// by cache result (`coalesced`: waited on another viewer's fill).
pub static PRELOAD_HINT_REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_preload_hint_requests_total",
        "Requests for preload-hinted LL-HLS parts, by cache result",
        &["cache"]
    )
    .expect("metric names are unique")
});

/// How long requests for hinted parts waited for their first bytes.
pub static PRELOAD_HINT_WAIT: Lazy<Histogram> = Lazy::new(|| {
    register_histogram!(
        "hls_edge_preload_hint_wait_seconds",
        "Time from a preload-hinted part request to its answer's header",
        vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    )
    .expect("metric names are unique")
});

/// Requests retried on another origin (or a sibling's request sent to the
/// origins instead), by group, the origin that failed and why.
pub static ORIGIN_FAILOVERS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_origin_failovers_total",
        "Origin requests retried elsewhere, by group, failed origin and reason",
        &["group", "origin", "reason"]
    )
    .expect("metric names are unique")
});

/// One per origin and kind of traffic (`playlists`, `media`): 1 while the
/// origin is ejected for that traffic (its own failures), 0 otherwise.
pub static ORIGIN_EJECTED: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "hls_edge_origin_ejected",
        "1 while an origin is ejected for a kind of traffic (playlists, media)",
        &["group", "origin", "traffic"]
    )
    .expect("metric names are unique")
});

/// One per origin and state: 1 for the origin's current state, 0 otherwise.
pub static ORIGIN_HEALTH: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "hls_edge_origin_health",
        "Origin health: 1 for the current state (healthy, degraded, stale, down)",
        &["group", "origin", "state"]
    )
    .expect("metric names are unique")
});

/// Live playlists sent to a player from a stored copy because the origin's
/// was behind what this edge already served (a failover would have made the
/// playlist go backwards).
pub static PLAYLIST_REGRESSIONS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_playlist_regressions_prevented_total",
        "Live playlists behind an already served one, answered from the newer copy",
        &["group"]
    )
    .expect("metric names are unique")
});

/// Requests refused before the cache: `upgrade`, `body`, `host`, `target`
/// (message rules), `method`, `loop` (CDN-Loop), `bad-path`, `no-route`,
/// `peer-auth`.
pub static REFUSED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_refused_requests_total",
        "Requests refused by the edge before the cache, by reason",
        &["reason"]
    )
    .expect("metric names are unique")
});

/// Requests refused for their playback token, by reason (`missing`,
/// `malformed`, `bad-hmac`, `expired`, `not-yet-valid`, `acl`, `ip`, `revoked`).
pub static TOKEN_REJECTIONS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_token_rejections_total",
        "Requests refused for their playback token, by reason",
        &["reason"]
    )
    .expect("metric names are unique")
});

/// Playlist child URIs sent without a session token: no token could cover
/// the child without granting more than the request's token did.
pub static SESSIONS_WITHHELD: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "hls_edge_session_tokens_withheld_total",
        "Playlist child URIs left without a session token rather than given a wider one"
    )
    .expect("metric names are unique")
});

/// Player connections open now.
pub static CONNECTIONS_OPEN: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "hls_edge_connections_open",
        "Client connections open on the player-facing listeners"
    )
    .expect("metric names are unique")
});

/// Player connections refused at accept, by reason (`max`, `per-client`).
pub static CONNECTIONS_REFUSED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_connections_refused_total",
        "Client connections refused at accept, by the limit reached",
        &["reason"]
    )
    .expect("metric names are unique")
});

/// Player connections closed by a timeout, by phase (`idle`, `header`,
/// `keepalive`, `send`).
pub static CONNECTION_TIMEOUTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_connection_timeouts_total",
        "Client connections closed by a timeout, by phase",
        &["phase"]
    )
    .expect("metric names are unique")
});

/// Admin requests refused, by reason (`origin`, `host`, `token`).
pub static ADMIN_REFUSED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_admin_refused_total",
        "Admin listener requests refused, by reason",
        &["reason"]
    )
    .expect("metric names are unique")
});

/// Packager streams (label values come from the configured stream names).
pub static PACKAGER_BYTES: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "hls_edge_packager_bytes",
        "Segment bytes the packager holds, per stream",
        &["stream"]
    )
    .expect("metric names are unique")
});

pub static PACKAGER_LIVE: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "hls_edge_packager_live",
        "1 while a stream's newest generation has a running input",
        &["stream"]
    )
    .expect("metric names are unique")
});

pub static PACKAGER_SEGMENTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_packager_segments_produced_total",
        "Segments the packager published, per stream",
        &["stream"]
    )
    .expect("metric names are unique")
});

pub static PACKAGER_INGEST_BYTES: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_packager_ingest_bytes_total",
        "TS bytes received by the packager (push and loop), per stream; x8 rate() is the ingest bitrate",
        &["stream"]
    )
    .expect("metric names are unique")
});

pub static PACKAGER_INGEST_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_packager_ingest_errors_total",
        "Continuity errors, lost sync and broken uploads, per stream",
        &["stream"]
    )
    .expect("metric names are unique")
});

pub static PACKAGER_REFUSED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_packager_segments_refused_total",
        "Segments refused because the packager's memory bound was reached, per stream",
        &["stream"]
    )
    .expect("metric names are unique")
});

pub static PACKAGER_PARTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_packager_parts_produced_total",
        "Partial segments (LL-HLS) the packager published, per stream",
        &["stream"]
    )
    .expect("metric names are unique")
});

/// LL-HLS requests the packager's origin holds: `kind` is `blocking` (playlist
/// reloads with `_HLS_msn`) or `preload_hint` (the hinted part, before it is
/// published).
pub static PACKAGER_HELD: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "hls_edge_packager_held_requests",
        "LL-HLS requests the packager holds now, per stream and kind (blocking, preload_hint)",
        &["stream", "kind"]
    )
    .expect("metric names are unique")
});

/// How each held LL-HLS request ended: `at_once`, `after_hold`, `timeout`
/// (503), `refused` (400), `gone` (404).
pub static PACKAGER_HOLDS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_packager_held_requests_total",
        "LL-HLS requests the packager held, per stream, kind and outcome",
        &["stream", "kind", "outcome"]
    )
    .expect("metric names are unique")
});

pub static PACKAGER_BLOCKING_HOLD_SECONDS: Lazy<HistogramVec> = Lazy::new(|| {
    register_histogram_vec!(
        "hls_edge_packager_blocking_hold_seconds",
        "How long the packager held a blocking playlist reload before answering, per stream",
        &["stream"],
        vec![0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0]
    )
    .expect("metric names are unique")
});

/// Brings a counter mirrored from another module's running total up to it.
pub fn mirror(counter: &IntCounterVec, label: &str, total: u64) {
    let c = counter.with_label_values(&[label]);
    c.inc_by(total.saturating_sub(c.get()));
}

/// Registers every metric at start-up: unlabelled ones are listed from the
/// first scrape, labelled families once they have a first sample.
pub fn register_all() {
    Lazy::force(&REQUESTS);
    Lazy::force(&BYTES_SENT);
    Lazy::force(&HIT_RATIO);
    Lazy::force(&LOOKUPS);
    Lazy::force(&CACHE_BYTES);
    Lazy::force(&CACHE_OBJECTS);
    Lazy::force(&CACHE_EVICTIONS);
    Lazy::force(&CACHE_LOCK_LATE_JOINS);
    Lazy::force(&NOT_STORED);
    Lazy::force(&ORIGIN_REQUESTS);
    Lazy::force(&ORIGIN_LATENCY);
    Lazy::force(&ORIGIN_FAILOVERS);
    Lazy::force(&ORIGIN_RESUMES);
    Lazy::force(&BLOCKING_REQUESTS);
    Lazy::force(&BLOCKING_HOLD);
    Lazy::force(&PRELOAD_HINT_REQUESTS);
    Lazy::force(&PRELOAD_HINT_WAIT);
    Lazy::force(&ORIGIN_EJECTED);
    Lazy::force(&BYTE_HIT_RATIO);
    Lazy::force(&STREAM_VIEWERS);
    Lazy::force(&STREAM_PLAYLIST_AGE);
    Lazy::force(&STREAM_SEGMENT_LAG);
    Lazy::force(&ORIGIN_HEALTH);
    Lazy::force(&PLAYLIST_REGRESSIONS);
    Lazy::force(&REFUSED);
    Lazy::force(&TOKEN_REJECTIONS);
    Lazy::force(&SESSIONS_WITHHELD);
    Lazy::force(&CONNECTIONS_OPEN);
    Lazy::force(&CONNECTIONS_REFUSED);
    Lazy::force(&CONNECTION_TIMEOUTS);
    Lazy::force(&ADMIN_REFUSED);
    Lazy::force(&PACKAGER_BYTES);
    Lazy::force(&PACKAGER_LIVE);
    Lazy::force(&PACKAGER_SEGMENTS);
    Lazy::force(&PACKAGER_INGEST_BYTES);
    Lazy::force(&PACKAGER_INGEST_ERRORS);
    Lazy::force(&PACKAGER_REFUSED);
    Lazy::force(&PACKAGER_PARTS);
    Lazy::force(&PACKAGER_HELD);
    Lazy::force(&PACKAGER_HOLDS);
    Lazy::force(&PACKAGER_BLOCKING_HOLD_SECONDS);
    transport::register();
}

/// Counts one finished request (the hit ratios follow at the next read:
/// `refresh_hit_ratios`).
///
/// A routed request is counted by its route's `RouteRequests`, which resolves
/// the same series once.
pub fn record_request(route: &str, class: &str, status: u16, cache: &str, body_bytes: usize) {
    let status_class = requests::status_class(status);
    REQUESTS
        .with_label_values(&[route, class, status_class, cache])
        .inc();
    BYTES_SENT
        .with_label_values(&[class, cache])
        .inc_by(body_bytes as f64);
    if LOOKUP_RESULTS.contains(&cache) {
        LOOKUPS.with_label_values(&[class, cache]).inc();
    }
}

/// Recomputes the hit ratio gauges (requests and bytes, per class) from the
/// counters; called when metrics are read, so requests only count.
pub fn refresh_hit_ratios() {
    use prometheus::core::Collector;
    let mut classes = std::collections::BTreeSet::new();
    for family in LOOKUPS.collect() {
        for metric in family.get_metric() {
            for label in metric.get_label() {
                if label.name() == "class" {
                    classes.insert(label.value().to_string());
                }
            }
        }
    }
    for class in &classes {
        let class = class.as_str();
        let count = |result: &str| LOOKUPS.with_label_values(&[class, result]).get();
        let served = count("hit") + count("coalesced");
        let total: u64 = LOOKUP_RESULTS.iter().map(|r| count(r)).sum();
        if total > 0 {
            HIT_RATIO
                .with_label_values(&[class])
                .set(served as f64 / total as f64);
        }
        let bytes = |result: &str| BYTES_SENT.with_label_values(&[class, result]).get();
        let served_bytes = bytes("hit") + bytes("coalesced");
        let total_bytes: f64 = LOOKUP_RESULTS.iter().map(|r| bytes(r)).sum();
        if total_bytes > 0.0 {
            BYTE_HIT_RATIO
                .with_label_values(&[class])
                .set(served_bytes / total_bytes);
        }
    }
}

/// Cache results that count in the hit ratio.
const LOOKUP_RESULTS: [&str; 4] = ["hit", "coalesced", "miss", "stale"];
