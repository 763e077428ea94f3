//! The access log of a real edge (design section 6, issue 6): one JSON line
//! per request with route, class, status, cache result, origin, bytes,
//! session and timings, and no token or key; a sampled text log keeps its
//! share of successes and every error.
//!
//! Every edge is the real binary on free loopback ports in front of a counting
//! origin, its output read from the child's log; waits are bounded polls.
//!
//! Run: `cargo test --release --test access_log`

mod common;

use std::time::Duration;

use common::tokens::{KEY, TOKENS};
use common::*;
use serde_json::Value;

/// The access-log lines of the edge's output so far, parsed (JSON format).
fn json_access_lines(edge: &TestEdge) -> Vec<Value> {
    edge.logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["target"] == "access")
        .collect()
}

/// Polls the edge's output until `count` access lines (as `read` finds them)
/// are there; returns them.
async fn wait_access_lines<T: std::fmt::Debug>(
    edge: &TestEdge,
    count: usize,
    read: impl Fn(&TestEdge) -> Vec<T>,
) -> Vec<T> {
    let deadline = Deadline::new(format!("{count} access log lines"), Duration::from_secs(5));
    loop {
        let lines = read(edge);
        if lines.len() >= count {
            assert_eq!(lines.len(), count, "one line per request: {lines:#?}");
            return lines;
        }
        deadline
            .tick(Duration::from_millis(20), || edge.logs())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_writes_one_json_access_line_with_everything_an_operator_needs() {
    let origin = CountingOrigin::start();
    origin.set(
        "/hls/a/seg_1.ts",
        Reply::segment(12_345).delay(Duration::from_millis(120)),
    );
    let config = EdgeConfig::new()
        .route_config(
            RouteConfig::new("/hls/")
                .origin(origin.addr())
                .option("tokens", TOKENS),
        )
        .env("TEST_TOKEN_KEY", KEY)
        // the config decides the level unless RUST_LOG says otherwise: pin it
        .env("RUST_LOG", "info")
        .extra_yaml("log:\n  level: info\n  access_log: true\n  format: json\n");
    let edge = TestEdge::start_config(&config).await;
    assert!(json_access_lines(&edge).is_empty(), "{}", edge.logs());

    let token = entry_token("/hls/a/*", "sess-log-1");
    let r = edge.get(&format!("/hls/a/seg_1.ts?hdnts={token}")).await;
    assert_eq!(r.status, 200);
    let lines = wait_access_lines(&edge, 1, json_access_lines).await;
    let miss = &lines[0];
    let f = &miss["fields"];
    assert_eq!(miss["level"], "INFO", "{miss}");
    assert_eq!(f["route"], "r0", "{miss}");
    assert_eq!(f["class"], "segment", "{miss}");
    assert_eq!(f["status"], 200, "{miss}");
    assert_eq!(f["cache"], "miss", "{miss}");
    assert_eq!(f["origin"], origin.addr().to_string(), "{miss}");
    assert_eq!(f["bytes"], 12_345, "{miss}");
    assert_eq!(f["session"], "sess-log-1", "{miss}");
    assert_eq!(f["method"], "GET", "{miss}");
    assert_eq!(f["path"], "/hls/a/seg_1.ts", "{miss}");
    let upstream = f["upstream_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("no upstream_ms: {miss}"));
    assert!(
        (115.0..5_000.0).contains(&upstream),
        "upstream time {upstream} ms for a 120 ms origin: {miss}"
    );
    assert!(f["total_ms"].as_f64() >= Some(upstream), "{miss}");

    // a hit of another session: no origin, no upstream time
    let token2 = entry_token("/hls/a/*", "sess-log-2");
    assert_eq!(
        edge.get(&format!("/hls/a/seg_1.ts?hdnts={token2}"))
            .await
            .status,
        200
    );
    // a refusal: no session
    assert_eq!(edge.get("/hls/a/seg_1.ts").await.status, 401);
    let lines = wait_access_lines(&edge, 3, json_access_lines).await;
    // the hook runs once the response is sent: lines may land out of order
    let find = |status: u64| {
        lines
            .iter()
            .skip(1)
            .map(|l| &l["fields"])
            .find(|f| f["status"] == status)
            .unwrap_or_else(|| panic!("no line with status {status}: {lines:#?}"))
    };
    let (hit, refused) = (find(200), find(401));
    assert_eq!(
        (
            &hit["cache"],
            &hit["status"],
            &hit["session"],
            &hit["bytes"],
            &hit["origin"]
        ),
        (
            &Value::from("hit"),
            &Value::from(200),
            &Value::from("sess-log-2"),
            &Value::from(12_345),
            &Value::from("-")
        ),
        "{hit}"
    );
    assert!(hit["upstream_ms"].is_null(), "{hit}");
    assert_eq!(
        (&refused["cache"], &refused["status"], &refused["route"]),
        (
            &Value::from("refused"),
            &Value::from(401),
            &Value::from("r0")
        ),
        "{refused}"
    );
    assert!(refused["session"].is_null(), "{refused}");
    let logs = edge.logs();
    assert!(!logs.contains("hmac="), "a token in the log:\n{logs}");
    assert!(!logs.contains(KEY), "the key in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sampled_text_access_log_keeps_its_share_of_successes_and_every_error() {
    let origin = CountingOrigin::start();
    origin.set("/hls/a/seg_1.ts", Reply::segment(1_000));
    let config = EdgeConfig::new()
        .route("/hls/", origin.addr())
        .env("RUST_LOG", "info")
        .extra_yaml("log:\n  access_log: true\n  access_log_sample: 0.5\n  format: text\n");
    let edge = TestEdge::start_config(&config).await;
    let text_lines = |edge: &TestEdge| -> Vec<String> {
        edge.logs()
            .lines()
            .map(strip_ansi)
            .filter(|l| l.contains(" access: "))
            .collect()
    };

    // 10 successes (1 miss, 9 hits) and 3 errors, then an error as a sentinel
    for _ in 0..10 {
        assert_eq!(edge.get("/hls/a/seg_1.ts").await.status, 200);
    }
    for _ in 0..3 {
        assert_eq!(edge.get("/nope/x.ts").await.status, 404);
    }
    assert_eq!(edge.get("/sentinel/x.ts").await.status, 404);
    let lines = wait_access_lines(&edge, 9, text_lines).await;
    assert!(
        lines.iter().any(|l| l.contains("/sentinel/x.ts")),
        "{lines:#?}"
    );
    let ok = lines.iter().filter(|l| l.contains("status=200")).count();
    let errors = lines.iter().filter(|l| l.contains("status=404")).count();
    assert_eq!((ok, errors), (5, 4), "{lines:#?}");
    assert!(lines[0].contains(r#"route="r0""#), "{}", lines[0]);
    assert!(
        lines
            .iter()
            .all(|l| l.contains("cache=") && l.contains("class=")),
        "{lines:#?}"
    );
}

/// The text without ANSI CSI sequences (`ESC [ ... letter`): the text format
/// colours its fields even when stderr is a file.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
