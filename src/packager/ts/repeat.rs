//! The raw packets of the last complete PAT and PMT, kept so a cut point in
//! the stream (a segment start) can begin with them: a decoder joining there
//! needs both tables before any PES (ISO/IEC 13818-1 §2.4.4, PSI repeated in
//! the stream). Continuity counters are repeated as read, so the next table
//! packet in the stream follows on or duplicates one (allowed, §2.4.3.3).

use super::{DemuxEvent, Packet, Pid, PACKET_SIZE};

/// A table larger than this many packets is not kept whole.
const MAX_TABLE_PACKETS: usize = 16;

#[derive(Debug, Default)]
pub struct TableRepeater {
    pmt_pid: Option<Pid>,
    /// [PAT, PMT] packets since the last unit start on their PID.
    reading: [Vec<u8>; 2],
    /// [PAT, PMT] packets of the last complete section.
    last: [Vec<u8>; 2],
}

impl TableRepeater {
    /// Call with every packet, before handling the events it completed.
    pub fn packet(&mut self, raw: &[u8; PACKET_SIZE], pkt: &Packet<'_>) {
        let slot = match pkt.pid {
            Pid::PAT => 0,
            pid if Some(pid) == self.pmt_pid => 1,
            _ => return,
        };
        if pkt.payload_unit_start {
            self.reading[slot].clear();
        }
        if self.reading[slot].len() < MAX_TABLE_PACKETS * PACKET_SIZE {
            self.reading[slot].extend_from_slice(raw);
        }
    }

    /// Call with every event: a complete table makes its packets the ones to repeat.
    pub fn event(&mut self, event: &DemuxEvent) {
        match event {
            DemuxEvent::Pat(pat) => {
                self.last[0].clone_from(&self.reading[0]);
                self.pmt_pid = pat.first_pmt_pid();
            }
            DemuxEvent::Pmt(_) => self.last[1].clone_from(&self.reading[1]),
            DemuxEvent::Pes(_) => {}
        }
    }

    /// Bytes `write_to` appends.
    pub fn len(&self) -> usize {
        self.last[0].len() + self.last[1].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the PAT packets, then the PMT packets.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.last[0]);
        out.extend_from_slice(&self.last[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packager::ts::builder::{TsBuilder, VIDEO_PID};
    use crate::packager::ts::TsReader;

    #[test]
    fn repeats_the_last_complete_tables() {
        let mut b = TsBuilder::default();
        b.psi(&[(0x1B, VIDEO_PID)]);
        b.psi(&[(0x1B, VIDEO_PID), (0x0F, 0x101)]);
        let second = b.out[2 * PACKET_SIZE..].to_vec();
        // A PMT cut short: its first packet only, so it never completes.
        b.packet(0x1000, true, false, None, &[0, 0x02, 0xB0, 0xFF]);
        let mut reader = TsReader::new();
        let mut repeater = TableRepeater::default();
        reader.push(&b.out, |raw, pkt, events| {
            repeater.packet(raw, pkt);
            for e in events.iter() {
                repeater.event(e);
            }
        });
        let mut out = Vec::new();
        repeater.write_to(&mut out);
        assert_eq!(out, second);
        assert_eq!(repeater.len(), 2 * PACKET_SIZE);
    }
}
