//! Partial segments (LL-HLS): where parts are cut, that they add up to their segment, and
//! that each is handed out as soon as it is cut.

use super::*;

/// Cuts `ts` with a 2 s target and `part_ms` parts, fed in `chunk`-byte pieces.
fn cuts(ts: &[u8], part_ms: u64, chunk: usize) -> Vec<Cut> {
    let mut s = Segmenter::new(SegmenterConfig {
        target_duration: Duration::from_secs(2),
        part_target: Some(Duration::from_millis(part_ms)),
    });
    let mut out: Vec<Cut> = ts.chunks(chunk).flat_map(|c| s.push_cuts(c)).collect();
    out.extend(s.finish_cuts());
    out
}

fn segments(cuts: &[Cut]) -> Vec<&Segment> {
    cuts.iter()
        .filter_map(|c| match c {
            Cut::Segment(s) => Some(s),
            Cut::Part(_) => None,
        })
        .collect()
}

fn frames(part: &Part) -> u128 {
    (part.duration.as_nanos() * 9 / 100_000 + u128::from(FRAME) / 2) / u128::from(FRAME)
}

#[test]
fn parts_join_into_their_segment_and_add_up_to_it() {
    let mut b = TsBuilder::default();
    b.av(0, 0..24 * 7, 24, true);
    let out = cuts(&b.out, 500, 188 * 7);
    let segs = segments(&out);
    assert_eq!(segs.len(), 4, "3 whole segments and the tail");
    for seg in &segs[..3] {
        assert_eq!(seg.duration, Duration::from_secs(2));
        let joined: Vec<u8> = seg.parts.iter().flat_map(|p| p.data.to_vec()).collect();
        assert_eq!(joined, seg.data.to_vec());
        let total: Duration = seg.parts.iter().map(|p| p.duration).sum();
        assert_eq!(total, seg.duration);
        // 24 frames a GOP, 12 at most a part: two parts a GOP, each starting one
        let sizes: Vec<u128> = seg.parts.iter().map(frames).collect();
        assert_eq!(sizes, [12, 12, 12, 12]);
        let independent: Vec<bool> = seg.parts.iter().map(|p| p.independent).collect();
        assert_eq!(independent, [true, false, true, false]);
        for (i, p) in seg.parts.iter().enumerate() {
            assert_eq!(p.index, i);
            assert_eq!(p.data.len() % PACKET_SIZE, 0);
        }
    }
}

#[test]
fn a_gop_is_cut_into_even_parts_of_at_most_the_target() {
    // 25 frames a GOP (at 24 fps), 500 ms parts hold 12 frames at most
    let mut b = TsBuilder::default();
    b.av(0, 0..25 * 8, 25, true);
    let out = cuts(&b.out, 500, 4096);
    let segs = segments(&out);
    for part in segs.iter().flat_map(|s| s.parts.iter()) {
        assert!(part.duration <= Duration::from_millis(500), "{part:?}");
    }
    // the first GOP has no GOP before it to measure: cut greedily
    let first: Vec<u128> = segs[0].parts.iter().map(frames).collect();
    assert_eq!(first, [12, 12, 1, 8, 9, 8]);
    let second: Vec<u128> = segs[1].parts.iter().map(frames).collect();
    assert_eq!(second, [8, 9, 8, 8, 9, 8]);
    let independent: Vec<bool> = segs[1].parts.iter().map(|p| p.independent).collect();
    assert_eq!(independent, [true, false, false, true, false, false]);
}

#[test]
fn a_known_gop_puts_the_first_gop_on_the_grid_too() {
    let mut b = TsBuilder::default();
    b.av(0, 0..25 * 4, 25, true);
    let mut s = Segmenter::new(SegmenterConfig {
        target_duration: Duration::from_secs(2),
        part_target: Some(Duration::from_millis(500)),
    });
    s.expect_gop(Duration::from_millis(25 * 1000 / 24));
    let segs = s.push(&b.out);
    let first: Vec<u128> = segs[0].parts.iter().map(frames).collect();
    assert_eq!(first, [8, 9, 8, 8, 9, 8]);
}

#[test]
fn independent_parts_start_with_the_tables_then_the_keyframe() {
    let mut b = TsBuilder::default();
    b.av(0, 0..24 * 5, 24, true);
    let out = cuts(&b.out, 500, 188 * 3);
    for part in segments(&out).iter().flat_map(|s| s.parts.iter()) {
        let first = header(&part.data, 0);
        if part.independent {
            assert_eq!(first.0, 0, "PAT first");
            assert_eq!(header(&part.data, 1).0, PMT_PID, "then PMT");
            assert_eq!(
                header(&part.data, 2),
                (VIDEO_PID, true, true),
                "then the keyframe"
            );
        } else {
            assert_ne!(first.0, 0, "no tables where no player starts");
        }
    }
}

#[test]
fn each_part_is_handed_out_before_its_segment_is_complete() {
    let mut b = TsBuilder::default();
    b.av(0, 0..24 * 5, 24, true);
    let out = cuts(&b.out, 500, 188);
    let mut expected_index = 0;
    let mut parts_since_segment = Vec::new();
    for cut in &out {
        match cut {
            Cut::Part(p) => {
                assert_eq!(p.index, expected_index, "parts in order");
                expected_index += 1;
                parts_since_segment.push(p.clone());
            }
            Cut::Segment(s) => {
                assert_eq!(
                    s.parts, parts_since_segment,
                    "the segment right after its last part"
                );
                parts_since_segment.clear();
                expected_index = 0;
            }
        }
    }
    assert!(parts_since_segment.is_empty());

    // fed as it would arrive: half a second in, a part is out and no segment
    let mut s = Segmenter::new(SegmenterConfig {
        target_duration: Duration::from_secs(2),
        part_target: Some(Duration::from_millis(500)),
    });
    let at = b.out.len() * 15 / 120 / PACKET_SIZE * PACKET_SIZE;
    let early = s.push_cuts(&b.out[..at]);
    assert!(
        matches!(early.as_slice(), [Cut::Part(p)] if p.index == 0),
        "{early:?}"
    );
}

#[test]
fn audio_only_parts_are_all_independent() {
    let mut b = TsBuilder::default();
    b.audio_only(0, 250);
    let out = cuts(&b.out, 500, 1000);
    let segs = segments(&out);
    for seg in &segs[..2] {
        assert!(seg.parts.len() >= 4);
        assert!(seg
            .parts
            .iter()
            .all(|p| p.independent && p.duration <= Duration::from_millis(500)));
        let total: Duration = seg.parts.iter().map(|p| p.duration).sum();
        // each duration is rounded down to the nanosecond on its own
        assert!(seg.duration - total < Duration::from_nanos(seg.parts.len() as u64));
    }
}

#[test]
fn without_a_part_target_there_are_no_parts() {
    let mut s = Segmenter::new(SegmenterConfig::default());
    let mut b = TsBuilder::default();
    b.av(0, 0..24 * 5, 24, true);
    let mut out = s.push_cuts(&b.out);
    out.extend(s.finish_cuts());
    assert!(out
        .iter()
        .all(|c| matches!(c, Cut::Segment(s) if s.parts.is_empty())));
    assert_eq!(out.len(), 3);
}

#[test]
fn a_discontinuity_marks_the_parts_of_its_segment() {
    let mut b = TsBuilder::default();
    b.av(0, 0..24 * 3, 24, true);
    b.av(50 * Timestamp::HZ, 0..24 * 3, 24, true);
    let out = cuts(&b.out, 500, 4096);
    let segs = segments(&out);
    let jumped = segs
        .iter()
        .position(|s| s.discontinuity)
        .expect("a discontinuity");
    assert!(segs[jumped].parts.iter().all(|p| p.discontinuity));
    assert!(segs[..jumped]
        .iter()
        .all(|s| s.parts.iter().all(|p| !p.discontinuity)));
}
