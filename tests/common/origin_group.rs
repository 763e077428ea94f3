//! One edge route `/hls/` in front of an origin group of counting origins,
//! written as the YAML a user would write, for the tests of failover and
//! origin errors (`tests/origins_failover.rs`, `tests/origins_errors.rs`).
//!
//! Imported by path (`common::origin_group::SEGMENT`): other test files keep
//! helpers and constants of these names.

use std::time::{Duration, Instant};

use super::{CountingOrigin, EdgeConfig, Reply, Response, TestEdge};

/// The segment most tests ask for.
pub const SEGMENT: &str = "/hls/live/seg_1.ts";

/// Group timeouts of every test unless it sets its own.
pub const TIMEOUTS: &str = "    connect_timeout: 1s\n    read_timeout: 5s\n";

/// An edge whose one route `/hls/` pulls from a group of `origins`: a URL and
/// its other keys (`"priority: 1, weight: 3"`); `group` is the rest of the
/// group as 4-space indented YAML lines.
pub fn edge_config(origins: &[(String, &str)], group: &str) -> EdgeConfig {
    let list: String = origins
        .iter()
        .map(|(url, keys)| format!("      - {{url: \"{url}\", {keys}}}\n"))
        .collect();
    EdgeConfig::new().extra_yaml(&format!(
        "origin_groups:\n  live:\n    origins:\n{list}{group}routes:\n  - name: live\n    prefix: /hls/\n    origin_group: live\n"
    ))
}

/// A primary (priority 0) and a secondary (priority 1).
pub fn pair(primary: String, secondary: String) -> [(String, &'static str); 2] {
    [(primary, "priority: 0"), (secondary, "priority: 1")]
}

/// A counting origin that serves `SEGMENT` as `body_len` pattern bytes.
pub fn segment_origin(body_len: usize) -> CountingOrigin {
    let origin = CountingOrigin::start();
    origin.set(SEGMENT, Reply::segment(body_len));
    origin
}

/// A miss served by a working origin, for comparison with a failover.
pub async fn timed_get(edge: &TestEdge, path: &str) -> (Response, Duration) {
    let started = Instant::now();
    let r = edge.get(path).await;
    (r, started.elapsed())
}
