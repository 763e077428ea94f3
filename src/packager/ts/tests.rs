//! Reader-level tests: synthetic streams through framing, demux and PES
//! reassembly together.

use super::builder::{pes_bytes, TsBuilder, AUDIO_PID, VIDEO_PID};
use super::*;

/// Every event of `ts` fed in `chunk`-byte pieces, plus the final stats.
fn read(ts: &[u8], chunk: usize) -> (Vec<DemuxEvent>, TsStats) {
    let mut reader = TsReader::new();
    let mut events = Vec::new();
    for piece in ts.chunks(chunk.max(1)) {
        reader.push(piece, |_, _, ev| events.append(ev));
    }
    let last = reader.finish(|_, _, ev| events.append(ev));
    events.extend(last);
    (events, *reader.stats())
}

fn pes_of(events: &[DemuxEvent]) -> Vec<&Pes> {
    events
        .iter()
        .filter_map(|e| {
            if let DemuxEvent::Pes(p) = e {
                Some(p)
            } else {
                None
            }
        })
        .collect()
}

fn av_builder() -> TsBuilder {
    let mut b = TsBuilder::default();
    b.psi(&[(0x1B, VIDEO_PID), (0x0F, AUDIO_PID), (0x15, 0x102)]);
    b
}

#[test]
fn pes_split_across_many_packets_is_reassembled() {
    let mut b = av_builder();
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 | 0x02).collect();
    b.pes(
        VIDEO_PID,
        &pes_bytes(0xE0, 9000, None, &payload, false),
        false,
        None,
    );
    b.pes(
        VIDEO_PID,
        &pes_bytes(0xE0, 12750, None, &payload[..10], false),
        false,
        None,
    );
    let (events, stats) = read(&b.out, 1000);
    assert!(matches!(&events[0], DemuxEvent::Pat(p) if p.programs.len() == 1));
    let DemuxEvent::Pmt(pmt) = &events[1] else {
        panic!("PMT second: {events:?}")
    };
    assert_eq!(
        pmt.streams[2].stream_type,
        StreamType::Other(0x15),
        "other types recorded"
    );
    let pes = pes_of(&events);
    assert_eq!(pes.len(), 2);
    assert_eq!(pes[0].payload(), &payload[..]);
    assert_eq!(pes[0].pts, Timestamp::new(9000));
    assert_eq!(pes[0].start_packet, 2, "after PAT and PMT packets");
    assert_eq!(
        pes[1].payload(),
        &payload[..10],
        "last PES completed by the end of input"
    );
    assert_eq!(stats.packets as usize, b.out.len() / PACKET_SIZE);
    assert_eq!((stats.continuity_errors, stats.resyncs), (0, 0));
}

#[test]
fn unit_start_completes_the_previous_pes_in_the_same_event_batch() {
    let mut b = av_builder();
    b.pes(
        VIDEO_PID,
        &pes_bytes(0xE0, 100, None, &[1; 400], false),
        true,
        Some(50),
    );
    let first_packets = b.out.len() / PACKET_SIZE;
    b.pes(
        VIDEO_PID,
        &pes_bytes(0xE0, 200, None, &[2; 10], false),
        false,
        None,
    );
    // A packet is delivered once the next one's sync byte confirms it.
    b.packet(0x1FFF, false, false, None, &[0xFF; 184]);
    let mut reader = TsReader::new();
    let mut completed_at = Vec::new();
    let mut index = 0;
    reader.push(&b.out, |_, pkt, ev| {
        for e in ev.drain(..) {
            if let DemuxEvent::Pes(p) = e {
                completed_at.push((index, pkt.payload_unit_start, p.pts, p.random_access));
            }
        }
        index += 1;
    });
    assert_eq!(
        completed_at,
        vec![(first_packets, true, Timestamp::new(100), true)]
    );
}

#[test]
fn payload_before_the_first_unit_start_is_ignored() {
    let mut b = av_builder();
    b.packet(VIDEO_PID, false, false, None, &[7; 184]);
    b.pes(
        AUDIO_PID,
        &pes_bytes(0xC0, 5, None, &[0xFF, 0xF1, 0, 0], true),
        false,
        None,
    );
    let (events, _) = read(&b.out, 188);
    let pes = pes_of(&events);
    assert_eq!(pes.len(), 1);
    assert_eq!(pes[0].pid.get(), AUDIO_PID);
    assert!(pes[0].keyframe, "audio PES are random access points");
}

#[test]
fn continuity_errors_are_counted_not_fatal() {
    let mut b = av_builder();
    let payload = vec![0x55; 184 * 5];
    b.pes(
        VIDEO_PID,
        &pes_bytes(0xE0, 100, None, &payload, false),
        false,
        None,
    );
    let at = b.out.len();
    b.pes(
        VIDEO_PID,
        &pes_bytes(0xE0, 200, None, &payload, false),
        false,
        None,
    );
    b.pes(
        VIDEO_PID,
        &pes_bytes(0xE0, 300, None, &[1], false),
        false,
        None,
    );
    let mut ts = b.out.clone();
    // Lose one packet in the middle of the second PES; repeat one of the first.
    ts.drain(at + 2 * PACKET_SIZE..at + 3 * PACKET_SIZE);
    let dup = ts[at - PACKET_SIZE..at].to_vec();
    ts.splice(at..at, dup);
    let (events, stats) = read(&ts, 4096);
    assert_eq!(stats.continuity_errors, 1);
    let pes = pes_of(&events);
    assert_eq!(pes.len(), 3, "PES after the loss still read");
    assert_eq!(
        pes[0].payload().len(),
        payload.len(),
        "duplicate packet not appended twice"
    );
    assert_eq!(pes[1].payload().len(), payload.len() - 184);
}

#[test]
fn resync_after_garbage() {
    let mut b = av_builder();
    b.pes(
        AUDIO_PID,
        &pes_bytes(0xC0, 1, None, &[0xFF, 0xF1], true),
        false,
        None,
    );
    let at = b.out.len();
    b.pes(
        AUDIO_PID,
        &pes_bytes(0xC0, 2, None, &[0xFF, 0xF1], true),
        false,
        None,
    );
    b.pes(
        AUDIO_PID,
        &pes_bytes(0xC0, 3, None, &[0xFF, 0xF1], true),
        false,
        None,
    );
    let mut ts = b.out.clone();
    ts.splice(at..at, [0x47, 0x00, 0x47, 0x12, 0x34]);
    for chunk in [1, 7, 188, 10_000] {
        let (events, stats) = read(&ts, chunk);
        let pts: Vec<_> = pes_of(&events)
            .iter()
            .filter_map(|p| p.pts)
            .map(Timestamp::get)
            .collect();
        assert_eq!(pts, vec![1, 2, 3], "chunk {chunk}");
        assert_eq!((stats.resyncs, stats.continuity_errors), (1, 0));
        assert_eq!(stats.bytes as usize, ts.len());
    }
}
