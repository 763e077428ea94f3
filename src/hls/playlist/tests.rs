//! Golden playlists (`src/hls/testdata/`), the exact writer layout, write -> parse round
//! trips (also through m3u8-rs, an independent reader) and the parse errors. The LL-HLS tags
//! have their own goldens in `tests/low_latency.rs`.

use proptest::prelude::*;

use super::*;

mod low_latency;

const LIVE: &str = include_str!("../testdata/live.m3u8");
const VOD: &str = include_str!("../testdata/vod.m3u8");
const EVENT: &str = include_str!("../testdata/event.m3u8");
const MULTIVARIANT: &str = include_str!("../testdata/multivariant.m3u8");
const LLHLS: &str = include_str!("../testdata/llhls.m3u8");

fn media(text: &str) -> MediaPlaylist {
    match Playlist::parse(text.as_bytes()) {
        Ok(Playlist::Media(media)) => media,
        other => panic!("expected a media playlist, got {other:?}"),
    }
}

fn segment(uri: &str, duration: f64) -> MediaSegment {
    MediaSegment {
        uri: uri.to_owned(),
        duration,
        ..MediaSegment::default()
    }
}

#[test]
fn live_sliding_window() {
    let live = media(LIVE);
    let pdt = |s: &str| Some(s.to_owned());
    let want = MediaPlaylist {
        version: Some(3),
        target_duration: 6,
        media_sequence: 2680,
        discontinuity_sequence: 4,
        segments: vec![
            MediaSegment {
                program_date_time: pdt("2024-05-01T12:00:00.000Z"),
                ..segment("seg_2680.ts", 6.006)
            },
            segment("seg_2681.ts", 6.006),
            MediaSegment {
                title: Some("ad break".to_owned()),
                discontinuity: true,
                program_date_time: pdt("2024-05-01T12:00:30.000+00:00"),
                ..segment("https://ads.example/seg_2682.ts", 5.005)
            },
        ],
        ..MediaPlaylist::default()
    };
    assert_eq!(live, want);
    assert!(live.is_live());
    assert_eq!(live.last_media_sequence(), Some(2682));
}

#[test]
fn crlf_bom_and_blank_lines_parse_the_same() {
    let crlf = format!("\u{feff}\r\n{}", LIVE.replace('\n', "\r\n\r\n"));
    assert_eq!(media(&crlf), media(LIVE));
}

#[test]
fn ended_vod() {
    let vod = media(VOD);
    let range = MediaSegment {
        byte_range: Some("1000000@1200".to_owned()),
        ..segment("main.mp4", 3.96)
    };
    let want = MediaPlaylist {
        version: Some(7),
        target_duration: 4,
        playlist_type: Some(PlaylistType::Vod),
        independent_segments: true,
        map_uri: Some("init.mp4".to_owned()),
        segments: vec![segment("main.mp4", 4.0), range],
        end_list: true,
        ..MediaPlaylist::default()
    };
    assert_eq!(vod, want);
    assert!(!vod.is_live());
}

#[test]
fn event_is_live_until_ended() {
    let mut event = media(EVENT);
    assert_eq!(event.playlist_type, Some(PlaylistType::Event));
    assert_eq!(event.segments.len(), 2);
    assert_eq!(event.last_media_sequence(), Some(1));
    assert!(event.is_live());
    event.end_list = true;
    assert!(!event.is_live());
}

#[test]
fn multivariant_with_audio_renditions() {
    let Ok(Playlist::Multivariant(master)) = Playlist::parse(MULTIVARIANT.as_bytes()) else {
        panic!("expected a multivariant playlist");
    };
    let want = MultivariantPlaylist {
        version: Some(6),
        independent_segments: true,
        variants: vec![
            VariantStream {
                uri: "v540/index.m3u8".to_owned(),
                bandwidth: 2_177_116,
                average_bandwidth: Some(2_000_000),
                codecs: Some("avc1.640020,mp4a.40.2".to_owned()),
                resolution: Some((960, 540)),
                frame_rate: Some(29.97),
            },
            VariantStream {
                uri: "v1080/index.m3u8".to_owned(),
                bandwidth: 6_214_307,
                codecs: Some("avc1.64002a,mp4a.40.2".to_owned()),
                resolution: Some((1920, 1080)),
                frame_rate: Some(60.0),
                ..VariantStream::default()
            },
            VariantStream {
                uri: "audio-only.m3u8".to_owned(),
                bandwidth: 64_000,
                codecs: Some("mp4a.40.2".to_owned()),
                ..VariantStream::default()
            },
        ],
    };
    assert_eq!(master, want);
    let again = Playlist::parse(master.write().as_bytes());
    assert_eq!(again, Ok(Playlist::Multivariant(want)));
}

#[test]
fn writes_the_documented_layout() {
    let playlist = MediaPlaylist {
        version: Some(6),
        target_duration: 2,
        media_sequence: 7,
        discontinuity_sequence: 1,
        playlist_type: Some(PlaylistType::Event),
        independent_segments: true,
        map_uri: Some("init.mp4".to_owned()),
        part_target: Some(0.5),
        segments: vec![
            segment("7.m4s", 2.002),
            MediaSegment {
                title: Some("t".to_owned()),
                discontinuity: true,
                program_date_time: Some("2024-05-01T00:00:00Z".to_owned()),
                byte_range: Some("10@0".to_owned()),
                ..segment("8.m4s", 1.5)
            },
        ],
        end_list: true,
        ..MediaPlaylist::default()
    };
    let want = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n\
        #EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-PART-INF:PART-TARGET=0.5\n#EXT-X-MAP:URI=\"init.mp4\"\n\
        #EXTINF:2.002,\n7.m4s\n\
        #EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2024-05-01T00:00:00Z\n\
        #EXT-X-BYTERANGE:10@0\n#EXTINF:1.500,t\n8.m4s\n#EXT-X-ENDLIST\n";
    assert_eq!(playlist.write(), want);
    assert_eq!(media(want), playlist);
    let bare = MediaPlaylist {
        target_duration: 6,
        ..MediaPlaylist::default()
    };
    assert_eq!(
        bare.write(),
        "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n"
    );
}

#[test]
fn golden_media_playlists_round_trip() {
    for text in [LIVE, VOD, EVENT] {
        let parsed = media(text);
        assert_eq!(media(&parsed.write()), parsed, "{text}");
        assert_readable_by_m3u8_rs(&parsed);
    }
}

/// m3u8-rs, an independent reader, sees the same segments in what `write` produced.
fn assert_readable_by_m3u8_rs(playlist: &MediaPlaylist) {
    let text = playlist.write();
    let theirs = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(theirs)) => theirs,
        other => panic!("m3u8-rs read {other:?} from\n{text}"),
    };
    assert_eq!(theirs.media_sequence, playlist.media_sequence);
    assert_eq!(theirs.target_duration, playlist.target_duration);
    assert_eq!(theirs.end_list, playlist.end_list);
    assert_eq!(theirs.segments.len(), playlist.segments.len());
    for (theirs, ours) in theirs.segments.iter().zip(&playlist.segments) {
        assert_eq!(theirs.uri, ours.uri);
        assert!(
            (f64::from(theirs.duration) - ours.duration).abs() < 1e-3,
            "{text}"
        );
    }
}

#[test]
fn errors_name_the_line_and_value() {
    let error = |text: &str| {
        Playlist::parse(text.as_bytes())
            .err()
            .map(|e| e.to_string())
    };
    let cases = [
        ("<html></html>", "playlist does not start with #EXTM3U"),
        ("", "playlist does not start with #EXTM3U"),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:six\n",
            "line 2: invalid #EXT-X-TARGETDURATION value `six`",
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:-1,\na.ts\n",
            "line 3: invalid #EXTINF value `-1,`",
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:6\na.ts\n",
            "line 3: uri `a.ts` has no #EXTINF before it",
        ),
        (
            "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:LIVE\n",
            "line 2: invalid #EXT-X-PLAYLIST-TYPE value `LIVE`",
        ),
        (
            "#EXTM3U\n#EXTINF:6,\na.ts\n",
            "media playlist lacks #EXT-X-TARGETDURATION",
        ),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:CODECS=\"a\"\nx.m3u8\n",
            "line 2: #EXT-X-STREAM-INF lacks BANDWIDTH",
        ),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=wide\nx\n",
            "line 2: invalid RESOLUTION `wide` in #EXT-X-STREAM-INF",
        ),
        (
            "#EXTM3U\nx.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1\n",
            "line 2: uri `x.m3u8` has no #EXT-X-STREAM-INF before it",
        ),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nx\n#EXTINF:4,\n",
            "line 4: media tag #EXTINF in a multivariant playlist",
        ),
        (
            "#EXTM3U\n#EXT-X-PART-INF:PART-TARGET=x\n",
            "line 2: invalid PART-TARGET `x` in #EXT-X-PART-INF",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(error(text).as_deref(), Some(want), "{text:?}");
    }
    let not_utf8 = Playlist::parse(b"#EXTM3U\n\xff");
    assert_eq!(not_utf8, Err(PlaylistError::NotUtf8 { offset: 8 }));
}

#[test]
fn tolerates_decimal_target_duration_and_unknown_tags() {
    let text = "#EXTM3U\n#EXT-X-TARGETDURATION:6.006\n#EXT-X-FUTURE:X=1\n#EXTINF:6\na.ts\n";
    let parsed = media(text);
    assert_eq!(parsed.target_duration, 7);
    assert_eq!(parsed.segments, [segment("a.ts", 6.0)]);
}

fn arb_segment() -> impl Strategy<Value = MediaSegment> {
    (
        "[a-z0-9_/]{1,12}\\.(ts|m4s)",
        0u32..60_000,
        proptest::option::of("[A-Za-z0-9,._-]{1,12}"),
        any::<bool>(),
        proptest::option::of("2024-05-0[1-9]T1[0-9]:00:0[0-9]\\.000Z"),
        proptest::option::of("[0-9]{1,6}(@[0-9]{1,6})?"),
        proptest::collection::vec(arb_part(), 0..4),
    )
        .prop_map(
            |(uri, millis, title, discontinuity, program_date_time, byte_range, parts)| {
                MediaSegment {
                    uri,
                    duration: f64::from(millis) / 1000.0,
                    title,
                    discontinuity,
                    program_date_time,
                    byte_range,
                    parts,
                }
            },
        )
}

fn arb_part() -> impl Strategy<Value = PartialSegment> {
    (
        "[a-z0-9_/.]{1,12}\\.(ts|m4s)",
        0.0f64..4.0,
        any::<bool>(),
        proptest::option::of("[0-9]{1,6}(@[0-9]{1,6})?"),
        any::<bool>(),
    )
        .prop_map(
            |(uri, duration, independent, byte_range, gap)| PartialSegment {
                uri,
                duration,
                independent,
                byte_range,
                gap,
            },
        )
}

/// The LL-HLS tags a media playlist may carry besides its segments' parts.
#[derive(Debug, Clone)]
struct LowLatencyTags {
    server_control: Option<ServerControl>,
    skip: Option<Skip>,
    open_segment: Option<OpenSegment>,
    preload_hints: Vec<PreloadHint>,
    rendition_reports: Vec<RenditionReport>,
}

fn arb_low_latency() -> impl Strategy<Value = LowLatencyTags> {
    let seconds = || proptest::option::of(0.0f64..100.0);
    let control = (
        any::<bool>(),
        seconds(),
        any::<bool>(),
        seconds(),
        seconds(),
    )
        .prop_map(
            |(can_block_reload, can_skip_until, can_skip_dateranges, hold_back, part_hold_back)| {
                ServerControl {
                    can_block_reload,
                    can_skip_until,
                    can_skip_dateranges,
                    hold_back,
                    part_hold_back,
                }
            },
        );
    let skip = (any::<u64>(), proptest::option::of("[a-z0-9\t]{1,12}")).prop_map(
        |(skipped_segments, recently_removed_dateranges)| Skip {
            skipped_segments,
            recently_removed_dateranges,
        },
    );
    let open = (
        any::<bool>(),
        proptest::option::of("2024-05-0[1-9]T1[0-9]:00:0[0-9]\\.000Z"),
        proptest::collection::vec(arb_part(), 1..4),
    )
        .prop_map(|(discontinuity, program_date_time, parts)| OpenSegment {
            discontinuity,
            program_date_time,
            parts,
        });
    let hint = (
        prop_oneof![Just(HintType::Part), Just(HintType::Map)],
        "[a-z0-9_.]{1,12}",
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(
            |(hint_type, uri, byte_range_start, byte_range_length)| PreloadHint {
                hint_type,
                uri,
                byte_range_start,
                byte_range_length,
            },
        );
    let report = (
        "[a-z0-9_./]{1,16}",
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(uri, last_msn, last_part)| RenditionReport {
            uri,
            last_msn,
            last_part,
        });
    (
        proptest::option::of(control),
        proptest::option::of(skip),
        proptest::option::of(open),
        proptest::collection::vec(hint, 0..3),
        proptest::collection::vec(report, 0..3),
    )
        .prop_map(
            |(server_control, skip, open_segment, preload_hints, rendition_reports)| {
                LowLatencyTags {
                    server_control,
                    skip,
                    open_segment,
                    preload_hints,
                    rendition_reports,
                }
            },
        )
}

fn arb_media_playlist() -> impl Strategy<Value = MediaPlaylist> {
    let header = (
        proptest::option::of(1u8..=12),
        0u64..100,
        any::<u64>(),
        any::<u64>(),
        proptest::option::of(prop_oneof![
            Just(PlaylistType::Event),
            Just(PlaylistType::Vod)
        ]),
        any::<bool>(),
    );
    let rest = (
        proptest::option::of("[a-z0-9_]{1,8}\\.mp4"),
        proptest::option::of(0.0f64..10.0),
        proptest::collection::vec(arb_segment(), 0..8),
        any::<bool>(),
        arb_low_latency(),
    );
    (header, rest).prop_map(|(header, rest)| MediaPlaylist {
        version: header.0,
        target_duration: header.1,
        media_sequence: header.2,
        discontinuity_sequence: header.3,
        playlist_type: header.4,
        independent_segments: header.5,
        map_uri: rest.0,
        part_target: rest.1,
        segments: rest.2,
        end_list: rest.3,
        server_control: rest.4.server_control,
        skip: rest.4.skip,
        open_segment: rest.4.open_segment,
        preload_hints: rest.4.preload_hints,
        rendition_reports: rest.4.rendition_reports,
    })
}

proptest! {
    #[test]
    fn media_playlist_write_then_parse_is_identity(playlist in arb_media_playlist()) {
        let written = playlist.write();
        prop_assert_eq!(Playlist::parse(written.as_bytes()), Ok(Playlist::Media(playlist.clone())));
        prop_assert_eq!(playlist.write(), written);
    }

    #[test]
    fn m3u8_rs_reads_what_we_write(mut playlist in arb_media_playlist()) {
        // m3u8-rs 6 reads `#EXTINF:2.000,a,b` as title `a` and a segment `b`, although
        // RFC 8216 §4.3.2.1 makes the whole rest of the line the title.
        for segment in &mut playlist.segments {
            segment.title = segment.title.take().map(|t| t.replace(',', "_"));
        }
        assert_readable_by_m3u8_rs(&playlist);
    }
}
