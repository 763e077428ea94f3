//! Stored bodies of 64 KiB and more are kept in sealed memory files and sent
//! to plaintext HTTP/1 players with `sendfile` (src/sealed.rs): what the
//! player receives must be the origin's bytes, whole and in order, however
//! it asks (whole, a range, HEAD, several responses on one connection), over
//! h2c, over TLS (never sent from the file: the bytes must be encrypted), and when the
//! object is evicted while a slow player is still reading it. Bodies under
//! 2 MiB share 4 MiB files on huge pages, larger ones have their own.
//!
//! The origin is a stock nginx serving files from a directory (skipped when
//! nginx is missing, except under `CI=true`).

mod common;

use std::path::Path;
use std::time::Duration;

use common::metrics::value;
use common::nginx::Nginx;
use common::tls::TestPki;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sizes of the objects: two large ones (sealed), one under 64 KiB (not).
const LARGE: usize = 900_000;
const SMALL: usize = 40_000;
/// Sealed, and small enough to sit whole in a socket's buffers.
const MID: usize = 100_000;
/// Larger than a huge page: a file of its own, two whole 2 MiB runs.
const BIG: usize = 2 * 2 * 1024 * 1024 + 500_000;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 9) as u8 ^ seed)
        .collect()
}

/// nginx serving `seg_0.ts`..`seg_3.ts` (large), `mid.ts`, `small.ts` and a playlist.
struct Files {
    dir: TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = TempDir::new("hls-edge-sendfile").expect("a temp dir");
        for i in 0..4u8 {
            std::fs::write(dir.path().join(format!("seg_{i}.ts")), pattern(LARGE, i)).unwrap();
        }
        std::fs::write(dir.path().join("small.ts"), pattern(SMALL, 9)).unwrap();
        std::fs::write(dir.path().join("mid.ts"), pattern(MID, 7)).unwrap();
        std::fs::write(dir.path().join("big.ts"), pattern(BIG, 5)).unwrap();
        std::fs::write(
            dir.path().join("index.m3u8"),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2.0,\nseg_0.ts\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        Files { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.root().join(name)).unwrap()
    }
}

/// nginx, or `None` when it is missing (a failure under `CI=true`).
fn nginx(files: &Files) -> Option<Nginx> {
    if !Nginx::available() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI must have nginx: .ci/setup installs it"
        );
        return None;
    }
    Some(Nginx::start(files.root()).expect("nginx starts"))
}

const SENDFILE_BYTES: &str = "hls_edge_sendfile_bytes_total";

fn sendfile_bytes(metrics: &str) -> f64 {
    value(metrics, SENDFILE_BYTES, &[])
}

const SHEET: usize = 4 * 1024 * 1024;

/// How the sheets' memory is shown: `part` is `bodies`, `spare` or `slack`.
fn sheet_bytes(metrics: &str, part: &str) -> f64 {
    value(metrics, "hls_edge_sealed_sheet_bytes", &[("part", part)])
}

/// Stores each of `names` (a miss, checked against the file), then returns
/// the metrics with what the sealed files hold: bodies, files, and the
/// sheets' `bodies` and `slack` bytes. With `spare`, once the sheet made
/// ahead of need (by a thread of its own) is there; without, it checks that
/// there is none.
async fn store(edge: &TestEdge, files: &Files, names: &[&str], spare: bool) -> (String, [f64; 4]) {
    for name in names {
        let miss = edge.get(&format!("/hls/{name}")).await;
        assert!(miss.complete && miss.body == files.bytes(name), "{name}");
    }
    let metrics = if spare {
        let spare = [("part", "spare")];
        scrape_until(
            edge,
            "",
            "hls_edge_sealed_sheet_bytes",
            &spare,
            SHEET as f64,
        )
        .await
    } else {
        edge.metrics().await
    };
    if !spare {
        assert_eq!(sheet_bytes(&metrics, "spare"), 0.0, "{metrics}");
    }
    let held = [
        value(&metrics, "hls_edge_sealed_bodies", &[]),
        value(&metrics, "hls_edge_sealed_files", &[]),
        sheet_bytes(&metrics, "bodies"),
        sheet_bytes(&metrics, "slack"),
    ];
    (metrics, held)
}

/// Sheets opened, by `made` (`ahead` or `inline`).
fn sheets_opened(metrics: &str, made: &str) -> f64 {
    value(metrics, "hls_edge_sealed_sheets_total", &[("made", made)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealed_bodies_reach_the_player_as_the_origin_sent_them() {
    let files = Files::new();
    let Some(nginx) = nginx(&files) else { return };
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", nginx.addr())).await;
    let seg = files.bytes("seg_0.ts");

    let miss = edge.get("/hls/seg_0.ts").await;
    assert_eq!(miss.status, 200);
    assert!(miss.complete && miss.body == seg, "the miss is the file");
    let before = edge.metrics().await;
    assert!(
        value(&before, "hls_edge_sealed_bodies", &[]) >= 1.0,
        "{before}"
    );

    // on one kept-alive connection: whole, a range, HEAD, a small object, the
    // playlist, and the whole segment again: each response framed right
    let mut client = Client::connect(edge.addr()).await.expect("connects");
    let whole = client.get("/hls/seg_0.ts", &[]).await.unwrap();
    assert_eq!(whole.status, 200);
    assert!(whole.complete && whole.body == seg, "the hit is the file");
    assert!(
        cache_status(&whole)[0].hit,
        "{:?}",
        whole.header("cache-status")
    );
    let range = client
        .get("/hls/seg_0.ts", &[("Range", "bytes=100001-700000")])
        .await
        .unwrap();
    assert_eq!(range.status, 206);
    assert_eq!(
        range.header("content-range"),
        Some(format!("bytes 100001-700000/{LARGE}").as_str())
    );
    assert!(range.complete && range.body == seg[100_001..=700_000]);
    let tail = client
        .get("/hls/seg_0.ts", &[("Range", "bytes=-70000")])
        .await
        .unwrap();
    assert_eq!(tail.status, 206);
    assert!(tail.body == seg[LARGE - 70_000..]);
    let head = client.head("/hls/seg_0.ts", &[]).await.unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(LARGE.to_string().as_str())
    );
    assert!(head.body.is_empty());
    let small = client.get("/hls/small.ts", &[]).await.unwrap();
    assert!(small.complete && small.body == files.bytes("small.ts"));
    let playlist = client.get("/hls/index.m3u8", &[]).await.unwrap();
    assert_eq!(playlist.status, 200);
    assert!(playlist.text().starts_with("#EXTM3U"));
    let again = client.get("/hls/seg_0.ts", &[]).await.unwrap();
    assert!(again.complete && again.body == seg);

    // the whole twice and the two ranges, less at most a 16 KiB tail each
    // that a full socket leaves to an ordinary write; the counter moves once
    // `sendfile` returns, which can be after the player has read the bytes
    let sealed = 2 * LARGE + 600_000 + 70_000;
    let at_least = (sealed - 4 * 16 * 1024) as f64;
    let after = scrape_until(&edge, &before, SENDFILE_BYTES, &[], at_least).await;
    let sent = sendfile_bytes(&after) - sendfile_bytes(&before);
    assert!(
        sent >= at_least && sent <= sealed as f64,
        "{sent} bytes sent from sealed files, of {sealed}"
    );
    assert_eq!(
        nginx.answered_once_logged(200, "seg_0.ts", 1),
        1,
        "one origin fetch"
    );
    assert_eq!(
        value(
            &after,
            "hls_edge_sealed_fallbacks_total",
            &[("reason", "sendfile")]
        ),
        0.0
    );
}

/// Four 900 KB segments and a 100 KB one fit one 4 MiB sheet; a body over
/// 2 MiB has a file of its own. Every 2 MiB run is counted as a huge page or
/// not, the sheet's memory is the bodies' bytes plus what is left of it, and
/// each body is its origin's bytes over a connection that sends them with
/// `sendfile`, however they are packed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_under_2_mib_share_a_sheet_and_larger_ones_have_their_own_file() {
    let files = Files::new();
    let Some(nginx) = nginx(&files) else { return };
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", nginx.addr())).await;
    let names = [
        "seg_0.ts", "seg_1.ts", "seg_2.ts", "seg_3.ts", "mid.ts", "big.ts",
    ];
    let (metrics, [bodies, open_files, packed, slack]) = store(&edge, &files, &names, true).await;
    assert_eq!(bodies, 6.0, "{metrics}");
    assert_eq!(
        open_files, 3.0,
        "one sheet, the next one made ahead, and the big body's own file: {metrics}"
    );
    assert_eq!(packed, (4 * LARGE + MID) as f64, "{metrics}");
    assert_eq!(slack, (SHEET - 4 * LARGE - MID) as f64);
    let runs = |result| {
        value(
            &metrics,
            "hls_edge_sealed_huge_runs_total",
            &[("result", result)],
        )
    };
    // two runs of each sheet, two of the big body's file
    assert_eq!(runs("huge") + runs("small"), 6.0, "{metrics}");
    let make = "hls_edge_sealed_file_make_seconds_count";
    assert_eq!(value(&metrics, make, &[]), 3.0, "each file's making timed");

    let mut client = Client::connect(edge.addr()).await.expect("connects");
    for name in names {
        let hit = client.get(&format!("/hls/{name}"), &[]).await.unwrap();
        assert!(cache_status(&hit)[0].hit, "{name}");
        assert!(hit.complete && hit.body == files.bytes(name), "{name}");
    }
    let range = client
        .get("/hls/big.ts", &[("Range", "bytes=2097000-2098000")])
        .await
        .unwrap();
    assert_eq!(range.status, 206);
    assert!(range.body == files.bytes("big.ts")[2_097_000..=2_098_000]);
    let whole = (4 * LARGE + MID + BIG) as f64;
    let at_least = whole - (6 * 16 * 1024) as f64;
    let after = scrape_until(&edge, &metrics, SENDFILE_BYTES, &[], at_least).await;
    let sent = sendfile_bytes(&after) - sendfile_bytes(&metrics);
    assert!(
        sent >= at_least && sent <= whole,
        "{sent} of {whole} bytes sent from the files"
    );
    assert_eq!(nginx.answered_once_logged(200, "big.ts", 1), 1);
}

/// Sheets hold at most an eighth of the cache: with a 32 MiB cache, one.
/// The body that does not fit it gets a file of its own, and every body is
/// still its origin's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sheets_stop_at_an_eighth_of_the_cache() {
    let files = Files::new();
    std::fs::write(files.root().join("seg_9.ts"), pattern(LARGE, 9)).unwrap();
    let Some(nginx) = nginx(&files) else { return };
    let config = EdgeConfig::new()
        .route("/hls/", nginx.addr())
        .cache_max_size("32MiB");
    let edge = TestEdge::start_config(&config).await;
    let names = ["seg_0.ts", "seg_1.ts", "seg_2.ts", "seg_3.ts", "seg_9.ts"];
    let (metrics, [bodies, open_files, packed, slack]) = store(&edge, &files, &names, false).await;
    assert_eq!(bodies, 5.0, "{metrics}");
    assert_eq!(
        open_files, 2.0,
        "one sheet, and the fifth body's own file: {metrics}"
    );
    assert_eq!(packed + slack, SHEET as f64, "{metrics}");
    assert_eq!(packed, (4 * LARGE) as f64);
    // made ahead when the first fill began, or by that fill when the maker was late
    let opened = sheets_opened(&metrics, "ahead") + sheets_opened(&metrics, "inline");
    assert_eq!(opened, 1.0, "one sheet, no room for a spare: {metrics}");
    for name in names {
        let hit = edge.get(&format!("/hls/{name}")).await;
        assert!(hit.complete && hit.body == files.bytes(name), "{name}");
    }
}

/// The sheet a fill opens when the last one is full was made before it was
/// needed, by a thread of its own, and the next one is made in its turn (the
/// first one is asked for when the first fill begins).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_next_sheet_is_made_ahead_of_need() {
    let files = Files::new();
    std::fs::write(files.root().join("seg_4.ts"), pattern(LARGE, 4)).unwrap();
    let Some(nginx) = nginx(&files) else { return };
    // room for 16 sheets (an eighth of the cache)
    let config = EdgeConfig::new()
        .route("/hls/", nginx.addr())
        .cache_max_size("512MiB");
    let edge = TestEdge::start_config(&config).await;
    // 3.7 MB: the first sheet, nearly full
    let first = ["seg_0.ts", "seg_1.ts", "seg_2.ts", "seg_3.ts", "mid.ts"];
    let (metrics, [_, open_files, ..]) = store(&edge, &files, &first, true).await;
    assert_eq!(open_files, 2.0, "the sheet and its spare: {metrics}");
    let (ahead, inline) = (
        sheets_opened(&metrics, "ahead"),
        sheets_opened(&metrics, "inline"),
    );
    assert_eq!(ahead + inline, 1.0, "{metrics}");

    // 900 KB more do not fit: the spare is opened, and another made
    let (metrics, [bodies, open_files, packed, slack]) =
        store(&edge, &files, &["seg_4.ts"], true).await;
    assert_eq!(sheets_opened(&metrics, "ahead"), ahead + 1.0, "{metrics}");
    assert_eq!(sheets_opened(&metrics, "inline"), inline, "{metrics}");
    assert_eq!(bodies, 6.0);
    assert_eq!(open_files, 3.0, "two sheets and a spare: {metrics}");
    assert_eq!(packed, (5 * LARGE + MID) as f64);
    assert_eq!(slack, (2 * SHEET - 5 * LARGE - MID) as f64, "{metrics}");
    let mut client = Client::connect(edge.addr()).await.expect("connects");
    for name in first.iter().chain(&["seg_4.ts"]) {
        let hit = client.get(&format!("/hls/{name}"), &[]).await.unwrap();
        assert!(cache_status(&hit)[0].hit, "{name}");
        assert!(hit.complete && hit.body == files.bytes(name), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_tls_a_sealed_body_is_encrypted_never_sent_from_the_file() {
    let files = Files::new();
    let Some(nginx) = nginx(&files) else { return };
    let Some(pki) = TestPki::new() else { return };
    let cert = pki.issue(&["127.0.0.1"], 30);
    let tls = free_addr();
    let config = EdgeConfig::new()
        .route("/hls/", nginx.addr())
        .tls_listener(tls, &cert.cert, &cert.key);
    let edge = TestEdge::start_config(&config).await;
    let seg = files.bytes("seg_1.ts");
    assert!(edge.get("/hls/seg_1.ts").await.body == seg, "stored");
    let before = edge.metrics().await;

    let (mut client, _) = tls::https_client(tls, "127.0.0.1", &pki.ca_cert())
        .await
        .expect("TLS connects");
    let hit = client.get("/hls/seg_1.ts", &[]).await.unwrap();
    let range = client
        .get("/hls/seg_1.ts", &[("Range", "bytes=200000-")])
        .await
        .unwrap();

    assert!(
        hit.complete && hit.body == seg,
        "a TLS hit decrypts to the file"
    );
    assert!(cache_status(&hit)[0].hit);
    assert!(range.complete && range.body == seg[200_000..]);
    let after = edge.metrics().await;
    assert_eq!(
        sendfile_bytes(&after),
        sendfile_bytes(&before),
        "nothing went out of a TLS connection unencrypted"
    );
}

/// h2c (cleartext HTTP/2) connections are plaintext TCP too: whatever path
/// their DATA frames take, the player gets the file's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_h2c_a_sealed_body_arrives_whole() {
    let files = Files::new();
    let Some(nginx) = nginx(&files) else { return };
    let h2c = free_addr();
    let config = EdgeConfig::new()
        .route("/hls/", nginx.addr())
        .listener(&format!("{{addr: \"{h2c}\", h2c: true}}"));
    let edge = TestEdge::start_config(&config).await;
    let seg = files.bytes("seg_3.ts");
    let url = format!("http://{h2c}/hls/seg_3.ts");

    let h2 = ["--http2-prior-knowledge"];
    let miss = tls::curl(&h2, &url).expect("curl over h2c");
    let hit = tls::curl(&h2, &url).expect("curl over h2c");
    let range = tls::curl(&["--http2-prior-knowledge", "-r", "300000-"], &url).expect("curl");

    assert_eq!((miss.version.as_str(), miss.status), ("HTTP/2", 200));
    assert!(miss.body == seg && hit.body == seg, "{}", edge.logs());
    assert_eq!(range.status, 206);
    assert!(range.body == seg[300_000..]);
    assert_eq!(nginx.answered_once_logged(200, "seg_3.ts", 1), 1);
}

/// A player that asks for a sealed object and reads nothing until the edge
/// has written the whole response into the socket and dropped the object
/// (expired: its file closed and unmapped), then reads it: the bytes queued in
/// the socket are the kernel's, and arrive unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_dropped_while_still_queued_in_the_socket_arrives_whole() {
    let files = Files::new();
    let Some(nginx) = nginx(&files) else { return };
    let config = EdgeConfig::new()
        .route("/hls/", nginx.addr())
        .cache("segment_ttl", "1s")
        .cache("stale_if_error", "0s");
    let edge = TestEdge::start_config(&config).await;
    let mid = files.bytes("mid.ts");
    assert!(edge.get("/hls/mid.ts").await.body == mid, "stored");
    let before = edge.metrics().await;
    assert_eq!(
        value(&before, "hls_edge_sealed_bodies", &[]),
        1.0,
        "{before}"
    );

    // room for the whole response in the player's socket
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(400_000).unwrap();
    let mut slow = socket.connect(edge.addr()).await.unwrap();
    slow.write_all(b"GET /hls/mid.ts HTTP/1.1\r\nHost: edge\r\n\r\n")
        .await
        .unwrap();
    let hit = [("class", "segment"), ("cache", "hit")];
    // counted once the response is written whole
    let written = scrape_until(&edge, &before, "hls_edge_requests_total", &hit, 1.0).await;
    let sent = sendfile_bytes(&written) - sendfile_bytes(&before);
    assert!(
        sent >= (MID - 16 * 1024) as f64,
        "{sent} bytes from the sealed file"
    );
    // expired after 1 s; another object's lookups run the store's upkeep
    let deadline = Deadline::new("the sealed body dropped", Duration::from_secs(15));
    loop {
        let metrics = edge.metrics().await;
        if value(&metrics, "hls_edge_sealed_bodies", &[]) == 0.0 {
            break;
        }
        let _ = edge.get("/hls/small.ts").await;
        deadline
            .tick(Duration::from_millis(100), || metrics.clone())
            .await;
    }

    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = vec![0u8; 65536];
        loop {
            if let Some(end) = find(&got, b"\r\n\r\n") {
                if got.len() >= end + 4 + MID {
                    break;
                }
            }
            let n = slow.read(&mut buf).await.unwrap();
            assert!(n > 0, "the edge closed before the body's end");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the response arrives within 10 s");
    let end = find(&got, b"\r\n\r\n").expect("a response head") + 4;
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert_eq!(got.len() - end, MID);
    assert!(
        got[end..] == mid[..],
        "the dropped object's bytes, unchanged"
    );

    // and the next request for it is a fresh fetch
    let refetched = edge.get("/hls/mid.ts").await;
    assert!(refetched.complete && refetched.body == mid);
    assert_eq!(
        nginx.answered_once_logged(200, "mid.ts", 2),
        2,
        "fetched again once expired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_sendfile_off_bodies_stay_in_ordinary_memory() {
    let files = Files::new();
    let Some(nginx) = nginx(&files) else { return };
    let config = EdgeConfig::new()
        .route("/hls/", nginx.addr())
        .cache("sendfile", "false");
    let edge = TestEdge::start_config(&config).await;
    let seg = files.bytes("seg_2.ts");

    for _ in 0..2 {
        let r = edge.get("/hls/seg_2.ts").await;
        assert!(r.complete && r.body == seg);
    }
    let metrics = edge.metrics().await;
    assert_eq!(sendfile_bytes(&metrics), 0.0, "{metrics}");
    assert_eq!(value(&metrics, "hls_edge_sealed_bodies", &[]), 0.0);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
