//! The `/metrics` exposition of a real edge (design section 6, issue 6) is
//! well formed and bounded: it parses with the kit's strict parser
//! (`common::exposition`), with `prometheus-parse` and with `promtool` when
//! installed, before and after traffic; every metric family is there; and 25
//! times the paths and sessions add no series and no label holds a path, a
//! session id or a token. Also the strict parser's self-test.
//!
//! Every edge is the real binary on free loopback ports in front of a counting
//! origin; waits are bounded polls.
//!
//! Run: `cargo test --release --test metrics_exposition`
//! (`PROMTOOL=/path/to/promtool` to pick the linter; skipped when absent).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use common::*;

/// One pass of traffic of every kind; `n` times, each with its own segment
/// names and session ids. Returns the number of requests made.
async fn traffic_pass(edge: &TestEdge, tag: &str, n: usize) -> usize {
    let mut made = 0;
    for i in 0..n {
        let seg = format!("/hls/p/seg_{tag}_{i}.ts");
        let token = entry_token("/sec/*", &format!("sess-{tag}-{i}"));
        let secure = format!("/sec/s1/seg_{tag}_{i}.ts?hdnts={token}");
        for path in [&seg, &seg, &secure, &secure] {
            assert_eq!(edge.get(path).await.status, 200, "{path}");
        }
        let bad = with_bad_hmac(&token);
        let refused = [
            (format!("/hls/p/missing_{tag}_{i}.ts"), 404),
            ("/sec/s1/seg_0.ts".to_string(), 401),
            (format!("/sec/s1/seg_{tag}_{i}.ts?hdnts={bad}"), 403),
            (format!("/nope/{tag}_{i}"), 404),
        ];
        for (path, status) in &refused {
            assert_eq!(edge.get(path).await.status, *status, "{path}");
        }
        assert_eq!(edge.get("/hls/p/live.m3u8").await.status, 200);
        made += 9;
    }
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_exposition_parses_and_its_label_sets_stay_bounded() {
    let origin = CountingOrigin::start();
    origin.set_live_playlist("/hls/p/live.m3u8", LivePlaylist::new(2, 3, 10));
    origin.set_fallback(|req| {
        if req.path.contains("missing") {
            Reply::status(404)
        } else {
            Reply::segment(2_000)
        }
    });
    let edge = TestEdge::start_config(&two_routes(&origin)).await;
    let start = edge.metrics().await;
    let families = parse_exposition(&start).unwrap_or_else(|e| panic!("{e}\n{start}"));
    assert!(
        !families.is_empty(),
        "a fresh edge exposes its metrics:\n{start}"
    );

    let first = traffic_pass(&edge, "a", 1).await;
    let small = scrape_after(&edge, &start, first as f64).await;
    let second = traffic_pass(&edge, "b", 25).await;
    let large = scrape_after(&edge, &start, (first + second) as f64).await;

    for text in [&start, &small, &large] {
        check_with_prometheus_parse(text);
        check_with_promtool(text);
    }
    let families = parse_exposition(&large).unwrap_or_else(|e| panic!("{e}\n{large}"));
    let names: BTreeSet<&str> = families.iter().map(|f| f.name.as_str()).collect();
    for wanted in [
        "hls_edge_requests_total",
        "hls_edge_cache_lookups_total",
        "hls_edge_cache_hit_ratio",
        "hls_edge_cache_byte_hit_ratio",
        "hls_edge_sent_bytes_total",
        "hls_edge_cache_bytes",
        "hls_edge_cache_objects",
        "hls_edge_cache_evictions_total",
        "hls_edge_cache_late_joins_total",
        "hls_edge_cache_not_stored_total",
        "hls_edge_origin_requests_total",
        "hls_edge_origin_response_seconds",
        "hls_edge_origin_health",
        "hls_edge_token_rejections_total",
        "hls_edge_refused_requests_total",
        "hls_edge_stream_viewers",
        "hls_edge_stream_playlist_age_seconds",
        "hls_edge_stream_segment_lag",
    ] {
        assert!(names.contains(wanted), "{wanted} missing:\n{large}");
    }

    // bounded: 25 times the paths and sessions add no metric and no label
    // value, except cache results from their fixed set (which results a
    // live playlist meets depends on timing, e.g. a slow origin's
    // stale-if-error or a request that waited for another's fetch, and a
    // class's hit ratio is exposed from its first hit on)
    const CACHE_RESULTS: [&str; 6] = ["hit", "coalesced", "miss", "stale", "bypass", "refused"];
    let vocabulary = |text: &str| -> BTreeSet<(String, String, String)> {
        parse_exposition(text)
            .expect("parsed above")
            .iter()
            .flat_map(|f| f.samples.iter())
            .flat_map(|sample| {
                let labels = sample
                    .labels
                    .iter()
                    .map(|(label, value)| (sample.name.clone(), label.clone(), value.clone()));
                let name = (sample.name.clone(), String::new(), String::new());
                labels.chain(std::iter::once(name)).collect::<Vec<_>>()
            })
            .collect()
    };
    let (few, many) = (vocabulary(&small), vocabulary(&large));
    let grown: Vec<_> = many
        .difference(&few)
        .filter(|(_, label, value)| !(label == "cache" && CACHE_RESULTS.contains(&value.as_str())))
        .filter(|(name, label, value)| {
            // a class's ratio appears with its first hit: the class is known already
            !(label == "class"
                && name.ends_with("hit_ratio")
                && few.iter().any(|(_, l, v)| l == "class" && v == value))
        })
        .collect();
    assert!(
        grown.is_empty(),
        "metrics or label values that appeared with more paths and sessions: {grown:?}"
    );
    // and no label value is a path, a segment name, a session id or a token
    for family in &families {
        for sample in &family.samples {
            for (label, v) in &sample.labels {
                let raw = [
                    "/", ".ts", ".m3u8", "seg_", "missing_", "sess-", "nope", "hdnt", "hmac=",
                ]
                .iter()
                .find(|bad| v.contains(*bad));
                assert!(
                    raw.is_none(),
                    "{}: label {label}={v:?} holds {raw:?}",
                    sample.key()
                );
            }
        }
    }
    assert!(!large.contains("sess-"), "a session id in the exposition");
}

/// `prometheus-parse` reads every line as a HELP, TYPE or sample (it would
/// silently skip a line it cannot read, so each line is classified first)
/// and agrees with the strict parser on every counter and gauge value.
fn check_with_prometheus_parse(text: &str) {
    use prometheus_parse::{LineInfo, Scrape, Value as PValue};
    for line in text.lines() {
        assert!(
            !matches!(LineInfo::parse(line), LineInfo::Ignored | LineInfo::Empty),
            "prometheus-parse cannot read {line:?}"
        );
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("prometheus-parse: {e}"));
    let families = parse_exposition(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for family in &families {
        assert!(
            scrape.docs.contains_key(&family.name),
            "prometheus-parse found no HELP for {}",
            family.name
        );
        if !matches!(family.kind.as_str(), "counter" | "gauge") {
            continue;
        }
        for sample in &family.samples {
            let found = scrape.samples.iter().find(|s| {
                s.metric == sample.name
                    && s.labels.len() == sample.labels.len()
                    && sample
                        .labels
                        .iter()
                        .all(|(k, v)| s.labels.get(k) == Some(v.as_str()))
            });
            let got = match found.map(|s| &s.value) {
                Some(PValue::Counter(v) | PValue::Gauge(v) | PValue::Untyped(v)) => *v,
                other => panic!("prometheus-parse read {} as {other:?}", sample.key()),
            };
            assert_eq!(got, sample.value, "{}", sample.key());
        }
    }
}

/// `promtool check metrics` (Prometheus's own linter) when it is installed
/// (Debian's `prometheus` package ships it); skipped otherwise.
fn check_with_promtool(text: &str) {
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("skipped: {promtool} is not installed");
        return;
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(text.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_strict_parser_refuses_what_it_should() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1\n";
    let families = parse_exposition(ok).expect("valid");
    assert_eq!(families[0].samples[0].labels[0].1, "q\"\\\n");
    for bad in [
        "# HELP a_total A.\n# TYPE a_total counter\na_total 1",
        "# TYPE a_total counter\na_total 1\n",
        "# HELP a_total A.\n# TYPE a_total counter\nb_total 1\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",x=\"2\"} 1\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"\\t\"} 1\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"1\"} 2\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total -1\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=1} 1\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total  1\n",
        "# HELP a_total A.\n# TYPE a_total counter\n\na_total 1\n",
        "# HELP h A.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h A.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}
