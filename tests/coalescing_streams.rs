//! Requests that coalesce on one media fill (design section 2, issues 14 and 15): the
//! waiters receive the bytes as the fill arrives, not when it completes; and a fill the
//! origin cuts short is completed from another origin for every one of them.

mod common;

use std::time::{Duration, Instant};

use common::*;

const SEGMENT: &str = "/hls/live/seg_7.ts";
const LEN: usize = 400_000;

/// One GET: the time to its first body byte, and its body.
async fn timed(addr: std::net::SocketAddr) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let got = timed_get(addr, SEGMENT).await;
    assert_eq!(got.status, 200);
    (got.first_byte.duration_since(started), got.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coalesced_requests_receive_the_fill_as_it_arrives() {
    let origin = CountingOrigin::start();
    // the origin sends a quarter at once, the rest 1.5 s later
    origin.set(
        SEGMENT,
        Reply::segment(LEN).pause_after(LEN / 4, Duration::from_millis(1_500)),
    );
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    let addr = edge.addr();
    let gets: Vec<_> = (0..20).map(|_| tokio::spawn(timed(addr))).collect();
    let mut firsts = Vec::new();
    for get in gets {
        let (first, body) = get.await.expect("task");
        assert_eq!(
            body,
            pattern_body(LEN, 0),
            "every viewer gets the whole segment"
        );
        firsts.push(first);
    }
    assert_eq!(
        origin.hits(SEGMENT),
        1,
        "one origin request for all of them"
    );
    firsts.sort();
    let slowest = *firsts.last().expect("20");
    assert!(
        slowest < Duration::from_millis(1_200),
        "first bytes arrive with the fill, not after it (1.5 s): {firsts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fill_cut_short_is_completed_from_another_origin_for_every_reader() {
    let primary = CountingOrigin::start();
    let secondary = CountingOrigin::start();
    let etag = ("etag", "\"seg-7-v1\"");
    // the primary sends a third, waits (the readers join), then dies
    primary.set(
        SEGMENT,
        Reply::truncated(LEN, LEN / 3)
            .with_header(etag.0, etag.1)
            .body_delay(Duration::from_millis(300)),
    );
    secondary.set_fn(SEGMENT, move |req| {
        let full = pattern_body(LEN, 0);
        let from = req
            .header("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split('-').next())
            .and_then(|n| n.parse::<usize>().ok());
        match from {
            Some(from) => Reply::ok(full[from..].to_vec(), "video/mp2t")
                .with_status(206)
                .with_header("content-range", &format!("bytes {from}-{}/{LEN}", LEN - 1))
                .with_header(etag.0, etag.1),
            None => Reply::ok(full, "video/mp2t").with_header(etag.0, etag.1),
        }
    });
    let route = RouteConfig::new("/hls/")
        .origin_priority(primary.addr(), 0)
        .origin_priority(secondary.addr(), 1);
    let edge = TestEdge::start_config(&EdgeConfig::new().route_config(route)).await;
    let addr = edge.addr();
    let gets: Vec<_> = (0..10).map(|_| tokio::spawn(timed(addr))).collect();
    for get in gets {
        let (_, body) = get.await.expect("task");
        assert_eq!(body.len(), LEN);
        assert_eq!(body, pattern_body(LEN, 0), "no viewer sees the cut");
    }
    assert_eq!(primary.hits(SEGMENT), 1);
    assert_eq!(
        secondary.hits(SEGMENT),
        1,
        "one range request completes the fill"
    );
    let asked = secondary.last_request(SEGMENT).expect("asked");
    assert!(asked
        .header("range")
        .is_some_and(|r| r.starts_with("bytes=")));
    assert_eq!(asked.header("if-range"), Some(etag.1));
    // and the completed object is stored
    let again = edge.get(SEGMENT).await;
    assert!(cache_status_of(&again, "edge-test").is_some_and(|e| e.hit));
    assert_eq!(again.body, pattern_body(LEN, 0));
}
