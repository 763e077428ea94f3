//! The section 3 table, row by row.

use std::time::{Duration, SystemTime};

use pingora::http::ResponseHeader;

use super::*;
use crate::cache::directives::Downstream;
use crate::config::Config;

fn policy() -> CachePolicy {
    let config = Config::parse(
        "origin_groups: {g: {origins: [{url: 'http://127.0.0.1:1'}]}}\nroutes: [{prefix: /hls/, origin_group: g}]\n",
    )
    .expect("minimal config is valid");
    CachePolicy::new(config.cache)
}

fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
    let mut r = ResponseHeader::build(status, None).expect("valid status");
    for (k, v) in headers {
        r.append_header(k.to_string(), *v).expect("valid header");
    }
    r
}

fn framed(status: u16) -> ResponseHeader {
    resp(status, &[("content-length", "10")])
}

const LIVE: &[u8] =
    b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:4.0,\ns7.ts\n";
const VOD: &[u8] = b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\ns0.ts\n#EXT-X-ENDLIST\n";
const MASTER: &[u8] = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nlow/index.m3u8\n";

#[test]
fn segments_are_stored_for_a_day_unless_the_origin_says_otherwise() {
    let p = policy();
    let now = SystemTime::now();
    let meta = p
        .admit(ObjectClass::Segment, &framed(200), Request::default(), now)
        .expect("stored");
    assert_eq!(
        meta.fresh_until().duration_since(now).ok(),
        Some(Duration::from_secs(86400))
    );
    let short = resp(
        200,
        &[
            ("content-length", "1"),
            ("cache-control", "public, max-age=60"),
        ],
    );
    let meta = p
        .admit(ObjectClass::Segment, &short, Request::default(), now)
        .expect("stored");
    assert_eq!(
        meta.fresh_until().duration_since(now).ok(),
        Some(Duration::from_secs(60))
    );
    let shared = resp(
        200,
        &[
            ("content-length", "1"),
            ("cache-control", "max-age=60, s-maxage=600"),
        ],
    );
    let meta = p
        .admit(ObjectClass::Segment, &shared, Request::default(), now)
        .expect("stored");
    assert_eq!(
        meta.fresh_until().duration_since(now).ok(),
        Some(Duration::from_secs(600))
    );
}

#[test]
fn errors_and_future_segments_are_never_stored() {
    let p = policy();
    let now = SystemTime::now();
    for (status, reason) in [
        (404, NoStore::NotFound),
        (410, NoStore::NotFound),
        (500, NoStore::Status),
        (503, NoStore::Status),
        (206, NoStore::Status),
    ] {
        assert_eq!(
            p.admit(
                ObjectClass::Segment,
                &framed(status),
                Request::default(),
                now
            )
            .err(),
            Some(reason),
            "{status}"
        );
        if status != 206 {
            assert_eq!(
                p.downstream_cache_control(
                    ObjectClass::Segment,
                    status,
                    None,
                    Audience::Shared,
                    Downstream::Default
                )
                .as_deref(),
                Some("no-store")
            );
        }
    }
}

#[test]
fn unframed_and_private_bodies_are_never_stored() {
    let p = policy();
    let now = SystemTime::now();
    assert_eq!(
        p.admit(
            ObjectClass::Segment,
            &resp(200, &[]),
            Request::default(),
            now
        )
        .err(),
        Some(NoStore::Unframed)
    );
    let chunked = resp(200, &[("transfer-encoding", "chunked")]);
    assert!(p
        .admit(ObjectClass::Segment, &chunked, Request::default(), now)
        .is_ok());
    let private = resp(
        200,
        &[("content-length", "1"), ("cache-control", "private")],
    );
    assert_eq!(
        p.admit(ObjectClass::Segment, &private, Request::default(), now)
            .err(),
        Some(NoStore::OriginNoStore)
    );
}

#[test]
fn playlists_get_their_lifetime_from_their_body() {
    let p = policy();
    let now = SystemTime::now();
    let ttl = |class: ObjectClass, body: &[u8]| {
        let mut m = p
            .admit(ObjectClass::Playlist, &framed(200), Request::default(), now)
            .expect("stored provisionally");
        let summary = crate::hls::PlaylistSummary::of(class, body);
        p.refine_meta(&mut m, class, Some(&summary));
        let lifetime = m
            .fresh_until()
            .duration_since(m.updated())
            .unwrap_or_default();
        // whole seconds: the clock moved between the two reads
        Duration::from_secs((lifetime.as_millis() as u64 + 500) / 1000)
    };
    assert_eq!(ttl(ObjectClass::LivePlaylist, LIVE), Duration::from_secs(6));
    assert_eq!(
        ttl(ObjectClass::VodPlaylist, VOD),
        Duration::from_secs(86400)
    );
    assert_eq!(
        ttl(ObjectClass::MultivariantPlaylist, MASTER),
        Duration::from_secs(2)
    );
    // rfc8216bis B.1: blocking responses 6 x target duration
    assert_eq!(
        ttl(ObjectClass::BlockingPlaylist, LIVE),
        Duration::from_secs(24)
    );
    assert_eq!(
        ttl(ObjectClass::Playlist, b"not a playlist"),
        Duration::ZERO
    );
}

#[test]
fn players_are_told_per_class() {
    let p = policy();
    let cc =
        |class| p.downstream_cache_control(class, 200, None, Audience::Shared, Downstream::Default);
    assert_eq!(
        cc(ObjectClass::Segment).as_deref(),
        Some("public, max-age=86400, immutable")
    );
    assert_eq!(cc(ObjectClass::LivePlaylist).as_deref(), Some("no-cache"));
    assert_eq!(cc(ObjectClass::Playlist).as_deref(), Some("no-cache"));
    assert_eq!(
        cc(ObjectClass::VodPlaylist).as_deref(),
        Some("public, max-age=86400")
    );
    assert_eq!(
        cc(ObjectClass::MultivariantPlaylist).as_deref(),
        Some("public, max-age=2")
    );
    assert_eq!(cc(ObjectClass::Key), None);
    assert_eq!(cc(ObjectClass::Other), None);
}

#[test]
fn other_objects_are_cached_exactly_as_the_origin_allows_or_not_at_all() {
    let p = policy();
    assert!(p.caches(ObjectClass::Segment) && p.caches(ObjectClass::Playlist));
    assert!(p.caches(ObjectClass::Key) && p.caches(ObjectClass::Other));
    let now = SystemTime::now();
    let no_lifetime = p.admit(ObjectClass::Other, &framed(200), Request::default(), now);
    assert_eq!(
        no_lifetime.err(),
        Some(NoStore::NoLifetime),
        "no heuristic freshness"
    );
    let given = resp(
        200,
        &[("content-length", "1"), ("cache-control", "max-age=30")],
    );
    let meta = p
        .admit(ObjectClass::Key, &given, Request::default(), now)
        .expect("stored");
    assert_eq!(meta.fresh_sec(), 30);
    let none = Config::parse(
        "cache: {other: none}\norigin_groups: {g: {origins: [{url: 'http://127.0.0.1:1'}]}}\nroutes: [{prefix: /hls/, origin_group: g}]\n",
    )
    .expect("valid");
    let p = CachePolicy::new(none.cache);
    assert!(!p.caches(ObjectClass::Key) && !p.caches(ObjectClass::Other));
}

#[test]
fn origin_directives_win_where_they_are_stricter() {
    let p = policy();
    let now = SystemTime::now();
    let admit = |class, headers: &[(&str, &str)], request| {
        let mut h = vec![("content-length", "1")];
        h.extend_from_slice(headers);
        p.admit(class, &resp(200, &h), request, now)
    };
    let plain = Request::default();
    for class in [
        ObjectClass::Segment,
        ObjectClass::Playlist,
        ObjectClass::Other,
    ] {
        let cc = |v| [("cache-control", v)];
        assert_eq!(
            admit(class, &cc("no-store"), plain).err(),
            Some(NoStore::OriginNoStore)
        );
        assert_eq!(
            admit(class, &cc("private, max-age=9"), plain).err(),
            Some(NoStore::OriginNoStore)
        );
        assert_eq!(
            admit(
                class,
                &[("vary", "*"), ("cache-control", "max-age=9")],
                plain
            )
            .err(),
            Some(NoStore::VaryAny)
        );
        assert_eq!(
            admit(
                class,
                &[("set-cookie", "s=1"), ("cache-control", "max-age=9")],
                plain
            )
            .err(),
            Some(NoStore::SetCookie)
        );
        assert_eq!(
            admit(
                class,
                &[
                    ("cdn-cache-control", "no-store"),
                    ("cache-control", "max-age=9")
                ],
                plain
            )
            .err(),
            Some(NoStore::OriginNoStore)
        );
        let authorized = Request {
            authorization: true,
            ..plain
        };
        assert_eq!(
            admit(class, &cc("max-age=9"), authorized).err(),
            Some(NoStore::Authorization)
        );
        assert!(admit(class, &cc("public, max-age=9"), authorized).is_ok());
    }
    // no-cache: stored, stale at once (revalidated before every use)
    let meta = admit(
        ObjectClass::Segment,
        &[("cache-control", "no-cache")],
        plain,
    )
    .expect("stored");
    assert!(!meta.is_fresh(now));
    // an upstream Age counts against the lifetime and becomes the object's age
    let aged = admit(
        ObjectClass::Segment,
        &[("cache-control", "max-age=100"), ("age", "30")],
        plain,
    )
    .expect("stored");
    assert_eq!(
        aged.fresh_until().duration_since(now).ok(),
        Some(Duration::from_secs(70))
    );
    assert!(aged.age() >= Duration::from_secs(30));
    assert!(aged.response_header().headers.get("age").is_none());
    // must-revalidate: never served stale
    let must = admit(
        ObjectClass::Segment,
        &[("cache-control", "max-age=9, must-revalidate")],
        plain,
    )
    .expect("stored");
    assert_eq!(must.stale_if_error_sec(), 0);
    // the route may override lifetimes on purpose, never no-store
    let overriding = Request {
        override_origin_ttl: true,
        ..plain
    };
    let meta = admit(
        ObjectClass::Segment,
        &[("cache-control", "max-age=9")],
        overriding,
    )
    .expect("stored");
    assert_eq!(meta.fresh_sec(), 86400);
    assert!(admit(
        ObjectClass::Segment,
        &[("cache-control", "no-store")],
        overriding
    )
    .is_err());
}

#[test]
fn a_refreshed_playlist_keeps_its_class_lifetime_and_stale_if_error_window() {
    let p = policy();
    let now = SystemTime::now();
    // what a 304 on a stored VOD playlist gives update_meta: the provisional meta
    let mut meta = p
        .admit(ObjectClass::Playlist, &framed(200), Request::default(), now)
        .expect("stored provisionally");
    assert_eq!(meta.stale_if_error_sec(), 0);
    let summary = crate::hls::PlaylistSummary::of(ObjectClass::Playlist, VOD);
    p.refine_meta(&mut meta, ObjectClass::VodPlaylist, Some(&summary));
    assert_eq!(meta.stale_if_error_sec(), 600, "cache.stale_if_error");
    assert!((86399..=86400).contains(&meta.fresh_sec()));
}

#[test]
fn players_are_never_told_more_than_the_origin_allowed() {
    let p = policy();
    let seg = |origin| {
        p.downstream_cache_control(
            ObjectClass::Segment,
            200,
            Some(Duration::from_secs(60)),
            Audience::Shared,
            origin,
        )
    };
    assert_eq!(seg(Downstream::NoStore).as_deref(), Some("no-store"));
    assert_eq!(
        seg(Downstream::Private),
        None,
        "the origin's private passes through"
    );
    assert_eq!(seg(Downstream::NoCache).as_deref(), Some("no-cache"));
    assert_eq!(
        seg(Downstream::MaxAge(Duration::from_secs(10))).as_deref(),
        Some("public, max-age=10, immutable")
    );
    let master = p.downstream_cache_control(
        ObjectClass::MultivariantPlaylist,
        200,
        None,
        Audience::Player,
        Downstream::Default,
    );
    assert_eq!(master.as_deref(), Some("private, max-age=2"));
    let other = p.downstream_cache_control(
        ObjectClass::Other,
        200,
        None,
        Audience::Shared,
        Downstream::MaxAge(Duration::from_secs(5)),
    );
    assert_eq!(other, None, "other objects keep the origin's");
}
