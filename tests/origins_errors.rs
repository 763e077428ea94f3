//! Origin errors short of a refused connect, as a player sees them (design
//! section 5): a hanging primary costs one read timeout; a body cut short
//! (by Content-Length or a missing last chunk) is neither passed off as whole
//! nor stored; a segment 404 on the primary is asked of the secondary unless
//! `retry_404_segments` is off; a stored segment is served stale while every
//! origin fails, within `stale_if_error` only. A real edge in front of two
//! counting origins, each test on its own loopback ports.
//!
//! Run: `cargo test --release --test origins_errors`

mod common;

use std::time::{Duration, Instant};

use common::origin_group::{edge_config, pair, segment_origin, timed_get, SEGMENT, TIMEOUTS};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_primary_costs_one_read_timeout_then_the_secondary_answers() {
    const WARM: &str = "/hls/live/seg_0.ts";
    let primary = CountingOrigin::start();
    primary.set(WARM, Reply::segment(100_000));
    primary.set(SEGMENT, Reply::hang());
    let secondary = segment_origin(100_000);
    let group = "    connect_timeout: 1s\n    read_timeout: 500ms\n";
    let config = edge_config(&pair(primary.url(), secondary.url()), group);
    let edge = TestEdge::start_config(&config).await;
    let (warm, baseline) = timed_get(&edge, WARM).await;
    assert_eq!(warm.status, 200);

    let (r, took) = timed_get(&edge, SEGMENT).await;

    assert_eq!(
        (r.status, r.complete),
        (200, true),
        "{:?}",
        r.incomplete_reason
    );
    assert_eq!(r.body, pattern_body(100_000, 0));
    assert_eq!((primary.hits(SEGMENT), secondary.hits(SEGMENT)), (1, 1));
    let added = took.saturating_sub(baseline);
    eprintln!(
        "read-timeout failover (read_timeout 500ms): {took:?} against {baseline:?} for a plain miss, added {added:?}"
    );
    assert!(
        took >= Duration::from_millis(500),
        "answered in {took:?}: no timeout paid?"
    );
    assert!(
        added < Duration::from_millis(1200),
        "the failover added {added:?}: more than the read timeout and a margin"
    );
    assert!(
        cache_status(&r)[0].stored,
        "the secondary's copy is stored: {:?}",
        r.header("cache-status")
    );
}

/// An edge whose primary cuts `SEGMENT` with `cut`. The primary is not
/// ejected (one failure of the default three): the player's retry of that
/// segment starts at the secondary because the primary cut it short.
async fn cut_body_case(cut: Reply) {
    let primary = CountingOrigin::start();
    primary.set(SEGMENT, cut);
    let secondary = segment_origin(100_000);
    let group = TIMEOUTS.to_string();
    let config = edge_config(&pair(primary.url(), secondary.url()), &group);
    let edge = TestEdge::start_config(&config).await;

    // The head may already be on its way when the body breaks: the player
    // must then see a broken response, never a short body that looks whole.
    // When the cut comes before the head went out, the edge retries on the
    // secondary at once and the player gets the whole segment.
    let mut retried = false;
    match edge.try_get_with(SEGMENT, &[]).await {
        Ok(r) if r.status == 200 && r.complete => {
            assert_eq!(
                r.body,
                pattern_body(100_000, 0),
                "a complete answer is the whole segment"
            );
            retried = true;
        }
        Ok(r) => {
            eprintln!(
                "the player saw: status {}, {} bytes, {:?}",
                r.status,
                r.body.len(),
                r.incomplete_reason
            );
            assert!(
                r.status >= 500 || !r.complete,
                "a cut body reached the player as complete: status {}, {} bytes, {:?}",
                r.status,
                r.body.len(),
                r.framing
            );
        }
        Err(e) => eprintln!("the cut request ended without a response head: {e}"),
    }
    assert_eq!(primary.hits(SEGMENT), 1);

    let next = edge.get(SEGMENT).await;
    let again = edge.get(SEGMENT).await;

    assert_eq!(
        (next.status, next.complete),
        (200, true),
        "{:?}",
        next.incomplete_reason
    );
    assert_eq!(next.body, pattern_body(100_000, 0));
    let entry = &cache_status(&next)[0];
    assert!(
        !entry.hit && entry.stored,
        "the cut copy was not stored, the secondary's is: {:?}",
        next.header("cache-status")
    );
    let secondary_fetches = 1 + usize::from(retried);
    assert_eq!(
        (primary.hits(SEGMENT), secondary.hits(SEGMENT)),
        (1, secondary_fetches)
    );
    assert!(
        cache_status(&again)[0].hit,
        "{:?}",
        again.header("cache-status")
    );
    assert_eq!(again.body, pattern_body(100_000, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_cut_short_of_its_content_length_is_not_passed_off_or_stored() {
    cut_body_case(Reply::truncated(100_000, 30_000)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunked_body_without_its_last_chunk_is_not_passed_off_or_stored() {
    cut_body_case(Reply::segment(100_000).chunked().cut_after(30_000)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_segment_missing_on_the_primary_is_fetched_from_the_secondary() {
    const NOWHERE: &str = "/hls/live/seg_99.ts";
    const PLAYLIST: &str = "/hls/live/index.m3u8";
    let primary = CountingOrigin::start();
    primary.set(SEGMENT, Reply::status(404));
    let secondary = segment_origin(40_000);
    secondary.set(PLAYLIST, Reply::playlist(vod_playlist(2, 3)));
    let edge = TestEdge::start_config(&edge_config(
        &pair(primary.url(), secondary.url()),
        TIMEOUTS,
    ))
    .await;

    let found = edge.get(SEGMENT).await;
    let nowhere = edge.get(NOWHERE).await;
    let playlist = edge.get(PLAYLIST).await;

    assert_eq!((found.status, found.complete), (200, true));
    assert_eq!(found.body, pattern_body(40_000, 0));
    assert_eq!((primary.hits(SEGMENT), secondary.hits(SEGMENT)), (1, 1));
    // Neither has it: a 404, each origin asked once, never stored.
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.header("cache-control"), Some("no-store"));
    assert_eq!((primary.hits(NOWHERE), secondary.hits(NOWHERE)), (1, 1));
    // A playlist's 404 is the origin's answer: not asked again elsewhere.
    assert_eq!(playlist.status, 404);
    assert_eq!((primary.hits(PLAYLIST), secondary.hits(PLAYLIST)), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_retry_404_segments_off_the_primary_404_is_the_answer() {
    let primary = CountingOrigin::start();
    primary.set(SEGMENT, Reply::status(404));
    let secondary = segment_origin(1000);
    let group = format!("{TIMEOUTS}    retry_404_segments: false\n");
    let config = edge_config(&pair(primary.url(), secondary.url()), &group);
    let edge = TestEdge::start_config(&config).await;

    let r = edge.get(SEGMENT).await;

    assert_eq!(r.status, 404);
    assert_eq!((primary.hits(SEGMENT), secondary.hits(SEGMENT)), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stored_segment_is_served_stale_while_every_origin_fails_within_stale_if_error_only() {
    const TTL: Duration = Duration::from_secs(1);
    const STALE_IF_ERROR: Duration = Duration::from_secs(3);
    let primary = segment_origin(30_000);
    let secondary = segment_origin(30_000);
    let config = edge_config(&pair(primary.url(), secondary.url()), TIMEOUTS)
        .cache("segment_ttl", "1s")
        .cache("stale_if_error", "3s");
    let edge = TestEdge::start_config(&config).await;
    let before = Instant::now();
    let stored = edge.get(SEGMENT).await;
    let after = Instant::now();
    assert!(
        cache_status(&stored)[0].stored,
        "{:?}",
        stored.header("cache-status")
    );
    primary.stop();
    secondary.stop();

    // Fresh hits first, then (TTL over, every origin refusing) stale copies.
    let mut first_stale = None;
    let mut last_stale = None;
    let mut refused = None;
    let deadline = after + TTL + STALE_IF_ERROR + Duration::from_secs(3);
    while Instant::now() < deadline {
        let sent = Instant::now();
        let r = edge.get(SEGMENT).await;
        let entry = cache_status(&r).last().cloned().unwrap_or_default();
        if r.status != 200 {
            refused = Some((
                sent,
                Instant::now(),
                r.status,
                r.header("cache-control").map(str::to_string),
            ));
            break;
        }
        assert!(
            r.complete && r.body == pattern_body(30_000, 0),
            "stale or not, whole"
        );
        assert!(
            entry.hit,
            "200 without an origin: from the cache {:?}",
            r.header("cache-status")
        );
        if entry.fwd.as_deref() == Some("stale") {
            first_stale.get_or_insert(Instant::now());
            last_stale = Some(sent);
        } else {
            assert!(first_stale.is_none(), "fresh again after stale?");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let first_stale = first_stale.expect("served stale once the TTL was over");
    let last_stale = last_stale.expect("served stale");
    let (refused_sent, refused_at, status, cache_control) =
        refused.expect("an error once the stale-if-error window closed");
    eprintln!(
        "stale from {:?} to {:?} after storing, error {status} from {:?}",
        first_stale - before,
        last_stale - before,
        refused_at - before
    );
    assert!(first_stale - before >= TTL, "stale only after the TTL");
    assert!(
        last_stale <= after + TTL + STALE_IF_ERROR,
        "never stale past the window"
    );
    assert!(
        refused_at - before >= TTL + STALE_IF_ERROR,
        "not refused inside the window"
    );
    assert!(
        refused_sent <= after + TTL + STALE_IF_ERROR + Duration::from_millis(1500),
        "still served long after the window"
    );
    assert!(status >= 500, "{status}");
    assert!(
        cache_control
            .as_deref()
            .is_some_and(|cc| cc.contains("no-store")),
        "{cache_control:?}"
    );
}
