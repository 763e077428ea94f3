//! How a cache hit leaves over HTTP/2, seen on the wire by nghttp2's `nghttp`
//! client: the last DATA frame carries END_STREAM, and no empty DATA frame
//! follows it (src/proxy/last_chunk.rs). The bytes are checked with curl for
//! every case, so that holding the last piece never loses or reorders one.

mod common;

use std::path::Path;
use std::process::Command;

use common::tls::{curl, tool, TestPki};
use common::*;

const SEGMENT_LEN: usize = 100_000;

/// One DATA frame the client received: its payload length and END_STREAM.
#[derive(Debug, PartialEq)]
struct DataFrame {
    len: usize,
    end_stream: bool,
}

/// The DATA frames of the one response in `nghttp -nv` output, and its status.
fn data_frames(verbose: &str) -> (Vec<DataFrame>, Option<u16>) {
    let mut frames = Vec::new();
    let mut status = None;
    for line in verbose.lines() {
        if let Some(at) = line.find(":status: ") {
            status = line[at + 9..].trim().parse().ok();
        }
        let Some(at) = line.find("recv DATA frame <length=") else {
            continue;
        };
        let rest = &line[at + "recv DATA frame <length=".len()..];
        let len = rest.split(',').next().and_then(|n| n.parse().ok());
        let flags = rest
            .split("flags=0x")
            .nth(1)
            .and_then(|f| u8::from_str_radix(&f[..2], 16).ok());
        let (Some(len), Some(flags)) = (len, flags) else {
            panic!("unreadable nghttp line: {line}");
        };
        frames.push(DataFrame {
            len,
            end_stream: flags & 0x1 != 0,
        });
    }
    (frames, status)
}

/// `nghttp -nv URL` with extra headers; its verbose output. nghttp asks for
/// gzip unless told otherwise: identity here, unless `headers` say.
fn nghttp(url: &str, headers: &[&str]) -> String {
    let mut cmd = Command::new("nghttp");
    cmd.args(["-n", "-v", "-t", "10"]);
    if !headers.iter().any(|h| h.starts_with("accept-encoding:")) {
        cmd.args(["-H", "accept-encoding: identity"]);
    }
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().expect("nghttp runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "nghttp {url}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The body curl receives over HTTP/2 (`args` before the URL).
fn curl_body(ca: &Path, url: &str, args: &[&str]) -> Vec<u8> {
    let ca = ca.to_str().expect("a UTF-8 temp path");
    let mut all = vec!["--http2", "--cacert", ca];
    all.extend_from_slice(args);
    let response = curl(&all, url).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.version, "HTTP/2", "{url}");
    response.body
}

/// Every DATA frame but the last has bytes, the last ends the stream, and
/// together they carry `len` bytes.
fn assert_ends_with_data(frames: &[DataFrame], len: usize, what: &str) {
    assert!(!frames.is_empty(), "{what}: no DATA frame");
    let (last, rest) = frames.split_last().expect("one frame at least");
    assert!(
        last.end_stream,
        "{what}: the last DATA frame does not end the stream: {frames:?}"
    );
    assert!(
        last.len > 0,
        "{what}: an empty DATA frame ends the stream: {frames:?}"
    );
    assert!(
        rest.iter().all(|f| !f.end_stream && f.len > 0),
        "{what}: {frames:?}"
    );
    assert_eq!(
        frames.iter().map(|f| f.len).sum::<usize>(),
        len,
        "{what}: {frames:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_hit_over_http2_ends_with_its_last_data_frame() {
    let Some(pki) = TestPki::new() else { return };
    if !tool("nghttp", "--version") || !tool("curl", "--version") {
        return;
    }
    let playlist = vod_playlist(4, 30);
    let segment = pattern_body(SEGMENT_LEN, 0);
    let origin = CountingOrigin::start();
    origin.set("/hls/v/index.m3u8", Reply::playlist(playlist.clone()));
    origin.set("/hls/v/seg_1.ts", Reply::segment(SEGMENT_LEN));
    let cert = pki.issue(&["127.0.0.1"], 30);
    let tls = free_addr();
    let config = EdgeConfig::new()
        .route("/hls/", origin.addr())
        .tls_listener(tls, &cert.cert, &cert.key);
    let _edge = TestEdge::start_config(&config).await;
    let base = format!("https://127.0.0.1:{}", tls.port());
    let playlist_url = format!("{base}/hls/v/index.m3u8");
    let segment_url = format!("{base}/hls/v/seg_1.ts");
    let ca = pki.ca_cert();

    let checks = tokio::task::spawn_blocking(move || {
        // the misses that fill the cache: whole, however they are framed
        for (url, len) in [(&playlist_url, playlist.len()), (&segment_url, SEGMENT_LEN)] {
            let (frames, status) = data_frames(&nghttp(url, &[]));
            assert_eq!(status, Some(200), "miss {url}");
            assert_eq!(
                frames.iter().map(|f| f.len).sum::<usize>(),
                len,
                "miss {url}"
            );
            assert!(
                frames.last().is_some_and(|f| f.end_stream),
                "miss {url}: {frames:?}"
            );
        }

        // hits: a playlist (one frame), a segment (many), a range, a compressed playlist
        let (frames, status) = data_frames(&nghttp(&playlist_url, &[]));
        assert_eq!(status, Some(200));
        assert_ends_with_data(&frames, playlist.len(), "playlist hit");
        assert_eq!(
            frames.len(),
            1,
            "a 1 KB playlist is one DATA frame: {frames:?}"
        );

        let (frames, status) = data_frames(&nghttp(&segment_url, &[]));
        assert_eq!(status, Some(200));
        assert_ends_with_data(&frames, SEGMENT_LEN, "segment hit");

        let (frames, status) = data_frames(&nghttp(&segment_url, &["range: bytes=1000-1999"]));
        assert_eq!(status, Some(206));
        assert_ends_with_data(&frames, 1000, "range hit");

        let (frames, status) = data_frames(&nghttp(&playlist_url, &["accept-encoding: gzip"]));
        assert_eq!(status, Some(200));
        let gzipped: usize = frames.iter().map(|f| f.len).sum();
        assert!(
            gzipped > 0 && gzipped < playlist.len(),
            "compressed: {frames:?}"
        );
        assert!(frames.last().is_some_and(|f| f.end_stream), "{frames:?}");

        // and every byte arrives, in order
        assert_eq!(curl_body(&ca, &playlist_url, &[]), playlist.as_bytes());
        assert_eq!(curl_body(&ca, &segment_url, &[]), segment);
        assert_eq!(
            curl_body(&ca, &segment_url, &["-r", "1000-1999"]),
            &segment[1000..2000]
        );
        assert_eq!(
            curl_body(&ca, &playlist_url, &["--compressed"]),
            playlist.as_bytes()
        );
    });
    checks.await.expect("the checks pass");

    // the hits were hits: one origin fetch each
    assert_eq!(origin.hits("/hls/v/index.m3u8"), 1);
    assert_eq!(origin.hits("/hls/v/seg_1.ts"), 1);
}
