//! The demo: the packager loops `conf/demo/{360p,180p}.ts` and serves live HLS
//! from the start, with the headers the edge caches by.

mod packager_support;

use std::time::Duration;

use packager_support::{ffprobe, have_ffmpeg, request, wait_until, TestPackager};

const DEMO: &str = "\
streams:
  - name: demo
    loop:
      - { rendition: 360p, file: conf/demo/360p.ts }
      - { rendition: 180p, file: conf/demo/180p.ts }
";

fn media_playlist(p: &TestPackager, path: &str) -> m3u8_rs::MediaPlaylist {
    let resp = p.get(path).expect("media playlist");
    assert_eq!(resp.status, 200, "{path}: {}", resp.text());
    m3u8_rs::parse_media_playlist_res(&resp.body).expect("media playlist parses")
}

#[test]
fn demo_loop_serves_a_full_live_window_at_once() {
    let p = TestPackager::start(DEMO);
    wait_until(Duration::from_secs(10), "master playlist", || {
        p.get("/hls/demo/master.m3u8")
            .is_ok_and(|r| r.status == 200)
    });
    let master = p.get("/hls/demo/master.m3u8").unwrap();
    assert_eq!(
        master.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(master.header("cache-control"), Some("max-age=2"));
    let parsed = m3u8_rs::parse_master_playlist_res(&master.body).expect("master parses");
    assert_eq!(parsed.variants.len(), 2, "{}", master.text());
    let low = &parsed.variants[0];
    let high = &parsed.variants[1];
    assert!(low.uri.ends_with("/180p/index.m3u8") && high.uri.ends_with("/360p/index.m3u8"));
    assert_eq!(
        low.uri.split('/').next(),
        high.uri.split('/').next(),
        "one generation"
    );
    assert_eq!(
        high.resolution.map(|r| (r.width, r.height)),
        Some((640, 360))
    );
    assert_eq!(
        low.resolution.map(|r| (r.width, r.height)),
        Some((320, 180))
    );
    assert!(
        high.codecs
            .as_deref()
            .is_some_and(|c| c.contains("avc1.") && c.contains("mp4a.40.2")),
        "{high:?}"
    );
    assert!(
        high.bandwidth > low.bandwidth && low.bandwidth > 100_000,
        "{parsed:?}"
    );
    assert_eq!(high.frame_rate, Some(25.0));

    let path = format!("/hls/demo/{}", high.uri);
    let media = media_playlist(&p, &path);
    assert_eq!(media.segments.len(), 6, "a full window at once");
    assert_eq!(media.target_duration, 2);
    assert!(media.segments.iter().all(|s| s.program_date_time.is_some()));
    assert!(
        media
            .segments
            .iter()
            .all(|s| (s.duration - 2.0).abs() < 0.041),
        "{:?}",
        media.segments
    );
    // 3 segments per 6 s loop: the 4th of the first window starts the 2nd loop
    let seams: Vec<bool> = media.segments.iter().map(|s| s.discontinuity).collect();
    assert_eq!(seams, [false, false, false, true, false, false]);
    let live = p.get(&path).unwrap();
    assert_eq!(live.header("cache-control"), Some("no-cache"));

    let dir = path.trim_end_matches("index.m3u8");
    let seg = p.get(&format!("{dir}seg_0.ts")).unwrap();
    assert_eq!(seg.status, 200);
    assert_eq!(seg.header("content-type"), Some("video/mp2t"));
    assert_eq!(
        seg.header("cache-control"),
        Some("public, max-age=86400, immutable")
    );
    assert_eq!(
        seg.header("content-length"),
        Some(seg.body.len().to_string().as_str())
    );
    assert_eq!(seg.body[0], 0x47);

    let head = request(p.addr, "HEAD", &format!("{dir}seg_0.ts"), &[], b"").unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), seg.header("content-length"));

    let future = p.get(&format!("{dir}seg_999.ts")).unwrap();
    assert_eq!(
        (future.status, future.header("cache-control")),
        (404, Some("no-store"))
    );
    assert_eq!(p.get("/hls/nope/master.m3u8").unwrap().status, 404);
    assert_eq!(
        p.get("/hls/demo/nogen/360p/index.m3u8").unwrap().status,
        404
    );
    let delete = request(p.addr, "DELETE", &path, &[], b"").unwrap();
    assert_eq!(
        (delete.status, delete.header("allow")),
        (405, Some("GET, HEAD"))
    );

    let stats = p.packager.stats();
    assert_eq!(stats.len(), 1);
    assert!(
        stats[0].live && stats[0].segments_produced >= 12 && stats[0].bytes > 0,
        "{stats:?}"
    );

    // the next segment arrives in real time, the sequence goes on
    wait_until(Duration::from_secs(5), "segment 6", || {
        p.get(&format!("{dir}seg_6.ts"))
            .is_ok_and(|r| r.status == 200)
    });
    let media = media_playlist(&p, &path);
    assert_eq!(media.media_sequence, 1);
}

#[test]
fn demo_loop_plays_in_ffmpeg_with_timestamps_going_on_across_the_seam() {
    if !have_ffmpeg("demo_loop_plays_in_ffmpeg") {
        return;
    }
    let p = TestPackager::start(DEMO);
    wait_until(Duration::from_secs(10), "master playlist", || {
        p.get("/hls/demo/master.m3u8")
            .is_ok_and(|r| r.status == 200)
    });
    let master = p.get("/hls/demo/master.m3u8").unwrap();
    let parsed = m3u8_rs::parse_master_playlist_res(&master.body).unwrap();
    let dir = format!(
        "/hls/demo/{}",
        parsed.variants[1].uri.trim_end_matches("index.m3u8")
    );

    let start = |msn: u32| -> f64 {
        let out = ffprobe(
            &p.url(&format!("{dir}seg_{msn}.ts")),
            "stream=codec_type,start_time",
        )
        .expect("segment probes");
        let video = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("video,"))
            .expect("a video stream");
        video.parse::<f64>().expect("start_time")
    };
    // segment 3 is the first of the second loop: its timestamps go on from segment 2's
    let (s2, s3) = (start(2), start(3));
    assert!((s3 - s2 - 2.0).abs() < 0.1, "seg_2 at {s2}, seg_3 at {s3}");

    // eight seconds cross at least one seam of the six-second loop: no error,
    // and no packet reported corrupt (continuity counters carry on) nor
    // timestamps going backwards
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "warning",
            "-i",
            &p.url("/hls/demo/master.m3u8"),
            "-t",
            "8",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lower = stderr.to_ascii_lowercase();
    assert!(out.status.success(), "ffmpeg: {stderr}");
    assert!(
        !lower.contains("corrupt") && !lower.contains("non monoton") && !lower.contains("error"),
        "ffmpeg: {stderr}"
    );
}
