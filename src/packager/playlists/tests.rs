//! Golden playlists, and the output read back by an independent parser (m3u8-rs).

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;

use super::*;
use crate::packager::store::{NewSegment, RenditionInfo};

mod low_latency;

const START_MS: u64 = 1_700_000_000_000; // 2023-11-14T22:13:20.000Z

/// A rendition with one segment per duration (ms), each starting where the previous ended.
fn rendition(durations_ms: &[u64], discontinuity_at: &[usize], size: usize) -> Rendition {
    let mut r = Rendition::default();
    let mut at = START_MS;
    for (i, ms) in durations_ms.iter().enumerate() {
        r.push(NewSegment {
            data: Bytes::from(vec![0x47; size]),
            duration: Duration::from_millis(*ms),
            program_date_time: UNIX_EPOCH + Duration::from_millis(at),
            discontinuity: discontinuity_at.contains(&i),
        });
        at += ms;
    }
    r
}

const GOLDEN_LIVE: &str = "\
#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:2
#EXT-X-DISCONTINUITY-SEQUENCE:1
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:24.000Z
#EXTINF:2.000,
seg_2.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:26.000Z
#EXTINF:2.000,
seg_3.ts
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:28.000Z
#EXTINF:1.960,
seg_4.ts
";

#[test]
fn golden_live_window() {
    let r = rendition(&[2000, 2000, 2000, 2000, 1960], &[1, 3], 188);
    let text = media(&r, 3, Duration::from_secs(2)).write();
    assert_eq!(text, GOLDEN_LIVE);

    let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes()).expect("m3u8-rs parses it");
    assert_eq!(parsed.version, Some(3));
    assert_eq!(parsed.target_duration, 2);
    assert_eq!(parsed.media_sequence, 2);
    assert_eq!(parsed.discontinuity_sequence, 1);
    assert!(!parsed.end_list);
    let uris: Vec<_> = parsed.segments.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(uris, ["seg_2.ts", "seg_3.ts", "seg_4.ts"]);
    assert!(parsed.segments[1].discontinuity && !parsed.segments[0].discontinuity);
    let pdt = parsed.segments[0]
        .program_date_time
        .expect("PROGRAM-DATE-TIME");
    assert_eq!(pdt.timestamp_millis() as u64, START_MS + 4000);
}

#[test]
fn window_slides_one_segment_at_a_time() {
    let mut r = rendition(&[2000; 6], &[], 188);
    let before = media(&r, 6, Duration::from_secs(2));
    r.push(NewSegment {
        data: Bytes::from_static(&[0x47; 188]),
        duration: Duration::from_secs(2),
        program_date_time: UNIX_EPOCH,
        discontinuity: false,
    });
    let after = media(&r, 6, Duration::from_secs(2));
    assert_eq!((before.media_sequence, after.media_sequence), (0, 1));
    assert_eq!(before.segments[1..], after.segments[..5]);
    assert_eq!(after.segments[5].uri, "seg_6.ts");
}

#[test]
fn ended_rendition_gets_endlist() {
    let mut r = rendition(&[2000, 2000], &[], 188);
    r.end();
    let text = media(&r, 6, Duration::from_secs(2)).write();
    assert!(text.ends_with("seg_1.ts\n#EXT-X-ENDLIST\n"), "{text}");
    let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes()).expect("parses");
    assert!(parsed.end_list);
}

#[test]
fn target_duration_is_the_longest_rounded_up_and_never_shrinks() {
    let floor = Duration::from_secs(2);
    assert_eq!(
        media(&rendition(&[2000, 2000], &[], 1), 6, floor).target_duration,
        2
    );
    assert_eq!(
        media(&rendition(&[2000, 2001], &[], 1), 6, floor).target_duration,
        3
    );
    // sub-millisecond excess is below the precision of #EXTINF and does not count
    let mut r = rendition(&[], &[], 1);
    r.push(NewSegment {
        data: Bytes::new(),
        duration: Duration::from_micros(2_000_400),
        program_date_time: UNIX_EPOCH,
        discontinuity: false,
    });
    assert_eq!(media(&r, 6, floor).target_duration, 2);
    // the 4.5 s segment slid out of a 2-segment window; the target stays 5
    let r = rendition(&[4500, 2000, 2000], &[], 1);
    let p = media(&r, 2, floor);
    assert_eq!((p.target_duration, p.segments.len()), (5, 2));
    // before any segment: the configured target
    assert_eq!(
        media(&Rendition::default(), 6, Duration::from_millis(1500)).target_duration,
        2
    );
}

#[test]
fn multivariant_lists_every_rendition_once_each_has_a_segment() {
    let id = GenerationId::for_test("g1");
    let mut renditions = BTreeMap::new();
    let mut hi = rendition(&[2000, 2000], &[], 125_000); // 500 kbit/s
    hi.set_info(RenditionInfo {
        codecs: vec!["avc1.64001e".into(), "mp4a.40.2".into()],
        resolution: Some((640, 360)),
        frame_rate: Some(25.0),
    });
    renditions.insert("360p".to_string(), hi);
    renditions.insert("180p".to_string(), Rendition::default());
    assert!(
        multivariant(&id, &renditions).is_none(),
        "180p has no segment yet"
    );

    renditions.insert("180p".to_string(), rendition(&[2000], &[], 50_000));
    let text = multivariant(&id, &renditions)
        .expect("both have segments")
        .write();
    assert_eq!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:3\n\
         #EXT-X-STREAM-INF:BANDWIDTH=200000,AVERAGE-BANDWIDTH=200000\ng1/180p/index.m3u8\n\
         #EXT-X-STREAM-INF:BANDWIDTH=500000,AVERAGE-BANDWIDTH=500000,CODECS=\"avc1.64001e,mp4a.40.2\",\
         RESOLUTION=640x360,FRAME-RATE=25.000\ng1/360p/index.m3u8\n"
    );
    let parsed = m3u8_rs::parse_master_playlist_res(text.as_bytes()).expect("m3u8-rs parses it");
    assert_eq!(parsed.variants.len(), 2);
    assert_eq!(parsed.variants[1].uri, "g1/360p/index.m3u8");
    assert_eq!(parsed.variants[1].bandwidth, 500_000);
    assert_eq!(
        parsed.variants[1].codecs.as_deref(),
        Some("avc1.64001e,mp4a.40.2")
    );
}

#[test]
fn program_date_time_format() {
    assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    let t = UNIX_EPOCH + Duration::from_millis(START_MS + 123);
    assert_eq!(rfc3339_millis(t), "2023-11-14T22:13:20.123Z");
    let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
    assert_eq!(rfc3339_millis(leap), "2000-02-29T00:00:00.000Z");
}
