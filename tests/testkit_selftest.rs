//! The test kit tested against itself: the counting origin and the raw client
//! agree on counts, framing and truncation; playlists advance; Cache-Status and
//! metrics text parse. No edge involved (see `tests/common/`).
//!
//! Run: `cargo test --test testkit_selftest`

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test]
async fn origin_counts_requests_per_path_and_records_headers() {
    let origin = CountingOrigin::start();
    origin.set("/hls/a.ts", Reply::segment(100));
    origin.set("/hls/b.m3u8", Reply::playlist(vod_playlist(2, 3)));

    for _ in 0..3 {
        let resp = http_get(
            origin.addr(),
            "/hls/a.ts?hdnts=abc&x=1",
            &[("CDN-Loop", "edge-a")],
        )
        .await
        .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, pattern_body(100, 0));
        assert!(resp.complete);
        assert_eq!(resp.framing, Framing::ContentLength(100));
        assert_eq!(resp.header("content-type"), Some(SEGMENT_TYPE));
    }
    let playlist = http_get(origin.url(), "/hls/b.m3u8", &[]).await.unwrap();
    assert!(playlist.text().ends_with("#EXT-X-ENDLIST\n"));
    let missing = http_get(origin.addr(), "/nope", &[]).await.unwrap();
    assert_eq!(missing.status, 404);

    assert_eq!(origin.hits("/hls/a.ts"), 3);
    assert_eq!(origin.hits("/hls/a.ts?hdnts=abc&x=1"), 3);
    assert_eq!(origin.hits("/hls/a.ts?x=1"), 0);
    assert_eq!(origin.hits("/hls/b.m3u8"), 1);
    assert_eq!(origin.hits("/nope"), 1);
    assert_eq!(origin.total(), 5);
    let last = origin.last_request("/hls/a.ts").expect("recorded");
    assert_eq!(last.method, "GET");
    assert_eq!(last.path_and_query, "/hls/a.ts?hdnts=abc&x=1");
    assert_eq!(last.header("cdn-loop"), Some("edge-a"));
    assert_eq!(last.query_param("hdnts"), Some("abc"));
    assert_eq!(last.query_param("token"), None);
    assert!(origin.last_request("/never").is_none());
}

#[tokio::test]
async fn exact_query_route_wins_over_path_route() {
    let origin = CountingOrigin::start();
    origin.set("/p.m3u8", Reply::playlist("plain"));
    origin.set("/p.m3u8?_HLS_msn=5", Reply::playlist("blocking"));
    assert_eq!(
        http_get(origin.addr(), "/p.m3u8?_HLS_msn=5", &[])
            .await
            .unwrap()
            .text(),
        "blocking"
    );
    assert_eq!(
        http_get(origin.addr(), "/p.m3u8?_HLS_msn=6", &[])
            .await
            .unwrap()
            .text(),
        "plain"
    );
}

#[tokio::test]
async fn keep_alive_client_reuses_one_connection() {
    let origin = CountingOrigin::start();
    origin.set("/a", Reply::ok("one", "text/plain"));
    origin.set("/b", Reply::ok("two", "text/plain").chunked());
    let mut client = Client::connect(origin.addr()).await.unwrap();
    for path in ["/a", "/b", "/a", "/missing"] {
        let resp = client.get(path, &[]).await.unwrap();
        assert!(resp.complete, "{path}: {:?}", resp.incomplete_reason);
    }
    let head = client.head("/a", &[]).await.unwrap();
    assert_eq!(
        (head.status, head.body.len(), head.header("content-length")),
        (200, 0, Some("3"))
    );
    assert_eq!(origin.connections(), 1);
    assert_eq!(origin.total(), 5);
    assert_eq!(origin.last_request("/a").unwrap().method, "HEAD");
}

#[tokio::test]
async fn chunked_body_is_reassembled() {
    let origin = CountingOrigin::start();
    let body = pattern_body(5000, 3);
    origin.set(
        "/seg.ts",
        Reply::ok(body.clone(), SEGMENT_TYPE).chunk_size(700),
    );
    let resp = http_get(origin.addr(), "/seg.ts", &[]).await.unwrap();
    assert_eq!(resp.framing, Framing::Chunked);
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert!(resp.complete);
    assert_eq!(resp.body, body);
}

#[tokio::test]
async fn short_content_length_body_is_incomplete() {
    let origin = CountingOrigin::start();
    origin.set("/cut.ts", Reply::truncated(1000, 400));
    let resp = http_get(origin.addr(), "/cut.ts", &[]).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.framing, Framing::ContentLength(1000));
    assert!(!resp.complete);
    assert_eq!(resp.body, pattern_body(400, 0));
    let reason = resp.incomplete_reason.unwrap();
    assert!(reason.contains("400 of 1000"), "{reason}");
}

#[tokio::test]
async fn chunked_body_without_final_chunk_is_incomplete() {
    let origin = CountingOrigin::start();
    origin.set("/cut.ts", Reply::segment(3000).chunked().cut_after(2000));
    let resp = http_get(origin.addr(), "/cut.ts", &[]).await.unwrap();
    assert_eq!(resp.framing, Framing::Chunked);
    assert!(
        !resp.complete,
        "a chunked body without its 0-size chunk passed as complete"
    );
    assert_eq!(resp.body, pattern_body(2000, 0));
    assert!(resp
        .incomplete_reason
        .unwrap()
        .contains("final 0-size chunk"));
}

#[tokio::test]
async fn reset_mid_body_is_incomplete() {
    let origin = CountingOrigin::start();
    origin.set("/reset.ts", Reply::truncated(100_000, 10).reset());
    // The reset may overtake the head on its way to the client: then there is
    // no response at all. Either way, never a complete body.
    match http_get(origin.addr(), "/reset.ts", &[]).await {
        Ok(resp) => assert!(!resp.complete && resp.body.len() <= 10, "{resp:?}"),
        Err(e) => assert!(matches!(e, ClientError::Io(_) | ClientError::Closed), "{e}"),
    }
}

#[tokio::test]
async fn unframed_body_is_close_delimited() {
    let origin = CountingOrigin::start();
    origin.set("/whole.ts", Reply::unframed(pattern_body(300, 1)));
    origin.set(
        "/short.ts",
        Reply::unframed(pattern_body(300, 1)).cut_after(120),
    );
    let whole = http_get(origin.addr(), "/whole.ts", &[]).await.unwrap();
    assert_eq!(whole.framing, Framing::CloseDelimited);
    assert_eq!(whole.header("content-length"), None);
    assert_eq!(whole.header("connection"), Some("close"));
    assert_eq!(whole.body, pattern_body(300, 1));
    let short = http_get(origin.addr(), "/short.ts", &[]).await.unwrap();
    assert_eq!(short.framing, Framing::CloseDelimited);
    assert_eq!(short.body, pattern_body(120, 1));
}

#[tokio::test]
async fn status_replies_and_sequences() {
    let origin = CountingOrigin::start();
    origin.set_sequence(
        "/flaky.ts",
        vec![Reply::status(503), Reply::status(404), Reply::segment(10)],
    );
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(
                http_get(origin.addr(), "/flaky.ts", &[])
                    .await
                    .unwrap()
                    .status,
            );
        }
        v
    };
    assert_eq!(statuses, [503, 404, 200, 200]);
    let not_found = http_get(origin.addr(), "/none", &[]).await.unwrap();
    assert_eq!(not_found.text(), "404 Not Found\n");

    origin.set_fn("/echo", |req| {
        Reply::ok(
            req.header("x-probe").unwrap_or("-").to_string(),
            "text/plain",
        )
    });
    let echo = http_get(origin.addr(), "/echo", &[("X-Probe", "42")])
        .await
        .unwrap();
    assert_eq!(echo.text(), "42");
    origin.set_fallback(|req| {
        Reply::ok(req.path.clone(), "text/plain").with_header("X-Fallback", "1")
    });
    let fallback = http_get(origin.addr(), "/any/thing", &[]).await.unwrap();
    assert_eq!(
        (
            fallback.status,
            fallback.text(),
            fallback.header("x-fallback")
        ),
        (200, "/any/thing".into(), Some("1"))
    );
}

#[tokio::test]
async fn hang_times_out_and_is_still_counted() {
    let origin = CountingOrigin::start();
    origin.set("/hang", Reply::hang());
    let mut client = Client::connect_timeout(origin.addr(), Duration::from_millis(200))
        .await
        .unwrap();
    let started = Instant::now();
    let err = client.get("/hang", &[]).await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(origin.hits("/hang"), 1);
}

#[tokio::test]
async fn body_delay_beyond_timeout_is_incomplete() {
    let origin = CountingOrigin::start();
    origin.set(
        "/slow.ts",
        Reply::segment(10).body_delay(Duration::from_secs(3)),
    );
    let mut client = Client::connect_timeout(origin.addr(), Duration::from_millis(200))
        .await
        .unwrap();
    let resp = client.get("/slow.ts", &[]).await.unwrap();
    assert_eq!(resp.status, 200);
    assert!(!resp.complete);
    assert!(resp.incomplete_reason.unwrap().contains("timed out"));
}

#[tokio::test]
async fn live_playlist_advances() {
    let origin = CountingOrigin::start();
    let live = origin.set_live_playlist("/live/index.m3u8", LivePlaylist::new(2, 3, 10));
    let first = http_get(origin.addr(), "/live/index.m3u8", &[])
        .await
        .unwrap();
    assert_eq!(first.header("content-type"), Some(PLAYLIST_TYPE));
    let text = first.text();
    assert!(text.starts_with(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n"
    ));
    assert!(text.contains("#EXTINF:2.000,\nseg_10.ts\n"));
    assert!(!text.contains("#EXT-X-ENDLIST"));
    assert_eq!(media_sequence_in(&text), Some(10));
    assert_eq!(uris_in(&text), ["seg_10.ts", "seg_11.ts", "seg_12.ts"]);

    assert_eq!(origin.advance_live("/live/index.m3u8"), 11);
    let second = http_get(origin.addr(), "/live/index.m3u8", &[])
        .await
        .unwrap()
        .text();
    assert_eq!(media_sequence_in(&second), Some(11));
    assert_eq!(
        uris_in(&second).last().map(String::as_str),
        Some("seg_13.ts")
    );
    assert_eq!(live.newest_segment(), "seg_13.ts");
    assert_eq!(origin.hits("/live/index.m3u8"), 2);
}

#[test]
fn vod_and_multivariant_playlists() {
    let vod = vod_playlist(4, 2);
    assert_eq!(
        vod,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:4.000,\nseg_0.ts\n#EXTINF:4.000,\nseg_1.ts\n#EXT-X-ENDLIST\n"
    );
    let master =
        multivariant_playlist(&[("low/index.m3u8", 500_000), ("high/index.m3u8", 2_000_000)]);
    assert!(master.contains("#EXT-X-STREAM-INF:BANDWIDTH=500000\nlow/index.m3u8\n"));
    assert_eq!(uris_in(&master), ["low/index.m3u8", "high/index.m3u8"]);
    assert_eq!(media_sequence_in(&master), None);
}

#[tokio::test]
async fn concurrent_gets_arrive_together() {
    let origin = CountingOrigin::start();
    let delay = Duration::from_millis(500);
    origin.set("/slow.ts", Reply::segment(1000).delay(delay));
    let started = Instant::now();
    let responses = concurrent_gets(origin.addr(), "/slow.ts", 16).await;
    assert_eq!(responses.len(), 16);
    assert!(responses
        .iter()
        .all(|r| r.status == 200 && r.complete && r.body.len() == 1000));
    assert_eq!(origin.hits("/slow.ts"), 16);
    assert_eq!(origin.connections(), 16);
    // Served side by side, not one after another.
    assert!(
        started.elapsed() < delay * 4,
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn wait_for_hits_sees_a_request_in_flight() {
    let origin = CountingOrigin::start();
    origin.set(
        "/slow",
        Reply::ok("x", "text/plain").delay(Duration::from_millis(300)),
    );
    let addr = origin.addr();
    let pending = tokio::spawn(async move { http_get(addr, "/slow", &[]).await });
    assert!(
        origin
            .wait_for_hits("/slow", 1, Duration::from_secs(5))
            .await
    );
    assert!(
        !origin
            .wait_for_hits("/slow", 2, Duration::from_millis(50))
            .await
    );
    assert_eq!(pending.await.unwrap().unwrap().text(), "x");
}

#[tokio::test]
async fn stopped_origin_refuses_and_restarts_on_the_same_port() {
    let origin = CountingOrigin::start();
    origin.set("/a", Reply::ok("a", "text/plain"));
    let addr = origin.addr();
    assert_eq!(http_get(addr, "/a", &[]).await.unwrap().status, 200);
    origin.stop();
    assert!(!origin.is_running());
    let err = http_get(addr, "/a", &[]).await.unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    origin.restart().unwrap();
    assert_eq!(http_get(addr, "/a", &[]).await.unwrap().text(), "a");
    assert_eq!(origin.hits("/a"), 2);
}

#[tokio::test]
async fn stop_closes_hanging_connections() {
    let origin = CountingOrigin::start();
    origin.set("/hang", Reply::hang());
    let addr = origin.addr();
    let pending = tokio::spawn(async move { http_get(addr, "/hang", &[]).await });
    assert!(
        origin
            .wait_for_hits("/hang", 1, Duration::from_secs(5))
            .await
    );
    origin.stop();
    let result = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("client ended")
        .unwrap();
    assert!(
        matches!(result, Err(ClientError::Closed | ClientError::Io(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn request_bodies_are_recorded() {
    let origin = CountingOrigin::start();
    origin.set("/ingest", Reply::status(201));
    let resp = http_request(
        origin.addr(),
        "PUT",
        "/ingest",
        &[("Content-Type", "video/mp2t")],
        b"tsdata",
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 201);
    let req = origin.last_request("/ingest").unwrap();
    assert_eq!(
        (req.method.as_str(), req.body.as_slice()),
        ("PUT", &b"tsdata"[..])
    );
}

#[test]
fn cache_status_entries_parse() {
    let entries = parse_cache_status(
        "origin-shield; fwd=uri-miss; fwd-status=200; stored, edge-test; hit; ttl=86399, \
         \"edge b\"; fwd=miss; collapsed; detail=\"lock, waited\"; key=\"/hls/a.ts\"",
    );
    assert_eq!(entries.len(), 3);
    assert_eq!(
        entries[0],
        CacheStatusEntry {
            cache: "origin-shield".into(),
            fwd: Some("uri-miss".into()),
            fwd_status: Some(200),
            stored: true,
            ..Default::default()
        }
    );
    assert_eq!(
        entries[1],
        CacheStatusEntry {
            cache: "edge-test".into(),
            hit: true,
            ttl: Some(86399),
            ..Default::default()
        }
    );
    assert_eq!(entries[2].cache, "edge b");
    assert!(entries[2].collapsed && !entries[2].hit && !entries[2].stored);
    assert_eq!(entries[2].detail.as_deref(), Some("lock, waited"));
    assert_eq!(entries[2].key.as_deref(), Some("/hls/a.ts"));
    let stale = parse_cache_status("edge-test; hit=?0; fwd=stale; ttl=-5");
    assert_eq!((stale[0].hit, stale[0].ttl), (false, Some(-5)));
    assert!(parse_cache_status("").is_empty());
}

#[tokio::test]
async fn cache_status_reads_every_header_line() {
    let origin = CountingOrigin::start();
    origin.set(
        "/a.ts",
        Reply::segment(1)
            .with_header("Cache-Status", "shield; fwd=miss; stored")
            .with_header("Cache-Status", "edge-test; hit; ttl=10"),
    );
    let resp = http_get(origin.addr(), "/a.ts", &[]).await.unwrap();
    let names: Vec<String> = resp.cache_status().into_iter().map(|e| e.cache).collect();
    assert_eq!(names, ["shield", "edge-test"]);
    assert_eq!(cache_status_of(&resp, "edge-test").unwrap().ttl, Some(10));
    assert!(cache_status_of(&resp, "other").is_none());
}

#[test]
fn metric_values_parse() {
    let text = "# HELP hls_edge_requests_total requests\n\
                # TYPE hls_edge_requests_total counter\n\
                hls_edge_requests_total{class=\"segment\",cache=\"hit\"} 3\n\
                hls_edge_requests_total{class=\"segment\",cache=\"miss\"} 1\n\
                hls_edge_requests_total{class=\"live_playlist\",cache=\"miss\"} 2\n\
                hls_edge_cache_hit_ratio 0.75\n\
                hls_edge_weird{path=\"a\\\"b,c}\"} 1e3\n";
    assert_eq!(
        metric_value(text, "hls_edge_requests_total", &[]),
        Some(6.0)
    );
    assert_eq!(
        metric_value(text, "hls_edge_requests_total", &[("class", "segment")]),
        Some(4.0)
    );
    assert_eq!(
        metric_value(
            text,
            "hls_edge_requests_total",
            &[("class", "segment"), ("cache", "hit")]
        ),
        Some(3.0)
    );
    assert_eq!(
        metric_value(text, "hls_edge_cache_hit_ratio", &[]),
        Some(0.75)
    );
    assert_eq!(
        metric_value(text, "hls_edge_weird", &[("path", "a\"b,c}")]),
        Some(1000.0)
    );
    assert_eq!(metric_value(text, "hls_edge_missing", &[]), None);
}

#[test]
fn edge_config_yaml_names_the_chosen_ports() {
    let origin_a = "127.0.0.1:4001";
    let config = EdgeConfig::new()
        .id("edge-x")
        .route("/hls/", origin_a)
        .route_origins("/vod/", ["127.0.0.1:4002", "http://127.0.0.1:4003"])
        .route_config(
            RouteConfig::new("/slow/")
                .origin(origin_a)
                .read_timeout("200ms")
                .option("cache", "false"),
        )
        .cache_max_size("1MiB")
        .cache("segment_ttl", "24h")
        .extra_yaml("cors:\n  allow_origin: \"*\"");
    let doc: serde_yaml::Value = serde_yaml::from_str(&config.yaml()).expect("valid YAML");
    assert_eq!(doc["edge"]["id"].as_str(), Some("edge-x"));
    assert_eq!(
        doc["edge"]["listen"][0].as_str(),
        Some(config.addr().to_string().as_str())
    );
    assert_eq!(
        doc["admin"]["listen"].as_str(),
        Some(config.admin_addr().to_string().as_str())
    );
    assert_ne!(config.addr(), config.admin_addr());
    assert_eq!(doc["cache"]["max_size"].as_str(), Some("1MiB"));
    assert_eq!(doc["cache"]["segment_ttl"].as_str(), Some("24h"));
    assert_eq!(
        doc["origin_groups"]["g0"]["origins"][0]["url"].as_str(),
        Some("http://127.0.0.1:4001")
    );
    assert_eq!(
        doc["origin_groups"]["g1"]["origins"][1]["url"].as_str(),
        Some("http://127.0.0.1:4003")
    );
    assert_eq!(
        doc["origin_groups"]["g2"]["read_timeout"].as_str(),
        Some("200ms")
    );
    assert_eq!(doc["routes"][2]["prefix"].as_str(), Some("/slow/"));
    assert_eq!(doc["routes"][2]["origin_group"].as_str(), Some("g2"));
    assert_eq!(doc["routes"][2]["cache"].as_bool(), Some(false));
    assert_eq!(doc["cors"]["allow_origin"].as_str(), Some("*"));
    let moved = config.clone().fresh_ports();
    assert!(moved
        .yaml()
        .contains(&format!("listen: [\"{}\"]", moved.addr())));
}

#[test]
fn free_port_can_be_bound() {
    let port = free_port();
    assert_ne!(port, 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port still free");
}

#[tokio::test]
async fn retry_on_port_collision_retries_only_collisions() {
    let mut seen = Vec::new();
    let result: Result<usize, String> = retry_on_port_collision(
        5,
        |e: &String| is_addr_in_use(e),
        |attempt| {
            seen.push(attempt);
            async move {
                if attempt < 2 {
                    Err("Address already in use (os error 98)".to_string())
                } else {
                    Ok(attempt)
                }
            }
        },
    )
    .await;
    assert_eq!(result, Ok(2));
    assert_eq!(seen, [0, 1, 2]);
    let other: Result<(), String> = retry_on_port_collision(
        5,
        |e: &String| is_addr_in_use(e),
        |_| async { Err("bad config".to_string()) },
    )
    .await;
    assert_eq!(other, Err("bad config".to_string()));
}

#[test]
fn temp_dirs_are_unique_and_removed() {
    let a = TempDir::new("kit-selftest").unwrap();
    let b = TempDir::new("kit-selftest").unwrap();
    assert_ne!(a.path(), b.path());
    let path = a.path().to_path_buf();
    drop(a);
    assert!(!path.exists());
}
