//! Edges in front of edges (design section 5, issue 5): an edge -> shield ->
//! origin chain, CDN-Loop refusals, peer authentication between tiers on a
//! token route, and a cluster of three siblings sharing one origin fetch per
//! segment. Every edge is the real binary on its own loopback ports.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use hls_edge::auth::placement::query_value;
use hls_edge::auth::{mint_acl_token, PeerSecret, TokenConfig, TokenFields, TokenKey};

const SEGMENT: &str = "/hls/live/seg_1.ts";
/// The secret the tiers share (`edge.peer_secret_env: TEST_PEER_SECRET`).
const SECRET: &str = "tiers-share-this-secret-0123456789";
const TOKEN_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const TOKENS: &str = "{keys: [{env: TEST_TOKEN_KEY}], session_ttl: 1h}";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// An edge `id` of these tests' deployment (see `tier_config`).
fn tier(id: &str, origins: &[(String, &str)], group: &str, route: &str) -> EdgeConfig {
    tier_config(id, SECRET, origins, group, route)
}

/// Starts `config` on the ports it names: other edges were configured with
/// them, so a start on fresh ports (after a collision) would be useless.
async fn start_on_its_ports(config: &EdgeConfig) -> TestEdge {
    let edge = TestEdge::start_config(config).await;
    assert_eq!(
        edge.addr(),
        config.addr(),
        "port taken meanwhile; the other edges point at the old one"
    );
    edge
}

fn url_of(config: &EdgeConfig) -> String {
    format!("http://{}", config.addr())
}

fn names(r: &Response) -> Vec<String> {
    cache_status(r).into_iter().map(|e| e.cache).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_segment_fetched_through_two_edges_and_a_shield_reaches_the_origin_once() {
    let origin = CountingOrigin::start();
    origin.set(SEGMENT, Reply::segment(100_000));
    let shield =
        TestEdge::start_config(&tier("shield-1", &[(origin.url(), "priority: 0")], "", "")).await;
    let to_shield = [(format!("http://{}", shield.addr()), "peer: true")];
    let edge1 = TestEdge::start_config(&tier("edge-1", &to_shield, "", "")).await;
    let edge2 = TestEdge::start_config(&tier("edge-2", &to_shield, "", "")).await;

    let first = edge1.get(SEGMENT).await;
    let again = edge1.get(SEGMENT).await;
    let other = edge2.get(SEGMENT).await;

    for r in [&first, &again, &other] {
        assert_eq!((r.status, r.complete), (200, true));
        assert_eq!(r.body, pattern_body(100_000, 0));
    }
    assert_eq!(
        origin.hits(SEGMENT),
        1,
        "one origin fetch for the deployment"
    );
    // One Cache-Status entry per hop, the one nearest the origin first.
    let status = cache_status(&first);
    assert_eq!(
        names(&first),
        ["shield-1", "edge-1"],
        "{:?}",
        first.header("cache-status")
    );
    assert!(status.iter().all(|e| !e.hit && e.stored), "{status:?}");
    let status = cache_status(&again);
    assert_eq!(names(&again), ["shield-1", "edge-1"]);
    assert!(status[1].hit, "{:?}", again.header("cache-status"));
    let status = cache_status(&other);
    assert_eq!(names(&other), ["shield-1", "edge-2"]);
    assert!(status[0].hit && status[1].stored, "{status:?}");
    // The origin sees both hops in CDN-Loop and no peer signature.
    let seen = origin.last_request(SEGMENT).expect("fetched");
    assert_eq!(seen.header("cdn-loop"), Some("edge-1, shield-1"));
    assert_eq!(seen.header("x-hls-edge-peer"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edge_that_is_its_own_origin_answers_508_at_once() {
    let config = EdgeConfig::new().id("loop-1");
    let config = tier("loop-1", &[(url_of(&config), "peer: true")], "", "")
        .listen_port(config.addr().port())
        .admin_port(config.admin_addr().port());
    let edge = start_on_its_ports(&config).await;

    for _ in 0..3 {
        let started = Instant::now();
        let r = edge.get(SEGMENT).await;
        let took = started.elapsed();
        eprintln!("self loop refused in {took:?}");
        assert_eq!(r.status, 508, "{:?}", r.headers);
        assert!(took < Duration::from_secs(1), "{took:?}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_edges_pointing_at_each_other_answer_508_at_once() {
    let (a, b) = (EdgeConfig::new(), EdgeConfig::new());
    let (a_url, b_url) = (url_of(&a), url_of(&b));
    let ports = |c: EdgeConfig, like: &EdgeConfig| {
        c.listen_port(like.addr().port())
            .admin_port(like.admin_addr().port())
    };
    let a = ports(tier("loop-a", &[(b_url, "peer: true")], "", ""), &a);
    let b = ports(tier("loop-b", &[(a_url, "peer: true")], "", ""), &b);
    let edge_a = start_on_its_ports(&a).await;
    let edge_b = start_on_its_ports(&b).await;

    for edge in [&edge_a, &edge_b, &edge_a] {
        let started = Instant::now();
        let r = edge.get(SEGMENT).await;
        let took = started.elapsed();
        eprintln!("A->B->A loop refused in {took:?}");
        assert_eq!(r.status, 508, "{:?}", r.headers);
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
}

/// An entry token for `/hls/*` as an operator's backend signs it.
fn player_token() -> String {
    let key = TokenKey::from_hex(TOKEN_KEY).expect("hex key");
    let fields = TokenFields {
        start: None,
        exp: now() + 60,
        acl: vec!["/hls/*".into()],
        id: Some("viewer-1".into()),
        data: None,
        ip: None,
    };
    let token = mint_acl_token(&key, &TokenConfig::default(), fields).expect("mints");
    query_value(&token).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_route_at_the_shield_admits_its_edges_and_refuses_everyone_else() {
    let origin = CountingOrigin::start();
    origin.set(SEGMENT, Reply::segment(10_000));
    let tokens = format!("    tokens: {TOKENS}\n");
    let shield_config = tier("shield-1", &[(origin.url(), "priority: 0")], "", &tokens)
        .env("TEST_TOKEN_KEY", TOKEN_KEY);
    let shield = TestEdge::start_config(&shield_config).await;
    let to_shield = [(format!("http://{}", shield.addr()), "peer: true")];
    let edge_config = tier("edge-1", &to_shield, "", &tokens).env("TEST_TOKEN_KEY", TOKEN_KEY);
    let edge = TestEdge::start_config(&edge_config).await;
    let with_token = format!("{SEGMENT}?hdnts={}", player_token());

    // The player, through the edge: tokenless refused there, with a token served.
    let no_token = edge.get(SEGMENT).await;
    assert_eq!(no_token.status, 401);
    assert_eq!(origin.total(), 0);
    let played = edge.get(&with_token).await;

    assert_eq!(
        (played.status, played.complete),
        (200, true),
        "{:?}",
        played.headers
    );
    assert_eq!(names(&played), ["shield-1", "edge-1"]);
    let seen = origin
        .last_request(SEGMENT)
        .expect("fetched through the shield");
    assert_eq!(seen.path_and_query, SEGMENT, "no token reaches the origin");

    // Straight to the shield: tokenless 401, forged or foreign signatures 403.
    let direct = shield.get(SEGMENT).await;
    assert_eq!(direct.status, 401, "{:?}", direct.headers);
    assert_eq!(direct.header("x-token-error"), Some("missing"));
    let forged = format!("t={};sig={}", now(), "0".repeat(64));
    let foreign = PeerSecret::new("another-deployment-secret-xyz")
        .expect("long enough")
        .sign(SEGMENT, now());
    let other_path = PeerSecret::new(SECRET)
        .expect("long enough")
        .sign("/hls/live/seg_2.ts", now());
    let expired = PeerSecret::new(SECRET)
        .expect("long enough")
        .sign(SEGMENT, now() - 300);
    for bad in [forged.as_str(), &foreign, &other_path, &expired, "garbage"] {
        let r = shield.get_with(SEGMENT, &[("X-HLS-Edge-Peer", bad)]).await;
        assert_eq!(r.status, 403, "signature {bad}: {:?}", r.headers);
        assert_eq!(r.header("x-edge-refused"), Some("peer-auth"));
    }
    // A good signature is a peer's request: no player token needed.
    let signed = PeerSecret::new(SECRET)
        .expect("long enough")
        .sign(SEGMENT, now());
    let peer = shield
        .get_with(SEGMENT, &[("X-HLS-Edge-Peer", &signed)])
        .await;
    assert_eq!(peer.status, 200, "{:?}", peer.headers);
    assert_eq!(origin.hits(SEGMENT), 1, "the shield's copy served the peer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_siblings_fetch_each_segment_from_the_origin_once_and_survive_losing_one() {
    const SEGMENTS: usize = 30;
    let origin = CountingOrigin::start();
    origin.set_fallback(|req| match req.path.ends_with(".ts") {
        true => Reply::segment(20_000),
        false => Reply::status(404),
    });
    let configs = [EdgeConfig::new(), EdgeConfig::new(), EdgeConfig::new()];
    let peers: Vec<String> = configs.iter().map(url_of).collect();
    let peer_list = peers
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut edges = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let group = format!(
            "    siblings: {{peers: [{peer_list}], self: \"{}\"}}\n",
            peers[i]
        );
        let config = tier(
            &format!("sibling-{i}"),
            &[(origin.url(), "priority: 0")],
            &group,
            "",
        )
        .listen_port(c.addr().port())
        .admin_port(c.admin_addr().port());
        edges.push(start_on_its_ports(&config).await);
    }
    let addrs: Vec<_> = edges.iter().map(TestEdge::addr).collect();

    // 300 requests, 100 per edge; each segment is asked of every edge.
    for round in 0..10 {
        let tasks: Vec<_> = (0..SEGMENTS)
            .map(|n| {
                let addr = addrs[(n + round) % 3];
                tokio::spawn(async move {
                    let path = format!("/hls/live/s{n}.ts");
                    (path.clone(), http_get(addr, &path, &[]).await)
                })
            })
            .collect();
        for task in tasks {
            let (path, r) = task.await.expect("joins");
            let r = r.unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(
                (r.status, r.body.len()),
                (200, 20_000),
                "{path} round {round}"
            );
        }
    }

    assert_eq!(origin.total(), SEGMENTS, "30 origin fetches, not 90");
    for n in 0..SEGMENTS {
        assert_eq!(origin.hits(&format!("/hls/live/s{n}.ts")), 1, "s{n}");
    }

    // One sibling dies: what it owned is fetched by the others themselves.
    edges[2].kill();
    let survivors = [addrs[0], addrs[1]];
    let before = origin.total();
    let mut worst = Duration::ZERO;
    for prefix in ["s", "t"] {
        for n in 0..SEGMENTS {
            for addr in survivors {
                let path = format!("/hls/live/{prefix}{n}.ts");
                let started = Instant::now();
                let r = http_get(addr, &path, &[])
                    .await
                    .unwrap_or_else(|e| panic!("{path} via {addr}: {e}"));
                worst = worst.max(started.elapsed());
                assert_eq!(
                    (r.status, r.complete, r.body.len()),
                    (200, true, 20_000),
                    "{path} via {addr}"
                );
            }
        }
    }
    let new_fetches = origin.total() - before;
    eprintln!(
        "after losing a sibling: {new_fetches} origin fetches for {SEGMENTS} new segments asked of both survivors, slowest request {worst:?}"
    );
    assert!(
        (SEGMENTS..=2 * SEGMENTS).contains(&new_fetches),
        "{new_fetches} origin fetches"
    );
    assert!(
        worst < Duration::from_secs(2),
        "a dead sibling cost {worst:?}"
    );
}
