//! The cache policy as a player sees it: a real edge in front of a counting
//! origin, both on free loopback ports (design section 3).

mod common;

use std::time::Duration;

use common::*;

async fn edge_for(origin: &CountingOrigin) -> TestEdge {
    TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_segment_is_fetched_once_then_served_from_the_cache() {
    let origin = CountingOrigin::start();
    origin.set("/hls/a/seg_1.ts", Reply::segment(200_000));
    let edge = edge_for(&origin).await;

    let first = edge.get("/hls/a/seg_1.ts").await;
    let second = edge.get("/hls/a/seg_1.ts").await;

    assert_eq!((first.status, second.status), (200, 200));
    assert!(first.complete && second.complete);
    assert_eq!(first.body, second.body);
    assert_eq!(origin.hits("/hls/a/seg_1.ts"), 1);
    let status = cache_status(&first);
    assert!(
        !status[0].hit && status[0].stored,
        "{:?}",
        first.header("cache-status")
    );
    let status = cache_status(&second);
    assert!(status[0].hit, "{:?}", second.header("cache-status"));
    assert!(second.header("age").is_some(), "hits carry Age");
    assert_eq!(
        second.header("cache-control"),
        Some("public, max-age=86400, immutable")
    );
    assert_eq!(second.header("access-control-allow-origin"), Some("*"));
    assert!(second
        .header("access-control-expose-headers")
        .unwrap_or("")
        .contains("Age"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_cold_gets_make_one_origin_request() {
    let origin = CountingOrigin::start();
    origin.set(
        "/hls/a/seg_2.ts",
        Reply::segment(300_000).delay(Duration::from_millis(200)),
    );
    let edge = edge_for(&origin).await;

    let responses = concurrent_gets(edge.addr(), "/hls/a/seg_2.ts", 50).await;

    assert_eq!(origin.hits("/hls/a/seg_2.ts"), 1);
    let first = &responses[0].body;
    assert_eq!(first.len(), 300_000);
    for r in &responses {
        assert_eq!(r.status, 200);
        assert!(r.complete, "{:?}", r.incomplete_reason);
        assert_eq!(&r.body, first, "every body byte-identical");
    }
    let collapsed = responses
        .iter()
        .filter(|r| cache_status(r)[0].collapsed)
        .count();
    assert_eq!(
        collapsed, 49,
        "all but the fetching request waited for its fill"
    );
    // counted once each response is sent, which can be after the player has
    // it: wait for the 49 (a fresh edge counts from nothing)
    let coalesced = [("cache", "coalesced"), ("class", "segment")];
    let metrics = scrape_until(&edge, "", "hls_edge_requests_total", &coalesced, 49.0).await;
    assert!(metrics.contains(r#"hls_edge_requests_total{cache="coalesced",class="segment",route="r0",status="2xx"} 49"#), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_playlist_is_never_served_stale() {
    let origin = CountingOrigin::start();
    let live = origin.set_live_playlist("/hls/a/index.m3u8", LivePlaylist::new(2, 3, 100));
    let edge = edge_for(&origin).await;

    for _ in 0..5 {
        let before = live.sequence();
        let r = edge.get("/hls/a/index.m3u8").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            media_sequence_in(&r.text()),
            Some(before),
            "the edge served what the origin has now"
        );
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        assert!(!cache_status(&r)[0].hit, "a live playlist is never a hit");
        origin.advance_live("/hls/a/index.m3u8");
    }
    assert_eq!(origin.hits("/hls/a/index.m3u8"), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_a_live_playlist_share_one_fetch() {
    let origin = CountingOrigin::start();
    let live = std::sync::Arc::new(LivePlaylist::new(2, 3, 7));
    let shared = live.clone();
    // a slow origin, so that the fifty requests overlap one fetch
    origin.set_fn("/hls/a/index.m3u8", move |_| {
        Reply::playlist(shared.render()).delay(Duration::from_millis(200))
    });
    let edge = edge_for(&origin).await;

    let responses = concurrent_gets(edge.addr(), "/hls/a/index.m3u8", 50).await;

    for r in &responses {
        assert_eq!(r.status, 200);
        assert_eq!(media_sequence_in(&r.text()), Some(7));
    }
    let fetches = origin.hits("/hls/a/index.m3u8");
    assert!(
        fetches <= 2,
        "{fetches} origin fetches for 50 concurrent requests"
    );
    live.advance();
    let after = edge.get("/hls/a/index.m3u8").await;
    assert_eq!(
        media_sequence_in(&after.text()),
        Some(8),
        "the next request sees the new media sequence"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_a_revalidated_live_playlist_share_one_304() {
    let origin = CountingOrigin::start();
    let live = std::sync::Arc::new(LivePlaylist::new(2, 3, 7));
    let shared = live.clone();
    // an origin with validators, as nginx serving a live muxer's output: a 304
    // for the playlist the edge holds, slow enough that the requests overlap it
    origin.set_fn("/hls/a/index.m3u8", move |req| {
        let etag = format!("\"s{}\"", shared.sequence());
        match req.header("if-none-match") {
            Some(held) if held == etag => Reply::status(304).delay(Duration::from_millis(200)),
            _ => Reply::playlist(shared.render()),
        }
        .with_header("etag", &etag)
    });
    let edge = edge_for(&origin).await;
    let first = edge.get("/hls/a/index.m3u8").await;
    assert_eq!(media_sequence_in(&first.text()), Some(7));
    let fetched = origin.hits("/hls/a/index.m3u8");

    let responses = concurrent_gets(edge.addr(), "/hls/a/index.m3u8", 50).await;

    for r in &responses {
        assert_eq!((r.status, r.complete), (200, true));
        assert_eq!(
            r.body, first.body,
            "the stored playlist, confirmed by the 304"
        );
    }
    let revalidations = origin.hits("/hls/a/index.m3u8") - fetched;
    assert!(
        revalidations <= 2,
        "{revalidations} origin requests for 50 concurrent requests of a playlist the origin confirmed"
    );
    assert_eq!(
        origin
            .last_request("/hls/a/index.m3u8")
            .and_then(|r| r.header("if-none-match").map(str::to_string))
            .as_deref(),
        Some("\"s7\""),
        "revalidated, not fetched again"
    );
    live.advance();
    let after = edge.get("/hls/a/index.m3u8").await;
    assert_eq!(
        media_sequence_in(&after.text()),
        Some(8),
        "a request after the 304 still goes to the origin, and sees the new playlist"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_future_segment_404_is_not_remembered() {
    let origin = CountingOrigin::start();
    let edge = edge_for(&origin).await;

    let missing = edge.get("/hls/a/seg_9.ts").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("cache-control"), Some("no-store"));

    origin.set("/hls/a/seg_9.ts", Reply::segment(10_000));
    let present = edge.get("/hls/a/seg_9.ts").await;
    assert_eq!(present.status, 200);
    assert_eq!(present.body.len(), 10_000);
    assert_eq!(origin.hits("/hls/a/seg_9.ts"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_cut_short_is_never_stored_nor_served_as_complete() {
    let origin = CountingOrigin::start();
    origin.set("/hls/a/seg_3.ts", Reply::truncated(100_000, 40_000));
    let edge = edge_for(&origin).await;

    let cut = edge.try_get_with("/hls/a/seg_3.ts", &[]).await.ok();
    assert!(
        cut.is_none_or(|r| r.status != 200 || !r.complete),
        "a truncated body must not look complete"
    );

    origin.set("/hls/a/seg_3.ts", Reply::segment(100_000));
    let whole = edge.get("/hls/a/seg_3.ts").await;
    assert_eq!(
        (whole.status, whole.body.len(), whole.complete),
        (200, 100_000, true)
    );
    assert_eq!(
        origin.hits("/hls/a/seg_3.ts"),
        2,
        "nothing was stored from the cut fill"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unframed_body_is_never_stored() {
    let origin = CountingOrigin::start();
    origin.set("/hls/a/seg_4.ts", Reply::unframed(vec![7u8; 5_000]));
    let edge = edge_for(&origin).await;

    let first = edge.get("/hls/a/seg_4.ts").await;
    assert_eq!(first.status, 200);
    let second = edge.get("/hls/a/seg_4.ts").await;
    assert_eq!(second.status, 200);
    assert_eq!(origin.hits("/hls/a/seg_4.ts"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vod_and_multivariant_playlists_are_cached() {
    let origin = CountingOrigin::start();
    origin.set("/hls/v/index.m3u8", Reply::playlist(vod_playlist(4, 3)));
    origin.set(
        "/hls/v/master.m3u8",
        Reply::playlist(multivariant_playlist(&[("low/index.m3u8", 500_000)])),
    );
    let edge = edge_for(&origin).await;

    for path in ["/hls/v/index.m3u8", "/hls/v/master.m3u8"] {
        let first = edge.get(path).await;
        let second = edge.get(path).await;
        assert_eq!((first.status, second.status), (200, 200));
        assert_eq!(origin.hits(path), 1, "{path}");
        assert!(
            cache_status(&second)[0].hit,
            "{path}: {:?}",
            second.header("cache-status")
        );
    }
    let vod = edge.get("/hls/v/index.m3u8").await;
    assert_eq!(vod.header("cache-control"), Some("public, max-age=86400"));
    let master = edge.get("/hls/v/master.m3u8").await;
    assert_eq!(master.header("cache-control"), Some("public, max-age=2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_parameters_never_reach_the_origin_nor_split_the_cache() {
    let origin = CountingOrigin::start();
    origin.set("/hls/a/seg_5.ts", Reply::segment(1_000));
    let edge = edge_for(&origin).await;

    edge.get("/hls/a/seg_5.ts?hdnts=st=1~exp=2~hmac=aa").await;
    let second = edge.get("/hls/a/seg_5.ts?hdnts=st=3~exp=4~hmac=bb").await;

    assert!(cache_status(&second)[0].hit);
    assert_eq!(origin.hits("/hls/a/seg_5.ts"), 1);
    let seen = origin
        .last_request("/hls/a/seg_5.ts")
        .expect("origin saw the request");
    assert_eq!(seen.query_param("hdnts"), None);
    assert_eq!(seen.header("cdn-loop"), Some("edge-test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_that_already_passed_this_edge_is_refused() {
    let origin = CountingOrigin::start();
    let edge = edge_for(&origin).await;

    let looped = edge
        .get_with("/hls/a/seg_1.ts", &[("CDN-Loop", "shield, edge-test")])
        .await;
    assert_eq!(looped.status, 508);
    assert_eq!(origin.total(), 0);

    let outside = edge.get("/admin/anything").await;
    assert_eq!(
        outside.status, 404,
        "paths no route claims are refused: never an open proxy"
    );
    let escape = edge.get("/hls/../etc/passwd").await;
    assert_eq!(escape.status, 400);
    assert_eq!(origin.total(), 0);
}
