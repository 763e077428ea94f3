//! The LL-HLS tags (rfc8216bis §4.4): goldens in both directions, what an edge reads of a
//! playlist's progress, m3u8-rs reading the tags back, and the errors.

use super::*;

const DELTA: &str = include_str!("../../testdata/llhls_delta.m3u8");

fn part(uri: &str, duration: f64, independent: bool) -> PartialSegment {
    PartialSegment {
        uri: uri.to_owned(),
        duration,
        independent,
        ..PartialSegment::default()
    }
}

/// Apple's example of a low-latency playlist (fMP4 parts, two renditions reported).
#[test]
fn apple_style_playlist() {
    let ll = media(LLHLS);
    let want = MediaPlaylist {
        version: Some(9),
        target_duration: 4,
        media_sequence: 266,
        map_uri: Some("init.mp4".to_owned()),
        server_control: Some(ServerControl {
            can_block_reload: true,
            part_hold_back: Some(1.002),
            can_skip_until: Some(24.0),
            ..ServerControl::default()
        }),
        part_target: Some(0.334),
        segments: vec![
            MediaSegment {
                program_date_time: Some("2024-05-01T14:16:39.000Z".to_owned()),
                ..segment("fileSequence266.mp4", 4.00008)
            },
            MediaSegment {
                parts: vec![
                    part("filePart267.0.mp4", 0.33334, true),
                    part("filePart267.1.mp4", 0.33334, false),
                ],
                ..segment("fileSequence267.mp4", 4.00008)
            },
        ],
        open_segment: Some(OpenSegment {
            parts: vec![part("filePart268.0.mp4", 0.33334, true)],
            ..OpenSegment::default()
        }),
        preload_hints: vec![PreloadHint {
            hint_type: HintType::Part,
            uri: "filePart268.1.mp4".to_owned(),
            byte_range_start: None,
            byte_range_length: None,
        }],
        rendition_reports: ["1M", "4M"]
            .map(|r| RenditionReport {
                uri: format!("../{r}/waitForMSN.php"),
                last_msn: Some(267),
                last_part: Some(1),
            })
            .to_vec(),
        ..MediaPlaylist::default()
    };
    assert_eq!(ll, want);
    assert!(ll.is_live() && ll.can_block_reload());
    assert_eq!(ll.last_media_sequence(), Some(267));
    assert_eq!(ll.last_part(), Some(PartPosition { msn: 268, part: 0 }));
    assert_eq!(ll.skipped_segments(), 0);
    // `#EXTINF` is written with 3 decimals (4.00008 -> 4.000); every LL value is kept.
    let again = media(&ll.write());
    assert_eq!(again.write(), ll.write());
    let without_durations = |mut p: MediaPlaylist| {
        p.segments.iter_mut().for_each(|s| s.duration = 0.0);
        p
    };
    assert_eq!(without_durations(again), without_durations(ll));
}

/// A delta update as the packager writes it: byte for byte, and read back.
#[test]
fn delta_update_golden() {
    let delta = media(DELTA);
    assert_eq!(delta.write(), DELTA);
    assert_eq!(delta.skipped_segments(), 6);
    assert_eq!(delta.first_listed_media_sequence(), 106);
    assert_eq!(delta.last_media_sequence(), Some(107));
    assert_eq!(delta.last_part(), Some(PartPosition { msn: 108, part: 1 }));
    assert_eq!(delta.part_target, Some(0.5));
    let control = delta.server_control.as_ref().expect("server control");
    assert_eq!(control.can_skip_until, Some(12.0));
    assert_eq!(control.part_hold_back, Some(1.5));
    let open = delta.open_segment.as_ref().expect("open segment");
    assert!(open.discontinuity);
    assert_eq!(
        open.program_date_time.as_deref(),
        Some("2024-05-01T12:00:16.000Z")
    );
    assert_eq!(open.parts.len(), 2);
    assert_eq!(delta.segments[1].parts.len(), 6);
    let independent: Vec<bool> = delta.segments[1]
        .parts
        .iter()
        .map(|p| p.independent)
        .collect();
    assert_eq!(independent, [true, false, false, true, false, false]);
    assert_eq!(delta.preload_hints[0].uri, "part_108.2.ts");
    assert_eq!(delta.rendition_reports[0].last_msn, Some(108));
}

#[test]
fn last_part_of_a_completed_segment_and_of_none() {
    let mut delta = media(DELTA);
    delta.open_segment = None;
    assert_eq!(delta.last_part(), Some(PartPosition { msn: 107, part: 5 }));
    delta.segments[1].parts.clear();
    assert_eq!(delta.last_part(), None, "the last segment lists no part");
    assert_eq!(media(LIVE).last_part(), None);
    assert!(!media(LIVE).can_block_reload());
    assert!(PartPosition { msn: 7, part: 3 } < PartPosition { msn: 8, part: 0 });
}

#[test]
fn writes_every_optional_attribute() {
    let playlist = MediaPlaylist {
        target_duration: 2,
        server_control: Some(ServerControl {
            can_block_reload: true,
            can_skip_until: Some(12.0),
            can_skip_dateranges: true,
            hold_back: Some(6.0),
            part_hold_back: Some(1.5),
        }),
        skip: Some(Skip {
            skipped_segments: 3,
            recently_removed_dateranges: Some("a\tb".to_owned()),
        }),
        open_segment: Some(OpenSegment {
            parts: vec![PartialSegment {
                byte_range: Some("100@0".to_owned()),
                gap: true,
                ..part("p.ts", 0.25, true)
            }],
            ..OpenSegment::default()
        }),
        preload_hints: vec![PreloadHint {
            hint_type: HintType::Map,
            uri: "init.mp4".to_owned(),
            byte_range_start: Some(0),
            byte_range_length: Some(720),
        }],
        rendition_reports: vec![RenditionReport {
            uri: "../low/index.m3u8".to_owned(),
            ..RenditionReport::default()
        }],
        ..MediaPlaylist::default()
    };
    let want = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n\
        #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12,CAN-SKIP-DATERANGES=YES,\
        HOLD-BACK=6,PART-HOLD-BACK=1.5\n\
        #EXT-X-MEDIA-SEQUENCE:0\n\
        #EXT-X-SKIP:SKIPPED-SEGMENTS=3,RECENTLY-REMOVED-DATERANGES=\"a\tb\"\n\
        #EXT-X-PART:DURATION=0.25,URI=\"p.ts\",INDEPENDENT=YES,BYTERANGE=\"100@0\",GAP=YES\n\
        #EXT-X-PRELOAD-HINT:TYPE=MAP,URI=\"init.mp4\",BYTERANGE-START=0,BYTERANGE-LENGTH=720\n\
        #EXT-X-RENDITION-REPORT:URI=\"../low/index.m3u8\"\n";
    assert_eq!(playlist.write(), want);
    assert_eq!(media(want), playlist);
}

/// m3u8-rs knows no LL tag: it keeps them as unknown tags of the segment they precede, so
/// it reads the same segments, and each part's attributes as we wrote them.
#[test]
fn m3u8_rs_reads_the_parts() {
    let delta = media(DELTA);
    let text = delta.write();
    let Ok(m3u8_rs::Playlist::MediaPlaylist(theirs)) = m3u8_rs::parse_playlist_res(text.as_bytes())
    else {
        panic!("m3u8-rs cannot read\n{text}");
    };
    assert_eq!(theirs.segments.len(), delta.segments.len());
    let parts: Vec<String> = theirs.segments[1]
        .unknown_tags
        .iter()
        .filter(|t| t.tag == "X-PART")
        .filter_map(|t| t.rest.clone())
        .collect();
    let ours: Vec<String> = delta.segments[1]
        .parts
        .iter()
        .map(|p| p.to_string().trim_start_matches("#EXT-X-PART:").to_owned())
        .collect();
    assert_eq!(parts, ours);
    let skip = theirs.segments[0]
        .unknown_tags
        .iter()
        .find(|t| t.tag == "X-SKIP");
    assert_eq!(
        skip.and_then(|t| t.rest.as_deref()),
        Some("SKIPPED-SEGMENTS=6")
    );
}

#[test]
fn low_latency_errors_name_the_line_and_value() {
    let head = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n";
    let cases = [
        (
            "#EXT-X-PART:DURATION=0.5\n",
            "line 3: #EXT-X-PART lacks URI",
        ),
        (
            "#EXT-X-PART:URI=\"p.ts\"\n",
            "line 3: #EXT-X-PART lacks DURATION",
        ),
        (
            "#EXT-X-PART:DURATION=-1,URI=\"p.ts\"\n",
            "line 3: invalid DURATION `-1` in #EXT-X-PART",
        ),
        (
            "#EXT-X-PART:DURATION=1,URI=\"p.ts\",INDEPENDENT=yes\n",
            "line 3: invalid INDEPENDENT `yes` in #EXT-X-PART",
        ),
        (
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=soon\n",
            "line 3: invalid PART-HOLD-BACK `soon` in #EXT-X-SERVER-CONTROL",
        ),
        (
            "#EXT-X-PRELOAD-HINT:TYPE=SEGMENT,URI=\"s.ts\"\n",
            "line 3: invalid TYPE `SEGMENT` in #EXT-X-PRELOAD-HINT",
        ),
        (
            "#EXT-X-PRELOAD-HINT:TYPE=PART\n",
            "line 3: #EXT-X-PRELOAD-HINT lacks URI",
        ),
        (
            "#EXT-X-RENDITION-REPORT:URI=\"r\",LAST-MSN=-3\n",
            "line 3: invalid LAST-MSN `-3` in #EXT-X-RENDITION-REPORT",
        ),
        (
            "#EXT-X-SKIP:SKIPPED-SEGMENTS=many\n",
            "line 3: invalid SKIPPED-SEGMENTS `many` in #EXT-X-SKIP",
        ),
        (
            "#EXTINF:2,\na.ts\n#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n",
            "line 5: #EXT-X-SKIP after a media segment",
        ),
        (
            "#EXT-X-PART:DURATION=1,URI=\"p.ts\"\n#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n",
            "line 4: #EXT-X-SKIP after a media segment",
        ),
    ];
    for (body, want) in cases {
        let text = format!("{head}{body}");
        let error = Playlist::parse(text.as_bytes())
            .err()
            .map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some(want), "{text:?}");
    }
}

/// Tags of a segment still being produced are kept only with its parts: without a part
/// there is nothing to attach them to (as before LL-HLS).
#[test]
fn trailing_tags_without_parts_are_dropped() {
    let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n#EXT-X-DISCONTINUITY\n";
    assert_eq!(media(text).open_segment, None);
}

/// The token rewriter reaches every URI an LL playlist carries: segments, parts (also of
/// the segment being produced), the preload hint and the rendition reports.
#[test]
fn rewrite_uris_reaches_every_low_latency_uri() {
    let text = crate::hls::rewrite::rewrite_uris(DELTA, |uri| Some(format!("{uri}?t=1")));
    let tokenized = media(&text);
    let open = tokenized.open_segment.iter().flat_map(|o| o.parts.iter());
    let parts = tokenized.segments.iter().flat_map(|s| s.parts.iter());
    let uris: Vec<&str> = parts
        .chain(open)
        .map(|p| p.uri.as_str())
        .chain(tokenized.segments.iter().map(|s| s.uri.as_str()))
        .chain(tokenized.preload_hints.iter().map(|h| h.uri.as_str()))
        .chain(tokenized.rendition_reports.iter().map(|r| r.uri.as_str()))
        .collect();
    assert_eq!(uris.len(), 6 + 2 + 2 + 1 + 1);
    assert!(uris.iter().all(|u| u.ends_with("?t=1")), "{uris:?}");
    // nothing else changed
    assert_eq!(text.replace("?t=1", ""), DELTA);
    assert_eq!(tokenized.last_part(), media(DELTA).last_part());
}
