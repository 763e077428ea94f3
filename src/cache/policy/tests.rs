//! The section 3 table, row by row.

use std::time::{Duration, SystemTime};

use pingora::http::ResponseHeader;

use super::*;
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
        .admit(ObjectClass::Segment, &framed(200), now)
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
    let meta = p.admit(ObjectClass::Segment, &short, now).expect("stored");
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
    let meta = p.admit(ObjectClass::Segment, &shared, now).expect("stored");
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
            p.admit(ObjectClass::Segment, &framed(status), now).err(),
            Some(reason),
            "{status}"
        );
        if status != 206 {
            assert_eq!(
                p.downstream_cache_control(ObjectClass::Segment, status, None, Audience::Shared)
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
        p.admit(ObjectClass::Segment, &resp(200, &[]), now).err(),
        Some(NoStore::Unframed)
    );
    let chunked = resp(200, &[("transfer-encoding", "chunked")]);
    assert!(p.admit(ObjectClass::Segment, &chunked, now).is_ok());
    let private = resp(
        200,
        &[("content-length", "1"), ("cache-control", "private")],
    );
    assert_eq!(
        p.admit(ObjectClass::Segment, &private, now).err(),
        Some(NoStore::OriginNoStore)
    );
}

#[test]
fn playlists_get_their_lifetime_from_their_body() {
    let p = policy();
    let now = SystemTime::now();
    let ttl = |class: ObjectClass, body: &[u8]| {
        let mut m = p
            .admit(ObjectClass::Playlist, &framed(200), now)
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
    let cc = |class| p.downstream_cache_control(class, 200, None, Audience::Shared);
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
fn keys_and_other_objects_do_not_use_the_cache() {
    let p = policy();
    assert!(p.caches(ObjectClass::Segment) && p.caches(ObjectClass::Playlist));
    assert!(!p.caches(ObjectClass::Key) && !p.caches(ObjectClass::Other));
}
