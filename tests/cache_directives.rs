//! The origin's caching directives through a real edge (RFC 9111, RFC 9213; design
//! section 3, issue 12): for each directive and each class of object, what is stored
//! (how many origin requests two GETs make), and what the player is told.

mod common;

use std::time::Duration;

use common::*;

/// The object classes, with a path and a body of their kind.
const CLASSES: &[(&str, &str)] = &[
    ("segment", "x.ts"),
    ("vod", "vod.m3u8"),
    ("master", "master.m3u8"),
    ("other", "data.json"),
];

/// This edge answered from its store.
fn hit(r: &Response) -> bool {
    cache_status_of(r, "edge-test").is_some_and(|e| e.hit)
}

fn body_of(class: &str) -> Reply {
    match class {
        "segment" => Reply::segment(2_000),
        "vod" => Reply::playlist(vod_playlist(4, 3)),
        "master" => Reply::playlist(multivariant_playlist(&[("low/index.m3u8", 500_000)])),
        _ => Reply::ok(&b"{\"a\":1}"[..], "application/json"),
    }
}

/// What two GETs should show: origin requests, and the player's Cache-Control.
#[derive(Debug, Clone, Copy)]
struct Expect {
    origin_requests: usize,
    cache_control: Option<&'static str>,
}

const fn stored(cache_control: Option<&'static str>) -> Expect {
    Expect {
        origin_requests: 1,
        cache_control,
    }
}

const fn not_stored(cache_control: Option<&'static str>) -> Expect {
    Expect {
        origin_requests: 2,
        cache_control,
    }
}

struct Case {
    name: &'static str,
    headers: &'static [(&'static str, &'static str)],
    request: &'static [(&'static str, &'static str)],
    /// segment, vod, master, other
    expect: [Expect; 4],
}

const MAX_AGE: &[(&str, &str)] = &[("cache-control", "max-age=60")];

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "none",
            headers: &[],
            request: &[],
            expect: [
                stored(Some("public, max-age=86400, immutable")),
                stored(Some("public, max-age=86400")),
                stored(Some("public, max-age=2")),
                not_stored(None),
            ],
        },
        Case {
            name: "no-store",
            headers: &[("cache-control", "no-store")],
            request: &[],
            expect: [
                not_stored(Some("no-store")),
                not_stored(Some("no-store")),
                not_stored(Some("no-store")),
                not_stored(Some("no-store")),
            ],
        },
        Case {
            name: "private",
            headers: &[("cache-control", "private, max-age=3600")],
            request: &[],
            expect: [not_stored(Some("private, max-age=3600")); 4],
        },
        Case {
            name: "max-age",
            headers: MAX_AGE,
            request: &[],
            expect: [
                stored(Some("public, max-age=60, immutable")),
                stored(Some("public, max-age=60")),
                stored(Some("public, max-age=60")),
                stored(Some("max-age=60")),
            ],
        },
        Case {
            name: "s-maxage",
            headers: &[("cache-control", "max-age=600, s-maxage=30")],
            request: &[],
            expect: [
                stored(Some("public, max-age=30, immutable")),
                stored(Some("public, max-age=30")),
                stored(Some("public, max-age=30")),
                stored(Some("max-age=600, s-maxage=30")),
            ],
        },
        Case {
            name: "vary-any",
            headers: &[("cache-control", "max-age=60"), ("vary", "*")],
            request: &[],
            expect: [
                not_stored(Some("public, max-age=60, immutable")),
                not_stored(Some("public, max-age=60")),
                not_stored(Some("public, max-age=60")),
                not_stored(Some("max-age=60")),
            ],
        },
        Case {
            name: "cdn-no-store",
            headers: &[
                ("cache-control", "max-age=60"),
                ("cdn-cache-control", "no-store"),
            ],
            request: &[],
            expect: [
                not_stored(Some("public, max-age=60, immutable")),
                not_stored(Some("public, max-age=60")),
                not_stored(Some("public, max-age=60")),
                not_stored(Some("max-age=60")),
            ],
        },
        Case {
            name: "cdn-longer",
            headers: &[
                ("cache-control", "no-cache"),
                ("cdn-cache-control", "max-age=60"),
            ],
            request: &[],
            expect: [
                stored(Some("no-cache")),
                stored(Some("no-cache")),
                stored(Some("no-cache")),
                stored(Some("no-cache")),
            ],
        },
        Case {
            name: "set-cookie",
            headers: &[
                ("cache-control", "max-age=60"),
                ("set-cookie", "session=abc"),
            ],
            request: &[],
            expect: [
                not_stored(Some("public, max-age=60, immutable")),
                not_stored(Some("public, max-age=60")),
                not_stored(Some("public, max-age=60")),
                not_stored(Some("max-age=60")),
            ],
        },
        Case {
            name: "authorization",
            headers: MAX_AGE,
            request: &[("authorization", "Bearer viewer-1")],
            expect: [
                not_stored(Some("public, max-age=60, immutable")),
                not_stored(Some("public, max-age=60")),
                not_stored(Some("public, max-age=60")),
                not_stored(Some("max-age=60")),
            ],
        },
        Case {
            name: "authorization-public",
            headers: &[("cache-control", "public, max-age=60")],
            request: &[("authorization", "Bearer viewer-1")],
            expect: [
                stored(Some("public, max-age=60, immutable")),
                stored(Some("public, max-age=60")),
                stored(Some("public, max-age=60")),
                stored(Some("public, max-age=60")),
            ],
        },
        Case {
            name: "expires",
            headers: &[
                ("date", "Wed, 01 Jan 2098 00:00:00 GMT"),
                ("expires", "Wed, 01 Jan 2098 01:00:00 GMT"),
            ],
            request: &[],
            expect: [
                stored(Some("public, max-age=3600, immutable")),
                stored(Some("public, max-age=3600")),
                stored(Some("public, max-age=3600")),
                stored(None),
            ],
        },
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn each_directive_on_each_class_is_obeyed() {
    let origin = CountingOrigin::start();
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    let mut failures = Vec::new();
    for case in cases() {
        for (i, (class, file)) in CLASSES.iter().enumerate() {
            let path = format!("/hls/{}/{file}", case.name);
            let mut reply = body_of(class);
            for (k, v) in case.headers {
                reply = reply.with_header(k, v);
            }
            origin.set(&path, reply);
            let first = edge.get_with(&path, case.request).await;
            let second = edge.get_with(&path, case.request).await;
            let want = case.expect[i];
            let seen = (origin.hits(&path), second.header("cache-control"));
            if first.status != 200
                || second.status != 200
                || !second.complete
                || first.body != second.body
            {
                failures.push(format!(
                    "{} {class}: {} / {}",
                    case.name, first.status, second.status
                ));
            }
            if seen != (want.origin_requests, want.cache_control) {
                failures.push(format!(
                    "{} {class}: origin requests and Cache-Control {seen:?}, want {want:?} (Cache-Status {:?})",
                    case.name,
                    second.header("cache-status")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_cache_is_stored_and_revalidated_before_every_use() {
    let origin = CountingOrigin::start();
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    let path = "/hls/a/x.ts";
    origin.set_fn(path, |req| {
        let revision = if req.header("if-none-match") == Some("\"v1\"") {
            "2"
        } else {
            "1"
        };
        let reply = match req.header("if-none-match") {
            Some("\"v1\"") => Reply::status(304),
            _ => Reply::segment(3_000),
        };
        reply
            .with_header("cache-control", "no-cache")
            .with_header("etag", "\"v1\"")
            .with_header("x-revision", revision)
    });
    let first = edge.get(path).await;
    let second = edge.get(path).await;
    let third = edge.get(path).await;
    assert_eq!(origin.hits(path), 3, "every use goes to the origin");
    let conditional = origin.last_request(path).expect("revalidated");
    assert_eq!(conditional.header("if-none-match"), Some("\"v1\""));
    for r in [&second, &third] {
        assert_eq!((r.status, r.complete), (200, true));
        assert_eq!(r.body, first.body, "the stored body, confirmed by a 304");
        assert_eq!(r.header("cache-control"), Some("no-cache"));
    }
    // RFC 9111 4.3.4: the 304's fields update the stored header
    assert_eq!(first.header("x-revision"), Some("1"));
    assert_eq!(second.header("x-revision"), Some("2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_304_updates_the_stored_header_fields_but_not_the_framing() {
    let origin = CountingOrigin::start();
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    let path = "/hls/a/vod.m3u8";
    let answers = std::sync::atomic::AtomicUsize::new(0);
    origin.set_fn(path, move |req| {
        let n = answers.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match (req.header("if-none-match"), n) {
            (Some("\"p1\""), 1) => Reply::status(304)
                .with_header("cache-control", "max-age=1")
                .with_header("x-policy", "updated"),
            (Some("\"p1\""), _) => Reply::status(304).with_header("cache-control", "max-age=1"),
            _ => Reply::playlist(vod_playlist(4, 3))
                .with_header("cache-control", "max-age=1")
                .with_header("etag", "\"p1\"")
                .with_header("x-policy", "original"),
        }
    });
    let first = edge.get(path).await;
    let wait = Duration::from_millis(2_100);
    tokio::time::sleep(wait).await; // past max-age=1: revalidated
    let second = edge.get(path).await;
    tokio::time::sleep(wait).await;
    let third = edge.get(path).await;
    assert_eq!(origin.hits(path), 3);
    assert_eq!(first.header("x-policy"), Some("original"));
    assert_eq!(second.header("x-policy"), Some("updated"));
    assert_eq!(
        third.header("x-policy"),
        Some("updated"),
        "kept by the store"
    );
    for r in [&second, &third] {
        assert_eq!(r.body, first.body);
        assert_eq!(
            r.header("content-length"),
            Some(first.body.len().to_string().as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vary_response_is_stored_per_variant() {
    let origin = CountingOrigin::start();
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    let path = "/hls/a/data.json";
    origin.set_fn(path, |req| {
        let gzip = req
            .header("accept-encoding")
            .is_some_and(|v| v.contains("gzip"));
        let body: &'static [u8] = if gzip { b"GZIPPED" } else { b"plain" };
        let reply = Reply::ok(body, "application/json")
            .with_header("cache-control", "max-age=60")
            .with_header("vary", "Accept-Encoding");
        if gzip {
            reply.with_header("content-encoding", "gzip")
        } else {
            reply
        }
    });
    let gz = [("accept-encoding", "gzip")];
    let zipped = edge.get_with(path, &gz).await;
    let plain = edge.get(path).await;
    let zipped_again = edge.get_with(path, &gz).await;
    let plain_again = edge.get(path).await;
    assert_eq!(zipped.body, b"GZIPPED");
    assert_eq!(
        plain.body, b"plain",
        "a plain client never gets the gzip body"
    );
    assert_eq!(zipped_again.body, b"GZIPPED");
    assert_eq!(plain_again.body, b"plain");
    assert_eq!(origin.hits(path), 2, "one fill per variant");
    assert!(hit(&plain_again) && hit(&zipped_again));
}

#[tokio::test(flavor = "multi_thread")]
async fn cmcd_never_splits_the_cache_nor_reaches_the_origin() {
    let origin = CountingOrigin::start();
    origin.set("/hls/a/seg_1.ts", Reply::segment(4_000));
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    // hls.js with cmcd enabled: different values on every request
    let a = edge
        .get("/hls/a/seg_1.ts?CMCD=bl%3D21300%2Cbr%3D800%2Cd%3D4004%2Cot%3Dv%2Csid%3D%226e2fb5%22")
        .await;
    let b = edge
        .get("/hls/a/seg_1.ts?CMCD=bl%3D300%2Cbr%3D3200%2Cd%3D4004%2Cot%3Dv%2Csid%3D%22ab12%22")
        .await;
    assert_eq!((a.status, b.status), (200, 200));
    assert!(hit(&b), "the second viewer is a hit");
    assert_eq!(origin.hits("/hls/a/seg_1.ts"), 1);
    let seen = origin.last_request("/hls/a/seg_1.ts").expect("fetched");
    assert_eq!(
        seen.query(),
        None,
        "no CMCD at the origin: {}",
        seen.path_and_query
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_playlist_miss_is_told_its_class_cache_control() {
    let origin = CountingOrigin::start();
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    let master = multivariant_playlist(&[("low/index.m3u8", 500_000)]);
    // an origin that says what it wants: the miss says it too
    origin.set(
        "/hls/a/master.m3u8",
        Reply::playlist(master.clone()).with_header("cache-control", "max-age=2"),
    );
    let first = edge.get("/hls/a/master.m3u8").await;
    assert_eq!(first.header("cache-control"), Some("public, max-age=2"));
    // an origin that says nothing: once the edge has seen the playlist, its next miss
    // is told the master's lifetime before the body arrives
    origin.set("/hls/b/master.m3u8", Reply::playlist(master));
    let _ = edge.get("/hls/b/master.m3u8").await;
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let refetched = edge.get("/hls/b/master.m3u8").await;
    assert_eq!(origin.hits("/hls/b/master.m3u8"), 2);
    assert_eq!(refetched.header("cache-control"), Some("public, max-age=2"));
}

const SECRET: &str = "a-secret-the-tiers-share-of-32-bytes!!";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chain_reports_the_true_age_and_neither_tier_stores_a_private_answer() {
    let origin = CountingOrigin::start();
    origin.set(
        "/hls/a/x.ts",
        Reply::segment(5_000).with_header("cache-control", "max-age=100"),
    );
    origin.set(
        "/hls/a/p.ts",
        Reply::segment(5_000).with_header("cache-control", "private, max-age=100"),
    );
    let shield = TestEdge::start_config(&tier_config(
        "shield-1",
        SECRET,
        &[(origin.url(), "priority: 0")],
        "",
        "",
    ))
    .await;
    let to_shield = [(format!("http://{}", shield.addr()), "peer: true")];
    let edge1 = TestEdge::start_config(&tier_config("edge-1", SECRET, &to_shield, "", "")).await;
    let edge2 = TestEdge::start_config(&tier_config("edge-2", SECRET, &to_shield, "", "")).await;

    let first = edge1.get("/hls/a/x.ts").await;
    assert_eq!(first.status, 200);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    // edge-2's miss is a shield hit two seconds old: it says so, and keeps counting
    let via_shield = edge2.get("/hls/a/x.ts").await;
    let age = |r: &Response| r.header("age").and_then(|a| a.parse::<u64>().ok());
    assert!(age(&via_shield) >= Some(2), "{:?}", via_shield.headers);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let hit = edge2.get("/hls/a/x.ts").await;
    assert!(
        age(&hit) >= Some(3),
        "shield's age + edge's own: {:?}",
        hit.header("age")
    );
    let mine = cache_status_of(&hit, "edge-2").expect("edge-2 entry");
    assert!(mine.hit, "{:?}", hit.header("cache-status"));
    // its freshness counts the upstream age too: at most 100 - 3 left
    assert!(
        mine.ttl.is_some_and(|t| t <= 97),
        "{:?}",
        hit.header("cache-status")
    );
    assert_eq!(origin.hits("/hls/a/x.ts"), 1);

    for _ in 0..2 {
        let r = edge1.get("/hls/a/p.ts").await;
        assert_eq!(r.header("cache-control"), Some("private, max-age=100"));
    }
    assert_eq!(origin.hits("/hls/a/p.ts"), 2, "stored by neither tier");
}
