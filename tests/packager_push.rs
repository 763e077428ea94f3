//! Push ingest end to end: ffmpeg PUTs a live test source, players read it
//! while it runs and as VOD after; a restart gets a new generation; a wrong
//! stream key is refused before anything is kept.

mod packager_support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use packager_support::media::push_test_pattern;
use packager_support::{ffprobe, have_ffmpeg, request, wait_until, TestPackager, KEY, KEY_SHA256};

fn live_stream(window: u32) -> String {
    format!(
        "window: {window}\nstreams:\n  - {{ name: live, key_sha256: \"{KEY_SHA256}\" }}\n  \
         - {{ name: demo, loop: [{{ rendition: 180p, file: conf/demo/180p.ts }}] }}\n"
    )
}

/// `ffmpeg -re` pushing `seconds` of a 25 fps test pattern with a 1 s GOP.
fn push(p: &TestPackager, seconds: u32) -> Child {
    let url = p.url(&format!("/ingest/live/180p?key={KEY}"));
    push_test_pattern(&url, seconds, Stdio::piped())
}

/// Waits (bounded) for ffmpeg to exit and asserts it succeeded.
fn finish(mut child: Child, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("ffmpeg status") {
            let out = child.wait_with_output().expect("ffmpeg output");
            assert!(
                status.success(),
                "ffmpeg: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ffmpeg still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The media playlist URL path of the current generation's only rendition.
fn media_path(p: &TestPackager) -> String {
    let master = p.get("/hls/live/master.m3u8").expect("master");
    assert_eq!(master.status, 200, "{}", master.text());
    let parsed = m3u8_rs::parse_master_playlist_res(&master.body).expect("master parses");
    assert_eq!(parsed.variants.len(), 1);
    format!("/hls/live/{}", parsed.variants[0].uri)
}

fn media(p: &TestPackager, path: &str) -> m3u8_rs::MediaPlaylist {
    let resp = p.get(path).expect("media playlist");
    assert_eq!(resp.status, 200);
    m3u8_rs::parse_media_playlist_res(&resp.body).expect("media playlist parses")
}

#[test]
fn pushed_stream_plays_live_then_as_vod() {
    if !have_ffmpeg("pushed_stream_plays_live_then_as_vod") {
        return;
    }
    let p = TestPackager::start(&live_stream(20));
    let started = Instant::now();
    let ffmpeg = push(&p, 15);
    // playable within three target durations of the push
    wait_until(
        Duration::from_secs(6),
        "master playlist of the push",
        || {
            p.get("/hls/live/master.m3u8")
                .is_ok_and(|r| r.status == 200)
        },
    );
    eprintln!(
        "master playlist served {:?} after the push started",
        started.elapsed()
    );
    let path = media_path(&p);
    let live = p.get(&path).unwrap();
    assert_eq!(live.header("cache-control"), Some("no-cache"));
    assert!(!media(&p, &path).end_list);
    assert!(p
        .packager
        .stats()
        .iter()
        .any(|s| s.name == "live" && s.live));

    finish(ffmpeg, Duration::from_secs(40));
    wait_until(Duration::from_secs(5), "ENDLIST", || {
        media(&p, &path).end_list
    });
    let ended = p.get(&path).unwrap();
    assert_eq!(ended.header("cache-control"), Some("public, max-age=86400"));

    let playlist = media(&p, &path);
    assert_eq!(playlist.media_sequence, 0);
    assert!(playlist.segments.len() >= 6, "{playlist:?}");
    assert_eq!(playlist.target_duration, 2);
    let (last, full) = playlist.segments.split_last().unwrap();
    for s in full {
        assert!(
            (s.duration - 2.0).abs() <= 0.04 + 1e-6,
            "{} lasts {}",
            s.uri,
            s.duration
        );
    }
    assert!(last.duration > 0.0 && last.duration <= 2.04);
    assert!(playlist
        .segments
        .iter()
        .all(|s| !s.discontinuity && s.program_date_time.is_some()));

    ffprobe(&p.url("/hls/live/master.m3u8"), "stream=codec_name")
        .expect("the master playlist probes");
    let dir = path.trim_end_matches("index.m3u8");
    for s in &playlist.segments {
        let streams = ffprobe(&p.url(&format!("{dir}{}", s.uri)), "stream=codec_name")
            .expect("segment probes");
        assert!(
            streams.contains("h264") && streams.contains("aac"),
            "{}: {streams}",
            s.uri
        );
    }

    let stats = p
        .packager
        .stats()
        .into_iter()
        .find(|s| s.name == "live")
        .unwrap();
    assert!(!stats.live && stats.ingest_bytes > 100_000, "{stats:?}");
    assert_eq!(stats.ingest_errors, 0);
    assert_eq!(stats.segments_produced, playlist.segments.len() as u64);
}

#[test]
fn a_second_push_is_a_new_generation() {
    if !have_ffmpeg("a_second_push_is_a_new_generation") {
        return;
    }
    let p = TestPackager::start(&live_stream(6));
    finish(push(&p, 5), Duration::from_secs(30));
    let first = media_path(&p);
    finish(push(&p, 5), Duration::from_secs(30));
    let second = media_path(&p);
    assert_ne!(first, second, "a restart must not reuse URLs");

    let old = media(&p, &first);
    let new = media(&p, &second);
    assert!(old.end_list && new.end_list);
    assert_eq!(new.media_sequence, 0);
    assert_eq!(new.discontinuity_sequence, 0);
    assert!(
        new.segments.iter().all(|s| !s.discontinuity),
        "a new generation needs no DISCONTINUITY"
    );
    // the old run's segments are still there, under their own URLs
    let old_seg = first.replace("index.m3u8", &old.segments[0].uri);
    assert_eq!(p.get(&old_seg).unwrap().status, 200);
}

#[test]
fn wrong_or_missing_stream_key_is_refused_and_nothing_kept() {
    let p = TestPackager::start(&live_stream(6));
    let body = vec![0x47u8; 188 * 10];
    let cases: [(&str, &[(&str, &str)]); 5] = [
        ("/ingest/live/180p", &[]),
        ("/ingest/live/180p?key=wrong", &[]),
        ("/ingest/live/180p", &[("Authorization", "Bearer wrong")]),
        ("/ingest/demo/180p?key=push-key-7c1e9a2b4d", &[]), // a looped stream takes no push
        ("/ingest/other/180p?key=push-key-7c1e9a2b4d", &[]),
    ];
    for (path, headers) in cases {
        let started = Instant::now();
        let resp = request(p.addr, "PUT", path, headers, &body).expect("response");
        assert_eq!(resp.status, 403, "{path}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    let stats = p.packager.stats();
    let live = stats
        .iter()
        .find(|s| s.name == "live")
        .expect("configured streams are listed");
    assert_eq!(
        (live.generation.as_ref(), live.ingest_bytes),
        (None, 0),
        "nothing kept"
    );
    assert!(stats.iter().all(|s| s.name != "other"));
    assert_eq!(p.get("/hls/live/master.m3u8").unwrap().status, 404);

    let get = request(p.addr, "GET", "/ingest/live/180p", &[], b"").unwrap();
    assert_eq!((get.status, get.header("allow")), (405, Some("PUT, POST")));
    // the right key, as a bearer token: accepted (garbage TS makes no segment)
    let ok = request(
        p.addr,
        "POST",
        "/ingest/live/180p",
        &[("Authorization", &format!("Bearer {KEY}"))],
        &body,
    )
    .unwrap();
    assert_eq!(ok.status, 201, "{}", ok.text());
}
