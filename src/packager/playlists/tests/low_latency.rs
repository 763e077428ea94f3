//! The LL-HLS media playlist: golden text, a delta update, the hint and reports, read back
//! by our parser and by m3u8-rs.

use super::*;
use crate::hls::playlist::{PartPosition, Playlist};
use crate::packager::store::NewPart;

/// `segments` whole segments of 4 parts of 500 ms, then `open` parts of the next one.
fn ll_rendition(segments: usize, open: usize) -> Rendition {
    let mut r = Rendition::default();
    for i in 0..segments * 4 + open {
        let (segment, part) = (i / 4, i % 4);
        let start = UNIX_EPOCH + Duration::from_millis(START_MS + 2000 * segment as u64);
        r.push_part(NewPart {
            data: Bytes::from(vec![0x47; 188]),
            duration: Duration::from_millis(500),
            independent: part % 2 == 0,
            discontinuity: false,
            program_date_time: start,
            published_at: start,
        });
        if part == 3 && segment < segments {
            r.push(NewSegment {
                data: Bytes::from(vec![0x47; 188 * 4]),
                duration: Duration::from_secs(2),
                program_date_time: start,
                discontinuity: false,
            });
        }
    }
    r
}

fn view<'a>(delta: bool, others: Vec<(&'a str, &'a Rendition)>) -> LowLatencyView<'a> {
    LowLatencyView {
        window: 8,
        floor: Duration::from_secs(2),
        part_target: Duration::from_millis(500),
        delta,
        others,
    }
}

const GOLDEN_TAIL: &str = "\
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:30.000Z
#EXTINF:2.000,
seg_5.ts
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:32.000Z
#EXT-X-PART:DURATION=0.5,URI=\"part_6.0.ts\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI=\"part_6.1.ts\"
#EXT-X-PART:DURATION=0.5,URI=\"part_6.2.ts\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI=\"part_6.3.ts\"
#EXTINF:2.000,
seg_6.ts
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:34.000Z
#EXT-X-PART:DURATION=0.5,URI=\"part_7.0.ts\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI=\"part_7.1.ts\"
#EXT-X-PART:DURATION=0.5,URI=\"part_7.2.ts\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI=\"part_7.3.ts\"
#EXTINF:2.000,
seg_7.ts
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:36.000Z
#EXT-X-PART:DURATION=0.5,URI=\"part_8.0.ts\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI=\"part_8.1.ts\"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part_8.2.ts\"
#EXT-X-RENDITION-REPORT:URI=\"../180p/index.m3u8\",LAST-MSN=8,LAST-PART=0
";

#[test]
fn golden_low_latency_playlist() {
    let r = ll_rendition(8, 2);
    let low = ll_rendition(8, 1);
    let text = low_latency_media(&r, &view(false, vec![("180p", &low)])).write();
    let head = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n\
        #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12,PART-HOLD-BACK=1.5\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PART-INF:PART-TARGET=0.5\n\
        #EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n#EXTINF:2.000,\nseg_0.ts\n";
    assert!(text.starts_with(head), "{text}");
    assert!(text.ends_with(GOLDEN_TAIL), "{text}");
    // parts only for the last three target durations: segments 5.. have none listed
    assert_eq!(text.matches("#EXT-X-PART:").count(), 4 * 2 + 2);

    let Ok(Playlist::Media(parsed)) = Playlist::parse(text.as_bytes()) else {
        panic!("does not parse:\n{text}");
    };
    assert_eq!(parsed.write(), text);
    assert_eq!(parsed.last_media_sequence(), Some(7));
    assert_eq!(parsed.last_part(), Some(PartPosition { msn: 8, part: 1 }));
    assert!(parsed.can_block_reload());

    let theirs = m3u8_rs::parse_media_playlist_res(text.as_bytes()).expect("m3u8-rs reads it");
    assert_eq!(theirs.segments.len(), 8);
    assert_eq!(theirs.segments[7].uri, "seg_7.ts");
}

#[test]
fn delta_update_skips_what_ends_before_the_skip_boundary() {
    let r = ll_rendition(8, 2);
    let full = low_latency_media(&r, &view(false, vec![]));
    let delta = low_latency_media(&r, &view(true, vec![]));
    // 16 s listed, a 12 s boundary: the 2 segments ending 14 s and 12 s before the end
    assert_eq!(delta.skipped_segments(), 2);
    assert_eq!(delta.version, Some(9));
    assert_eq!(delta.media_sequence, full.media_sequence);
    assert_eq!(delta.segments[..], full.segments[2..]);
    assert_eq!(delta.last_part(), full.last_part());
    let (delta_text, full_text) = (delta.write(), full.write());
    assert!(delta_text.len() < full_text.len());
    assert!(delta_text.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=2\n"));
    let Ok(Playlist::Media(parsed)) = Playlist::parse(delta_text.as_bytes()) else {
        panic!("{delta_text}");
    };
    assert_eq!(parsed.last_media_sequence(), Some(7));
    assert!(m3u8_rs::parse_media_playlist_res(delta_text.as_bytes()).is_ok());

    // a window no longer than the boundary has nothing to skip: the full playlist
    let short = ll_rendition(5, 0);
    let not_delta = low_latency_media(&short, &view(true, vec![]));
    assert_eq!(not_delta.skip, None);
    assert_eq!(not_delta.version, Some(3));
}

#[test]
fn an_ended_rendition_has_no_hint_and_no_open_segment() {
    let mut r = ll_rendition(4, 2);
    r.end();
    let p = low_latency_media(&r, &view(false, vec![]));
    assert!(p.end_list && p.preload_hints.is_empty() && p.open_segment.is_none());
    assert_eq!(p.last_part(), Some(PartPosition { msn: 3, part: 3 }));
}

#[test]
fn a_segment_just_completed_hints_part_zero_of_the_next() {
    let r = ll_rendition(4, 0);
    let p = low_latency_media(&r, &view(false, vec![("x", &Rendition::default())]));
    assert_eq!(p.preload_hints[0].uri, "part_4.0.ts");
    assert_eq!(p.open_segment, None);
    assert_eq!(p.last_part(), Some(PartPosition { msn: 3, part: 3 }));
    // a rendition with nothing yet reports nothing
    assert_eq!(p.rendition_reports[0].last_msn, None);
    assert_eq!(p.rendition_reports[0].last_part, None);
}
