//! LL-HLS delivery by the edge (issue 14, rfc8216bis appendix B.1), with the packager in
//! its own process as the origin and a recording hop in between that keeps every request
//! target the origin received: identical blocking requests and requests for a hinted part
//! reach the origin once, hinted-part waiters get their first bytes together, and hls.js in
//! low-latency mode on an entry token plays a minute with the session token on every URI
//! of the LL playlist and one origin request per part.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::fault_proxy::FaultProxy;
use common::tokens::{entry_token, KEY};
use common::*;
use hls_edge::hls::playlist::{MediaPlaylist, Playlist};

const TOKENS: &str = "{keys: [{env: TEST_TOKEN_KEY}], session_ttl: 1h}";

/// The origin (an origin-only hls-edge running the LL packager on the demo), the hop
/// recording what reaches it, and an edge in front.
struct Rig {
    _origin: TestEdge,
    hop: FaultProxy,
    edge: TestEdge,
}

async fn rig(tokens: bool) -> Rig {
    let packager = free_addr();
    let origin_yaml = format!(
        "packager:\n  listen: {packager}\n  low_latency: true\n  part_target: 500ms\n  \
         window: 15\n  streams:\n    - name: demo\n      loop:\n        \
         - {{ rendition: 360p, file: conf/demo/360p.ts }}\n        \
         - {{ rendition: 180p, file: conf/demo/180p.ts }}\n"
    );
    let origin = TestEdge::start_config(&EdgeConfig::new().extra_yaml(&origin_yaml)).await;
    let deadline = Deadline::new("the packager listening", Duration::from_secs(10));
    while tokio::net::TcpStream::connect(packager).await.is_err() {
        deadline.tick(Duration::from_millis(20), String::new).await;
    }
    let hop = FaultProxy::start(packager);
    let mut route = RouteConfig::new("/hls/").origin(hop.addr());
    if tokens {
        route = route.option("tokens", TOKENS);
    }
    // a test client opens 200 connections at once from one address
    let config = EdgeConfig::new()
        .route_config(route)
        .env("TEST_TOKEN_KEY", KEY)
        .extra_yaml("connections:\n  max_per_client: 1024\n");
    let edge = TestEdge::start_config(&config).await;
    Rig {
        _origin: origin,
        hop,
        edge,
    }
}

fn media(r: &Response) -> MediaPlaylist {
    assert_eq!(r.status, 200, "{}", r.text());
    match Playlist::parse(&r.body) {
        Ok(Playlist::Media(m)) => m,
        other => panic!("not a media playlist: {other:?}\n{}", r.text()),
    }
}

/// The 360p playlist's path (and query), once it lists a full window.
async fn variant(edge: &TestEdge, query: &str) -> String {
    let deadline = Deadline::new("the LL demo through the edge", Duration::from_secs(20));
    loop {
        let master = edge.get(&format!("/hls/demo/master.m3u8{query}")).await;
        if master.status == 200 {
            let text = master.text();
            let line = text
                .lines()
                .find(|l| l.contains("/360p/index.m3u8"))
                .expect("360p");
            let path = format!("/hls/demo/{line}");
            if media(&edge.get(&path).await).segments.len() >= 10 {
                return path;
            }
        }
        deadline
            .tick(Duration::from_millis(100), || {
                format!("{} {}\n{}", master.status, master.text(), edge.logs())
            })
            .await;
    }
}

/// One GET: the instant its first body byte arrived, and its body.
async fn first_byte(addr: SocketAddr, target: String) -> (Instant, Vec<u8>) {
    let got = timed_get(addr, &target).await;
    assert_eq!(got.status, 200, "{target}");
    (got.first_byte, got.body)
}

/// The blocking reload of `path` that waits for the part after the last `playlist` lists.
fn next_part_reload(path: &str, playlist: &MediaPlaylist) -> String {
    let last = playlist.last_part().expect("parts");
    format!("{path}?_HLS_msn={}&_HLS_part={}", last.msn, last.part + 1)
}

fn origin_requests(hop: &FaultProxy, target: &str) -> usize {
    hop.targets()
        .iter()
        .filter(|t| t.as_str() == target)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_blocking_and_hinted_part_requests_reach_the_origin_once() {
    let rig = rig(false).await;
    let (hop, edge) = (&rig.hop, &rig.edge);
    let path = variant(edge, "").await;
    // wait for a part to be published, so the next one is hinted for a whole part target
    // (500 ms) while the viewers below arrive: on a busy machine, a hint taken from an
    // older playlist may be listed before they are
    let listed = media(&edge.get(&path).await);
    let playlist = media(&edge.get(&next_part_reload(&path, &listed)).await);
    let hint = &playlist.preload_hints.first().expect("a preload hint").uri;
    let dir = &path[..path.rfind('/').expect("a dir") + 1];
    let part = format!("{dir}{hint}");
    // the blocking request that waits for the hinted part to be listed
    let blocking = next_part_reload(&path, &playlist);
    let addr = edge.addr();
    let parts: Vec<_> = (0..100)
        .map(|_| tokio::spawn(first_byte(addr, part.clone())))
        .collect();
    let reloads: Vec<_> = (0..100)
        .map(|_| tokio::spawn(first_byte(addr, blocking.clone())))
        .collect();
    let mut bodies = Vec::new();
    for reload in reloads {
        bodies.push(reload.await.expect("task").1);
    }
    let distinct: std::collections::BTreeSet<&Vec<u8>> = bodies.iter().collect();
    let tails: Vec<String> = distinct
        .iter()
        .map(|b| {
            String::from_utf8_lossy(b)
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    assert_eq!(distinct.len(), 1, "one answer for all: {tails:#?}");
    let mut firsts = Vec::new();
    let mut part_bodies = Vec::new();
    for p in parts {
        let (at, body) = p.await.expect("task");
        firsts.push(at);
        part_bodies.push(body);
    }
    assert!(part_bodies.windows(2).all(|w| w[0] == w[1]) && !part_bodies[0].is_empty());
    assert_eq!(origin_requests(hop, &blocking), 1, "{:?}", hop.targets());
    assert_eq!(origin_requests(hop, &part), 1, "{:?}", hop.targets());
    // every viewer's first byte within 50 ms of the origin's answer reaching the edge
    let origin_at = hop.answered_at(&part).expect("the origin answered");
    let behind: Vec<Duration> = firsts
        .iter()
        .map(|f| f.saturating_duration_since(origin_at))
        .collect();
    let worst = *behind.iter().max().expect("100");
    eprintln!("hinted part: 100 viewers' first bytes at most {worst:?} after the origin's answer");
    // the goal is 50 ms (release build: 9 ms measured); an unoptimised test build on a
    // busy 2-core CI machine gets far less time: there the bound only shows the part was
    // not waited for (tests/coalescing_streams.rs proves bytes flow as they arrive)
    let bound = Duration::from_millis(if cfg!(debug_assertions) { 500 } else { 50 });
    assert!(worst <= bound, "{behind:?}");
    let metrics = edge.metrics().await;
    let hinted = common::metrics::value(&metrics, "hls_edge_preload_hint_requests_total", &[]);
    let held = common::metrics::value(&metrics, "hls_edge_blocking_requests_total", &[]);
    // a request that arrives after the answer to the blocking reloads listed the part
    // is a plain part request by then
    assert!(
        hinted >= 1.0 && held >= 100.0,
        "hinted {hinted}, blocking {held}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ll_session_on_tokens_plays_a_minute_under_two_seconds_with_one_origin_request_per_part()
{
    if !have_hlsjs() {
        return;
    }
    let rig = rig(true).await;
    let (hop, edge) = (&rig.hop, &rig.edge);
    let token = entry_token("/hls/demo/*", "ll-viewer");
    let query = format!("?hdnts={token}");
    let path = variant(edge, &query).await;
    // every URI the LL playlist carries has the session token (the variant's own URI,
    // from the master, carries it already)
    assert!(path.contains("hdntl="), "{path}");
    let playlist = edge.get(&path).await;
    let text = playlist.text();
    let uris = uris_in(&text);
    let tagged: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("#EXT-X-PART:")
                || l.starts_with("#EXT-X-PRELOAD-HINT")
                || l.starts_with("#EXT-X-RENDITION-REPORT")
        })
        .collect();
    assert!(!tagged.is_empty(), "{text}");
    for line in tagged {
        assert!(line.contains("hdntl="), "no session token: {line}");
    }
    assert!(uris.iter().all(|u| u.contains("hdntl=")), "{text}");
    assert_eq!(playlist.header("cache-control"), Some("private, no-cache"));

    let url = edge.url(&format!("/hls/demo/master.m3u8{query}"));
    let config = serde_json::json!({ "lowLatencyMode": true, "maxLiveSyncPlaybackRate": 1.5 });
    let opts = PlayOptions::seconds(60).config(config);
    let report = tokio::task::spawn_blocking(move || hlsjs_play(&url, &opts))
        .await
        .expect("the player thread joins")
        .unwrap_or_else(|e| panic!("{e}\n{}", rig.edge.logs()));
    eprintln!(
        "hls.js lowLatencyMode on tokens through the edge: latency median {:?} s (max {:?}), {} parts, {} blocking reloads, longest stall {} ms",
        report.latency.median_s,
        report.latency.max_s,
        report.counts.parts,
        report.counts.blocking_reloads,
        report.longest_stall_ms(),
    );
    assert!(
        report.started && report.fatal_errors().is_empty(),
        "{report}"
    );
    assert!(report.longest_stall_ms() <= 1000, "{report}");
    assert!(report.played_seconds >= 55.0, "{report}");
    assert!(report.counts.parts >= 100, "{report}");
    let median = report.latency.median_s.expect("latency sampled");
    assert!(median < 2.0, "median latency {median} s\n{report}");
    // the origin saw each part once, and never a token
    let mut per_part: HashMap<String, usize> = HashMap::new();
    for target in hop.targets() {
        assert!(
            !target.contains("hdnt"),
            "a token reached the origin: {target}"
        );
        if target.contains("/part_") {
            *per_part.entry(target).or_default() += 1;
        }
    }
    assert!(per_part.len() >= 100, "{} parts fetched", per_part.len());
    let repeated: Vec<_> = per_part.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "parts fetched more than once: {repeated:?}"
    );
}
