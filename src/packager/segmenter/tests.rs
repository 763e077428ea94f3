//! Segmenter tests on synthetic streams and, when ffmpeg is present, a real one.
use super::*;
use crate::packager::ts::builder::{
    h264_access_unit, pes_bytes, TsBuilder, AAC_FRAME, AUDIO_PID, FRAME, PMT_PID, VIDEO_PID,
};
use proptest::prelude::*;

mod parts;

fn segment(ts: &[u8], target_ms: u64) -> (Vec<Segment>, Segmenter) {
    let mut s = Segmenter::new(SegmenterConfig {
        target_duration: Duration::from_millis(target_ms),
        part_target: None,
    });
    let mut out = s.push(ts);
    out.extend(s.finish());
    (out, s)
}

fn av(start: u64, seconds: u64, gop: u64) -> Vec<u8> {
    let mut b = TsBuilder::default();
    b.av(start, 0..seconds * 24, gop, true);
    b.out
}

fn ticks(seg: &Segment) -> u128 {
    (seg.duration.as_nanos() * 9 + 50_000) / 100_000
}

/// (PID, unit start, random access) of the packet at `n`.
fn header(data: &[u8], n: usize) -> (u16, bool, bool) {
    let p = &data[n * PACKET_SIZE..];
    (
        u16::from_be_bytes([p[1] & 0x1F, p[2]]),
        p[1] & 0x40 != 0,
        p[3] & 0x20 != 0 && p[5] & 0x40 != 0,
    )
}

#[test]
fn cuts_at_the_first_keyframe_past_the_target() {
    let (segs, s) = segment(&av(900_000, 6, 48), 2000);
    assert_eq!(segs.len(), 3);
    for (i, seg) in segs.iter().enumerate() {
        assert_eq!(seg.duration, Duration::from_secs(2), "segment {i}");
        assert_eq!(seg.start_pts, 900_000 + i as u64 * 48 * FRAME);
        assert!(seg.keyframe_start && !seg.discontinuity);
        assert_eq!(seg.data.len() % PACKET_SIZE, 0);
        assert_eq!(header(&seg.data, 0).0, 0, "PAT first");
        assert_eq!(header(&seg.data, 1).0, PMT_PID, "then PMT");
        assert_eq!(
            header(&seg.data, 2),
            (VIDEO_PID, true, true),
            "then the keyframe"
        );
    }
    let info = s.media_info();
    assert_eq!(
        info.codecs,
        vec!["avc1.64001e".to_string(), "mp4a.40.2".to_string()]
    );
    assert_eq!(info.resolution, Some((640, 360)));
    assert_eq!(info.frame_rate, Some(24.0));
    assert!(info.has_video && info.has_audio);
    assert_eq!(s.stats().continuity_errors, 0);
}

#[test]
fn durations_are_at_least_target_and_below_target_plus_gop() {
    let (segs, _) = segment(&av(0, 9, 36), 2000);
    let durations: Vec<u128> = segs.iter().map(ticks).collect();
    assert_eq!(durations, vec![72 * FRAME as u128; 3]);
}

#[test]
fn target_is_checked_pts_to_pts_when_dts_offsets_vary() {
    // As x265 open GOPs: keyframes 46 frames apart in decode order (DTS)
    // but 48 apart in presentation order (PTS).
    let mut b = TsBuilder::default();
    b.psi(&[(0x1B, VIDEO_PID)]);
    for i in 0..140u64 {
        let key = i % 46 == 0;
        let pts = if key {
            FRAME + i / 46 * 48 * FRAME
        } else {
            (i + 1) * FRAME
        };
        let pes = pes_bytes(
            0xE0,
            pts,
            Some(i * FRAME),
            &h264_access_unit(key, 800),
            false,
        );
        b.pes(VIDEO_PID, &pes, key, None);
    }
    let (segs, _) = segment(&b.out, 2000);
    let durations: Vec<Duration> = segs[..3].iter().map(|s| s.duration).collect();
    assert_eq!(durations, vec![Duration::from_secs(2); 3]);
}

#[test]
fn stream_starting_between_keyframes_drops_the_lead_in() {
    let mut b = TsBuilder::default();
    b.av(0, 30..144, 48, true);
    let (segs, _) = segment(&b.out, 2000);
    assert_eq!(
        segs.iter().map(|s| s.start_pts).collect::<Vec<_>>(),
        vec![48 * FRAME, 96 * FRAME]
    );
}

#[test]
fn pts_wrap_keeps_durations_and_start_pts_monotonic() {
    let start = Timestamp::MODULUS - 3 * Timestamp::HZ;
    let (segs, _) = segment(&av(start, 6, 48), 2000);
    let starts: Vec<u64> = segs.iter().map(|s| s.start_pts).collect();
    assert_eq!(starts, vec![start, start + 180_000, start + 360_000]);
    assert!(segs
        .iter()
        .all(|s| s.duration == Duration::from_secs(2) && !s.discontinuity));
}

#[test]
fn no_keyframe_for_long_forces_a_cut_at_ten_targets() {
    let (segs, _) = segment(&av(0, 30, 100_000), 2000);
    assert_eq!(segs.len(), 2);
    assert_eq!(
        (segs[0].duration, segs[0].keyframe_start),
        (Duration::from_secs(20), true)
    );
    assert_eq!(
        (segs[1].duration, segs[1].keyframe_start),
        (Duration::from_secs(10), false)
    );
    assert_eq!(
        header(&segs[1].data, 2),
        (VIDEO_PID, true, false),
        "cut at a PES start"
    );
}

#[test]
fn audio_only_cuts_on_time() {
    let mut b = TsBuilder::default();
    b.audio_only(0, 250);
    let (segs, s) = segment(&b.out, 2000);
    assert_eq!(segs.len(), 3);
    for seg in &segs[..2] {
        assert!(
            (180_000..180_000 + u128::from(AAC_FRAME)).contains(&ticks(seg)),
            "{seg:?}"
        );
        assert_eq!(header(&seg.data, 2).0, AUDIO_PID);
    }
    assert_eq!(segs[2].start_pts + ticks(&segs[2]) as u64, 250 * AAC_FRAME);
    let info = s.media_info();
    assert_eq!(
        (info.codecs, info.has_video, info.frame_rate),
        (vec!["mp4a.40.2".into()], false, None)
    );
}

#[test]
fn timestamp_jumps_mark_discontinuities() {
    let mut b = TsBuilder::default();
    b.av(900_000, 0..96, 48, true);
    b.av(90_000, 0..96, 48, true); // source restarted: back to 1 s
    b.av(100 * Timestamp::HZ, 0..48, 48, true); // forward by 95 s
    let (segs, _) = segment(&b.out, 2000);
    let seen: Vec<(u64, bool)> = segs
        .iter()
        .map(|s| (s.start_pts, s.discontinuity))
        .collect();
    let expected = [
        (900_000, false),
        (1_080_000, false),
        (90_000, true),
        (270_000, false),
        (9_000_000, true),
    ];
    assert_eq!(seen, expected);
    assert!(
        segs.iter().all(|s| s.duration == Duration::from_secs(2)),
        "{segs:?}"
    );
}

#[test]
fn input_after_finish_is_a_new_stream() {
    let mut s = Segmenter::new(SegmenterConfig::default());
    let first: Vec<Segment> = s
        .push(&av(90_000, 4, 48))
        .into_iter()
        .chain(s.finish())
        .collect();
    let second: Vec<Segment> = s
        .push(&av(90_000, 4, 48))
        .into_iter()
        .chain(s.finish())
        .collect();
    assert_eq!(first.len(), 2);
    assert_eq!(
        second.iter().map(|s| s.discontinuity).collect::<Vec<_>>(),
        vec![true, false]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn any_chunking_gives_the_same_segments(cuts in prop::collection::vec(1usize..5000, 1..200)) {
        let mut ts = av(0, 5, 48);
        ts.splice(50_000..50_000, [0x47, 1, 2, 0x47, 3]);
        let (expected, _) = segment(&ts, 2000);
        let mut s = Segmenter::new(SegmenterConfig::default());
        let mut got = Vec::new();
        let mut rest = &ts[..];
        for n in cuts.iter().cycle() {
            if rest.is_empty() { break }
            let (chunk, tail) = rest.split_at((*n).min(rest.len()));
            got.extend(s.push(chunk));
            rest = tail;
        }
        got.extend(s.finish());
        prop_assert_eq!(got, expected);
    }
}

/// 6 s of ffmpeg's test pattern: H.264 (GOP 2 s at 24 fps) and AAC.
#[test]
fn real_ffmpeg_stream() {
    let ffmpeg = std::path::Path::new("/usr/bin/ffmpeg");
    if !ffmpeg.exists() {
        eprintln!("skipped: /usr/bin/ffmpeg not found");
        return;
    }
    let path = std::env::temp_dir().join(format!("hls-edge-segmenter-{}.ts", std::process::id()));
    let args = "-hide_banner -loglevel error -y -f lavfi -i testsrc2=s=640x360:r=24 -f lavfi \
                -i sine=frequency=440:sample_rate=48000 -t 6 -c:v libx264 -g 48 -r 24 -c:a aac -f mpegts";
    let status = std::process::Command::new(ffmpeg)
        .args(args.split_whitespace())
        .arg(&path)
        .status();
    let ts = std::fs::read(&path);
    let _ = std::fs::remove_file(&path);
    let (Ok(status), Ok(ts)) = (status, ts) else {
        panic!("ffmpeg did not run")
    };
    assert!(status.success());
    let (segs, s) = segment(&ts, 2000);
    assert_eq!(segs.len(), 3, "{segs:?}");
    for seg in &segs {
        assert!(
            (seg.duration.as_secs_f64() - 2.0).abs() <= 1.0 / 24.0,
            "{:?}",
            seg.duration
        );
        assert!(seg.keyframe_start);
    }
    let info = s.media_info();
    let video = &info.codecs[0];
    assert!(
        ["avc1.64", "avc1.4d", "avc1.42"]
            .iter()
            .any(|p| video.starts_with(p)),
        "{video}"
    );
    assert_eq!(info.codecs[1], "mp4a.40.2");
    assert_eq!(info.resolution, Some((640, 360)));
    assert_eq!(s.stats().continuity_errors + s.stats().resyncs, 0);
}
