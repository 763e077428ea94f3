//! Reading a test edge's admin endpoints as a dashboard would: `/status` as
//! JSON and its per-stream entries, and `/metrics` once a number of requests
//! has been counted.

use std::time::Duration;

use serde_json::Value;

use super::metrics::delta;
use super::{Deadline, TestEdge};

/// Scrapes `/metrics` until the `hls_edge_requests_total` family has grown by
/// `requests` since `before` (the count is written once the response is
/// sent, so a scrape right after the last response could miss it), then
/// returns one more scrape. A scrape gathers the families one after the
/// other, in no fixed order: the one that first sees the last request
/// counted may have read `hls_edge_sent_bytes_total` or
/// `hls_edge_cache_lookups_total` a moment before that request created or
/// counted its series. The next scrape starts after all of them were written.
pub async fn scrape_after(edge: &TestEdge, before: &str, requests: f64) -> String {
    scrape_until(edge, before, "hls_edge_requests_total", &[], requests).await;
    edge.metrics().await
}

/// Scrapes `/metrics` until the series of `name` matching `labels` have grown
/// by `by` since `before`. A request's counters are separate families and a
/// scrape reads them one after the other, so a scrape may see one of them
/// counted and not yet another. Panics with the last scrape when the
/// deadline passes first.
pub async fn scrape_until(
    edge: &TestEdge,
    before: &str,
    name: &str,
    labels: &[(&str, &str)],
    by: f64,
) -> String {
    let deadline = Deadline::new(format!("{name} growing by {by}"), Duration::from_secs(10));
    loop {
        let text = edge.metrics().await;
        if delta(before, &text, name, labels) >= by {
            return text;
        }
        deadline
            .tick(Duration::from_millis(20), || text.clone())
            .await;
    }
}

/// `GET /status`, which must answer 200 with a JSON document.
pub async fn status_json(edge: &TestEdge) -> Value {
    let response = edge.admin_get("/status").await;
    assert_eq!(response.status, 200, "/status: {}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("/status is not JSON ({e}): {}", response.text()))
}

/// The entry of `streams` named `name` in a `/status` document.
pub fn stream_in(status: &Value, name: &str) -> Option<Value> {
    status["streams"]
        .as_array()
        .unwrap_or_else(|| panic!("/status has no streams array: {status}"))
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
}
