//! Rewriting the clock of transport stream packets in place: PTS and DTS in
//! PES headers (ISO/IEC 13818-1 §2.4.3.7) and PCR/OPCR bases in adaptation
//! fields (§2.4.3.5), all shifted by one offset modulo 2^33. A looping file
//! source uses it so timestamps keep increasing across loops instead of
//! jumping back (which a segmenter would read as a source restart).

use super::packet::{Packet, Pcr, Pid, PACKET_SIZE};
use super::pes::header_layout;
use super::Timestamp;

/// Adds a fixed offset (90 kHz units) to every PTS, DTS, PCR base and OPCR
/// base of the packets it is given.
///
/// Stateless: each packet is rewritten on its own. A PES header is found in a
/// packet with `payload_unit_start_indicator` whose payload starts with the
/// PES start code (PID 0 and the null PID are never touched); its PTS/DTS must
/// lie inside that first packet, as every muxer writes them. The PCR
/// extension (27 MHz remainder) is kept, so PCR and PTS stay in step.
///
/// For a loop: `offset = loop_count * (last PTS + frame duration - first PTS)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampShifter {
    offset: u64,
}

impl TimestampShifter {
    pub fn new(offset_90k: u64) -> Self {
        Self {
            offset: offset_90k % Timestamp::MODULUS,
        }
    }

    /// Rewrites whole packets in `buf`; a trailing partial packet and packets
    /// without the sync byte are left as they are.
    pub fn shift_packets(&self, buf: &mut [u8]) {
        for pkt in buf.chunks_exact_mut(PACKET_SIZE) {
            if let Ok(pkt) = <&mut [u8; PACKET_SIZE]>::try_from(pkt) {
                self.shift_packet(pkt);
            }
        }
    }

    pub fn shift_packet(&self, pkt: &mut [u8; PACKET_SIZE]) {
        let Some(fields) = locate(pkt) else { return };
        for at in fields.pcr.into_iter().flatten() {
            if let Some(pcr) = Pcr::read(&pkt[at..]) {
                Pcr::write_base(pcr.base.wrapping_add(self.offset), &mut pkt[at..]);
            }
        }
        for at in fields.pes.into_iter().flatten() {
            if let Some(ts) = Timestamp::read_pes(&pkt[at..]) {
                ts.wrapping_add(self.offset).write_pes(&mut pkt[at..]);
            }
        }
    }
}

/// Offsets of the clock fields in one packet.
struct Fields {
    pcr: [Option<usize>; 2],
    pes: [Option<usize>; 2],
}

fn locate(pkt: &[u8; PACKET_SIZE]) -> Option<Fields> {
    let parsed = Packet::parse(pkt).ok()?;
    let af = parsed.adaptation.unwrap_or_default();
    let mut fields = Fields {
        pcr: [af.pcr_at, af.opcr_at],
        pes: [None, None],
    };
    let payload = parsed.payload.filter(|_| parsed.payload_unit_start);
    if let Some(payload) = payload.filter(|_| parsed.pid != Pid::PAT && parsed.pid != Pid::NULL) {
        if let Ok(layout) = header_layout(payload) {
            let base = PACKET_SIZE - payload.len();
            fields.pes = [
                layout.pts_at.map(|at| base + at),
                layout.dts_at.map(|at| base + at),
            ];
        }
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packager::ts::builder::{pes_bytes, TsBuilder};
    use crate::packager::ts::{DemuxEvent, TsReader};
    use proptest::prelude::*;

    /// PTS, DTS of every PES and every PCR base, in stream order.
    fn clocks(ts: &[u8]) -> Vec<u64> {
        let mut reader = TsReader::new();
        let mut seen = Vec::new();
        let mut on_packet =
            |_: &[u8; PACKET_SIZE], pkt: &Packet<'_>, events: &mut Vec<DemuxEvent>| {
                seen.extend(pkt.adaptation.and_then(|af| af.pcr).map(|p| p.base.get()));
                for e in events.drain(..) {
                    if let DemuxEvent::Pes(p) = e {
                        seen.extend([p.pts, p.dts].into_iter().flatten().map(Timestamp::get));
                    }
                }
            };
        reader.push(ts, &mut on_packet);
        for e in reader.finish(&mut on_packet) {
            if let DemuxEvent::Pes(p) = e {
                seen.extend([p.pts, p.dts].into_iter().flatten().map(Timestamp::get));
            }
        }
        seen
    }

    fn stream(pts: u64) -> Vec<u8> {
        let mut b = TsBuilder::default();
        b.psi(&[(0x1B, 0x100), (0x0F, 0x101)]);
        let video = pes_bytes(
            0xE0,
            pts + 3600,
            Some(pts),
            &[0, 0, 1, 0x65, 1, 2, 3],
            false,
        );
        b.pes(0x100, &video, true, Some(pts - 900));
        b.pes(
            0x101,
            &pes_bytes(0xC0, pts, None, &[0xAA; 400], true),
            false,
            None,
        );
        b.out
    }

    proptest! {
        #[test]
        fn shift_then_read_back(pts in 1000u64..Timestamp::MODULUS - 5000, offset in 0u64..(1 << 40)) {
            let mut ts = stream(pts);
            let before = clocks(&ts);
            prop_assert_eq!(before.len(), 4);
            TimestampShifter::new(offset).shift_packets(&mut ts);
            let after = clocks(&ts);
            let expected: Vec<u64> = before.iter().map(|&v| Timestamp::wrapping(v + offset).get()).collect();
            prop_assert_eq!(&after, &expected);
            let back = (Timestamp::MODULUS - offset % Timestamp::MODULUS) % Timestamp::MODULUS;
            TimestampShifter::new(back).shift_packets(&mut ts);
            prop_assert_eq!(ts, stream(pts), "shifting back restores every byte");
        }
    }
}
