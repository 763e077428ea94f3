//! Playlist compression (issue 13 item 5): a player that accepts gzip or br
//! gets its playlists compressed with `Vary: Accept-Encoding`; one without
//! `Accept-Encoding` gets plain text with a Content-Length; segments are
//! never compressed; the origin is asked for a playlist as `identity` and the
//! cache keeps one uncompressed copy, even when the origin says `Vary:
//! Accept-Encoding`. Bodies are decoded with `gzip` and `curl`, not with
//! the edge's own code.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::tls::{curl, tool, TestPki};
use common::*;

const PLAYLIST: &str = "/hls/v/index.m3u8";

fn origin() -> (CountingOrigin, String) {
    let origin = CountingOrigin::start();
    let text = vod_playlist(4, 60);
    origin.set(PLAYLIST, Reply::playlist(text.clone()));
    origin.set("/hls/v/seg_1.ts", Reply::segment(200_000));
    (origin, text)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    run_filter(&["gzip", "-dc"], bytes)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    run_filter(&["gzip", "-c"], bytes)
}

fn run_filter(cmd: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("written");
    let out = child.wait_with_output().expect("gzip ends");
    assert!(out.status.success(), "{cmd:?} failed");
    out.stdout
}

fn vary_has_accept_encoding(r: &Response) -> bool {
    r.header_all("vary")
        .iter()
        .any(|v| v.to_ascii_lowercase().contains("accept-encoding"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_playlist_is_gzipped_for_a_player_that_accepts_it_and_stored_once() {
    let (origin, text) = origin();
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;

    let zipped = edge
        .get_with(PLAYLIST, &[("Accept-Encoding", "gzip, deflate")])
        .await;
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(vary_has_accept_encoding(&zipped), "{:?}", zipped.headers);
    // streamed: chunked on HTTP/1.1, and whole
    assert_eq!(zipped.framing, Framing::Chunked);
    assert!(zipped.complete);
    assert!(
        zipped.body.len() < text.len() / 2,
        "{} bytes",
        zipped.body.len()
    );
    assert_eq!(gunzip(&zipped.body), text.as_bytes());

    // a player sending no Accept-Encoding gets plain text with its length
    let plain = edge.get(PLAYLIST).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.framing, Framing::ContentLength(text.len() as u64));
    assert_eq!(plain.body, text.as_bytes());
    assert!(vary_has_accept_encoding(&plain));
    assert!(
        cache_status(&plain)[0].hit,
        "{:?}",
        plain.header("cache-status")
    );
    // `identity` is plain too
    let identity = edge
        .get_with(PLAYLIST, &[("Accept-Encoding", "identity")])
        .await;
    assert_eq!(identity.header("content-encoding"), None);
    assert_eq!(identity.body, text.as_bytes());

    // one origin fetch, asked for identity, whatever the players accepted
    assert_eq!(origin.hits(PLAYLIST), 1);
    let asked = origin.last_request(PLAYLIST).expect("recorded");
    assert_eq!(asked.header("accept-encoding"), Some("identity"));
    // counted once the gzipped response is sent, which can be after the
    // player has it (a fresh edge counts from nothing)
    let gzip = [("encoding", "gzip")];
    let metrics = scrape_until(&edge, "", "hls_edge_compressed_responses_total", &gzip, 1.0).await;
    assert_eq!(
        metric_value(&metrics, "hls_edge_compressed_responses_total", &gzip),
        Some(1.0)
    );
    assert_eq!(
        metric_value(&metrics, "hls_edge_cache_objects", &[]),
        Some(1.0),
        "one stored copy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn segments_ranges_and_heads_are_never_compressed() {
    let (origin, _) = origin();
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    let gzip_ok = [("Accept-Encoding", "gzip, br")];

    for _ in 0..2 {
        let segment = edge.get_with("/hls/v/seg_1.ts", &gzip_ok).await;
        assert_eq!(segment.status, 200);
        assert_eq!(segment.header("content-encoding"), None);
        assert_eq!(segment.framing, Framing::ContentLength(200_000));
        assert_eq!(segment.body, pattern_body(200_000, 0));
        assert!(!vary_has_accept_encoding(&segment));
    }

    let range = edge
        .get_with(
            "/hls/v/seg_1.ts",
            &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-6")],
        )
        .await;
    assert_eq!(range.status, 206);
    assert_eq!(range.header("content-encoding"), None);
    assert_eq!(range.body, &pattern_body(200_000, 0)[..7]);
    let head = http_head(edge.addr(), PLAYLIST, &[("Accept-Encoding", "gzip")])
        .await
        .expect("HEAD");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-encoding"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn br_and_gzip_over_http2_as_curl_decodes_them() {
    let Some(pki) = TestPki::new() else { return };
    if !tool("curl", "--version") {
        return;
    }
    let (origin, text) = origin();
    let cert = pki.issue(&["edge.test"], 30);
    let tls = free_addr();
    let config = EdgeConfig::new()
        .route("/hls/", origin.addr())
        .tls_listener(tls, &cert.cert, &cert.key);
    let edge = TestEdge::start_config(&config).await;
    let url = format!("https://edge.test:{}{PLAYLIST}", tls.port());
    let resolve = format!("edge.test:{}:127.0.0.1", tls.port());
    let ca = pki.ca_cert().display().to_string();

    for (accept, coding) in [("br", "br"), ("gzip", "gzip")] {
        let header = format!("Accept-Encoding: {accept}");
        let args = [
            "--http2",
            "--compressed",
            "-H",
            &header,
            "--cacert",
            &ca,
            "--resolve",
            &resolve,
        ];
        let r = curl(&args, &url).unwrap_or_else(|e| panic!("{e}\n{}", edge.logs()));
        assert_eq!((r.version.as_str(), r.status), ("HTTP/2", 200));
        assert_eq!(r.header("content-encoding"), Some(coding));
        assert_eq!(r.header("content-length"), None);
        assert_eq!(r.body, text.as_bytes(), "{coding} decoded by curl");
    }
    let args = ["--http2", "--cacert", &ca, "--resolve", &resolve];
    let plain = curl(&args, &url).expect("plain");
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(
        plain.header("content-length"),
        Some(text.len().to_string().as_str())
    );
    assert_eq!(plain.body, text.as_bytes());
    assert_eq!(origin.hits(PLAYLIST), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_playlist_an_origin_compressed_anyway_is_stored_plain() {
    let origin = CountingOrigin::start();
    let text = vod_playlist(4, 40);
    origin.set(
        PLAYLIST,
        Reply::ok(gzip(text.as_bytes()), PLAYLIST_TYPE).with_header("Content-Encoding", "gzip"),
    );
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;

    let plain = edge.get(PLAYLIST).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.body, text.as_bytes());
    let zipped = edge
        .get_with(PLAYLIST, &[("Accept-Encoding", "gzip")])
        .await;
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&zipped.body), text.as_bytes());
    assert_eq!(origin.hits(PLAYLIST), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compression_can_be_turned_off() {
    let (origin, text) = origin();
    let config = EdgeConfig::new()
        .route("/hls/", origin.addr())
        .extra_yaml("compression:\n  playlists: false\n");
    let edge = TestEdge::start_config(&config).await;
    let r = edge
        .get_with(PLAYLIST, &[("Accept-Encoding", "gzip")])
        .await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, text.as_bytes());
    assert!(!vary_has_accept_encoding(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_playlist_rewritten_with_session_tokens_is_compressed_whole() {
    let origin = CountingOrigin::start();
    let text = vod_playlist(4, 60);
    origin.set("/sec/v/index.m3u8", Reply::playlist(text.clone()));
    let edge = TestEdge::start_config(&common::tokens::two_routes(&origin)).await;
    let token = entry_token("/sec/v/*", "viewer-1");
    let path = format!("/sec/v/index.m3u8?hdnts={token}");

    let plain = edge.get(&path).await;
    let zipped = edge.get_with(&path, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!((plain.status, zipped.status), (200, 200));
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(zipped.complete);
    let unzipped = String::from_utf8(gunzip(&zipped.body)).expect("text");
    // every segment URI carries a session token, as in the plain copy
    let uris = uris_in(&unzipped);
    assert_eq!(uris.len(), 60);
    assert!(uris.iter().all(|u| u.contains("hdntl=")), "{unzipped}");
    assert_eq!(uris_in(&plain.text()).len(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_playlist_retried_on_another_origin_is_still_served_and_compressed() {
    let (primary, backup) = (CountingOrigin::start(), CountingOrigin::start());
    let text = vod_playlist(4, 40);
    primary.set(PLAYLIST, Reply::status(503));
    // the backup ignores `identity` and compresses anyway
    backup.set(
        PLAYLIST,
        Reply::ok(gzip(text.as_bytes()), PLAYLIST_TYPE).with_header("Content-Encoding", "gzip"),
    );
    let config = EdgeConfig::new().route_origins("/hls/", [primary.addr(), backup.addr()]);
    let edge = TestEdge::start_config(&config).await;

    let zipped = edge
        .get_with(PLAYLIST, &[("Accept-Encoding", "gzip")])
        .await;
    assert_eq!(zipped.status, 200, "{}", edge.logs());
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&zipped.body), text.as_bytes());
    let plain = edge.get(PLAYLIST).await;
    assert_eq!((plain.status, plain.body), (200, text.clone().into_bytes()));
    assert_eq!((primary.hits(PLAYLIST), backup.hits(PLAYLIST)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_origin_varying_on_accept_encoding_still_gives_one_stored_playlist() {
    let origin = CountingOrigin::start();
    let text = vod_playlist(4, 40);
    origin.set(
        PLAYLIST,
        Reply::playlist(text.clone()).with_header("Vary", "Accept-Encoding"),
    );
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    for accept in [None, Some("gzip"), Some("br, gzip"), None, Some("gzip")] {
        let headers: Vec<(&str, &str)> =
            accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
        let r = edge.get_with(PLAYLIST, &headers).await;
        assert_eq!(r.status, 200);
        let body = match r.header("content-encoding") {
            Some("gzip") => gunzip(&r.body),
            Some("br") => continue, // decoded by curl in the HTTP/2 test
            _ => r.body.clone(),
        };
        assert_eq!(body, text.as_bytes(), "{accept:?}");
    }
    assert_eq!(
        origin.hits(PLAYLIST),
        1,
        "one fill for every Accept-Encoding"
    );
    let metrics = edge.metrics().await;
    assert_eq!(
        metric_value(&metrics, "hls_edge_cache_objects", &[]),
        Some(1.0)
    );
}
