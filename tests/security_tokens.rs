//! Security: token scope and token secrecy through a real edge.
//!
//! A session token never grants more than the entry token that minted it,
//! beyond the playlist's own children (docs/tokens.md, "What a session may
//! reach"): a URL token for one playlist, or an ACL of exactly one file,
//! gives its children a token each, never a directory or `/hls/*`. And no log
//! line, at any level, carries a usable token, cookie or `Authorization`
//! value.

mod common;

use std::time::Duration;

use common::tokens::{KEY, TOKENS};
use common::*;

fn stream_origin() -> CountingOrigin {
    let origin = CountingOrigin::start();
    origin.set(
        "/hls/preview.m3u8",
        Reply::playlist(multivariant_playlist(&[(
            "streamA/low/index.m3u8",
            400_000,
        )])),
    );
    for stream in ["streamA", "streamB"] {
        origin.set(
            &format!("/hls/{stream}/master.m3u8"),
            Reply::playlist(multivariant_playlist(&[
                ("low/index.m3u8", 400_000),
                ("high/index.m3u8", 1_200_000),
            ])),
        );
        for variant in ["low", "high", "secret"] {
            origin.set_live_playlist(
                &format!("/hls/{stream}/{variant}/index.m3u8"),
                LivePlaylist::new(2, 3, 10),
            );
        }
    }
    origin.set_fallback(|req| {
        if req.path.ends_with(".ts") {
            Reply::segment(1_000)
        } else {
            Reply::status(404)
        }
    });
    origin
}

async fn token_edge(origin: &CountingOrigin) -> TestEdge {
    let route = RouteConfig::new("/hls/")
        .origin(origin.addr())
        .option("tokens", TOKENS);
    TestEdge::start_config(
        &EdgeConfig::new()
            .route_config(route)
            .env("TEST_TOKEN_KEY", KEY),
    )
    .await
}

/// `uri` of a playlist at `base` (a path) as the path and query a player
/// requests (relative URIs without dot segments only: what these origins list).
fn resolve(base: &str, uri: &str) -> String {
    if uri.starts_with('/') {
        return uri.to_string();
    }
    let dir = &base[..=base.rfind('/').expect("absolute base")];
    format!("{dir}{uri}")
}

/// The session token (`hdntl=`) a rewritten playlist URI carries.
fn session_of(uri: &str) -> String {
    let query = uri.split_once('?').map(|(_, q)| q).unwrap_or("");
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("hdntl="))
        .unwrap_or_else(|| panic!("no session token in {uri}"))
        .to_string()
}

/// The playlist at `path_and_query` (200), with its URIs as players request them.
async fn playlist(edge: &TestEdge, path_and_query: &str) -> Vec<String> {
    let r = edge.get(path_and_query).await;
    assert_eq!(r.status, 200, "{path_and_query}: {}", r.text());
    let base = path_and_query.split('?').next().unwrap_or("");
    uris_in(&r.text())
        .iter()
        .map(|u| resolve(base, u))
        .collect()
}

async fn status_with(edge: &TestEdge, path: &str, session: &str) -> u16 {
    edge.get(&format!("{path}?hdntl={session}")).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_url_token_for_one_playlist_reaches_its_children_only() {
    let origin = stream_origin();
    let edge = token_edge(&origin).await;
    let entry = url_token("/hls/preview.m3u8", "viewer-1");
    let children = playlist(&edge, &format!("/hls/preview.m3u8?hdnts={entry}")).await;
    assert_eq!(children.len(), 1, "{children:?}");
    let variant = &children[0];
    assert!(
        variant.starts_with("/hls/streamA/low/index.m3u8?"),
        "{variant}"
    );
    let session = session_of(variant);
    assert_eq!(
        token_field(&session, "acl").as_deref(),
        Some("/hls/streamA/low/index.m3u8"),
        "the session must name the child, not a directory"
    );
    assert_eq!(token_field(&session, "id").as_deref(), Some("viewer-1"));
    // before: `acl=/hls/*`, which opened every stream for hours
    for other in [
        "/hls/streamB/master.m3u8",
        "/hls/streamB/low/index.m3u8",
        "/hls/streamA/master.m3u8",
        "/hls/streamA/high/index.m3u8",
        "/hls/streamA/low/seg_10.ts",
    ] {
        assert_eq!(status_with(&edge, other, &session).await, 403, "{other}");
    }
    // the child plays: its segments come with a token each, for that one
    let segments = playlist(&edge, variant).await;
    assert_eq!(segments.len(), 3, "{segments:?}");
    let first = &segments[0];
    let first_token = session_of(first);
    assert_eq!(
        token_field(&first_token, "acl").as_deref(),
        Some(first.split('?').next().unwrap_or("")),
    );
    assert_eq!(
        token_field(&first_token, "exp"),
        token_field(&session, "exp"),
        "a derived token outlives nothing it came from"
    );
    assert_eq!(edge.get(first).await.status, 200);
    let second_path = segments[1].split('?').next().unwrap_or("");
    assert_eq!(status_with(&edge, second_path, &first_token).await, 403);
    assert_eq!(
        status_with(&edge, "/hls/streamB/low/seg_10.ts", &first_token).await,
        403
    );
    for stream_b in ["/hls/streamB/master.m3u8", "/hls/streamB/low/index.m3u8"] {
        assert_eq!(origin.hits(stream_b), 0, "{stream_b} reached the origin");
    }
    assert_eq!(origin.hits("/hls/streamB/low/seg_10.ts"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_acl_of_one_playlist_does_not_widen_to_its_directory() {
    let origin = stream_origin();
    let edge = token_edge(&origin).await;
    let entry = entry_token("/hls/streamA/master.m3u8", "viewer-2");
    let children = playlist(&edge, &format!("/hls/streamA/master.m3u8?hdnts={entry}")).await;
    assert_eq!(children.len(), 2, "{children:?}");
    let low = session_of(&children[0]);
    let high = session_of(&children[1]);
    assert_eq!(
        token_field(&low, "acl").as_deref(),
        Some("/hls/streamA/low/index.m3u8")
    );
    assert_eq!(
        token_field(&high, "acl").as_deref(),
        Some("/hls/streamA/high/index.m3u8")
    );
    for (path, token) in [
        ("/hls/streamA/secret/index.m3u8", &low),
        ("/hls/streamA/high/index.m3u8", &low),
        ("/hls/streamA/low/index.m3u8", &high),
        ("/hls/streamB/master.m3u8", &low),
    ] {
        assert_eq!(status_with(&edge, path, token).await, 403, "{path}");
    }
    assert_eq!(origin.hits("/hls/streamA/secret/index.m3u8"), 0);
    assert_eq!(edge.get(&children[1]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_directory_grant_gives_the_stream_directory_and_no_more() {
    let origin = stream_origin();
    let edge = token_edge(&origin).await;
    for (acl, want) in [
        ("/hls/streamA/*", "/hls/streamA/*"),
        // narrowed to the stream, never left at the entry's breadth
        ("/hls/*", "/hls/streamA/*"),
    ] {
        let entry = entry_token(acl, "viewer-3");
        let children = playlist(&edge, &format!("/hls/streamA/master.m3u8?hdnts={entry}")).await;
        let session = session_of(&children[0]);
        assert_eq!(token_field(&session, "acl").as_deref(), Some(want), "{acl}");
        assert_eq!(
            status_with(&edge, "/hls/streamB/master.m3u8", &session).await,
            403
        );
        assert_eq!(
            status_with(&edge, "/hls/streamA/high/seg_10.ts", &session).await,
            200
        );
    }
    assert_eq!(origin.hits("/hls/streamB/master.m3u8"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_address_bound_entry_token_gives_bound_sessions() {
    let origin = stream_origin();
    let edge = token_edge(&origin).await;
    let entry = bound_entry_token("/hls/streamA/*", "127.0.0.1", "viewer-4");
    let children = playlist(&edge, &format!("/hls/streamA/master.m3u8?hdnts={entry}")).await;
    for child in &children {
        let session = session_of(child);
        assert_eq!(
            token_field(&session, "ip").as_deref(),
            Some("127.0.0.1"),
            "{child}: the binding was dropped"
        );
    }
}

/// Every 64-hex-digit run in `text` (HMAC-SHA256 values, peer signatures).
fn hex_runs(text: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            current.push(c);
        } else {
            if current.len() >= 40 {
                runs.push(current.to_ascii_lowercase());
            }
            current.clear();
        }
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_log_line_at_any_level_carries_a_usable_secret() {
    secrets_stay_out_of_logs("text").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_json_log_line_carries_a_usable_secret() {
    secrets_stay_out_of_logs("json").await;
}

/// Sends every kind of request that gets a token or a credential logged,
/// with the log at `trace` in `format`, and looks for any of them.
async fn secrets_stay_out_of_logs(format: &str) {
    let live = stream_origin();
    live.set(
        "/live/streamA/master.m3u8",
        Reply::playlist(multivariant_playlist(&[("low/index.m3u8", 400_000)])),
    );
    let dead = free_addr();
    let config = EdgeConfig::new()
        .route_config(
            RouteConfig::new("/hls/")
                .origin(dead)
                .option("tokens", TOKENS),
        )
        .route_config(
            RouteConfig::new("/live/")
                .origin(live.addr())
                .option("tokens", TOKENS),
        )
        .env("TEST_TOKEN_KEY", KEY)
        .env("RUST_LOG", "trace")
        .extra_yaml(&format!(
            "log:\n  level: trace\n  access_log: true\n  format: {format}\n"
        ));
    let edge = TestEdge::start_config(&config).await;
    let token = entry_token("/hls/a/*", "viewer-5");
    let other = entry_token("/hls/b/*", "viewer-6");
    let mut secrets: Vec<String> = hex_runs(&token);
    secrets.extend(hex_runs(&other));
    let bearer = "opaque-credential-4f1c9e";
    secrets.push(bearer.to_string());

    let r = edge.get(&format!("/hls/a/x.ts?hdnts={token}")).await;
    assert_eq!(r.status, 502, "a dead origin: Fail to proxy is logged");
    let cookie = format!("site=c00k1e-5ecret; hdnts={token}");
    secrets.push("c00k1e-5ecret".into());
    let r = edge.get_with("/hls/a/y.ts", &[("Cookie", &cookie)]).await;
    assert_eq!(r.status, 502);
    let auth = format!("Bearer {bearer}");
    let r = edge
        .get_with(
            &format!("/hls/a/z.ts?hdnts={token}"),
            &[("Authorization", &auth)],
        )
        .await;
    assert_eq!(r.status, 502);
    // the path form suits URL tokens (no `/` in them): one for another file
    let other_file = url_token("/hls/b/x.ts", "viewer-6");
    secrets.extend(hex_runs(&other_file));
    let path_token =
        hls_edge::auth::placement::path_segment("hdnts", &percent_decoded(&other_file));
    let r = edge.get(&format!("/hls/{path_token}/a/x.ts")).await;
    assert_eq!(r.status, 403, "a path-placed token for another file");
    let r = edge.get(&format!("/nowhere/{path_token}/x.ts")).await;
    assert_eq!(r.status, 404);
    let r = edge
        .get_with(
            &format!("/hls/a/u.ts?hdnts={token}"),
            &[("Connection", "Upgrade"), ("Upgrade", "websocket")],
        )
        .await;
    assert_eq!(r.status, 400);
    let mut client = Client::connect(edge.addr()).await.expect("connect");
    let broken = format!("GET /hls/a/b.ts?hdnts={token} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nno colon here\r\n\r\n");
    client.send_raw(broken.as_bytes()).await.expect("send");
    let _ = client.response("GET").await;
    let r = edge
        .get_with(
            "/hls/a/p.ts",
            &[(
                "X-HLS-Edge-Peer",
                "t=1;sig=5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e",
            )],
        )
        .await;
    assert_eq!(r.status, 401);
    secrets.push("5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e".into());
    // a rewritten playlist: the sessions the edge minted are secrets too
    let live_token = entry_token("/live/*", "viewer-7");
    let r = edge
        .get(&format!("/live/streamA/master.m3u8?hdnts={live_token}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("hdntl="), "{}", r.text());
    secrets.extend(hex_runs(&live_token));
    secrets.extend(hex_runs(&r.text()));

    // every line has landed once the access line of the last request has
    let deadline = Deadline::new("the last access log line", Duration::from_secs(5));
    while !edge.logs().contains("/live/streamA/master.m3u8") {
        deadline
            .tick(Duration::from_millis(20), || edge.logs())
            .await;
    }
    let logs = edge.logs();
    assert!(logs.contains("Fail to proxy"), "{logs}");
    // the lines that named them are there, with the secrets taken out
    assert!(logs.contains("<redacted>"), "{logs}");
    assert!(logs.contains("access"), "{logs}");
    let lower = logs.to_ascii_lowercase();
    for secret in &secrets {
        assert!(
            !lower.contains(&secret.to_ascii_lowercase()),
            "a secret ({secret}) is in the logs:\n{}",
            logs.lines()
                .filter(|l| l
                    .to_ascii_lowercase()
                    .contains(&secret.to_ascii_lowercase()))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn percent_decoded(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        match u8::from_str_radix(rest.get(i + 1..i + 3).unwrap_or("zz"), 16) {
            Ok(b) => {
                out.push(b as char);
                rest = &rest[i + 3..];
            }
            Err(_) => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}
