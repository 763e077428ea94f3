//! MPEG-2 transport stream reading without I/O (ISO/IEC 13818-1): bytes in,
//! packets and demultiplexed events out.
//!
//! Split by spec layer: `packet` (§2.4.3.2 header, §2.4.3.4 adaptation field,
//! PCR), `sync` (188-byte framing and resync), `section` (§2.4.4 PSI sections
//! and CRC_32), `psi` (PAT, PMT, stream types), `pes` (§2.4.3.6 PES packets,
//! PTS/DTS), `timestamp` (the 33-bit clock), `demux` (continuity counters,
//! routing by PID), `repeat` (the table packets a segment starts with),
//! `shift` (rewriting timestamps in place for looping sources). Cutting segments belongs to `segmenter`; reading codec
//! parameters to `codec`.

mod continuity;
mod demux;
mod packet;
mod pes;
mod psi;
mod repeat;
mod section;
mod shift;
mod sync;
mod timestamp;

#[cfg(test)]
pub(crate) mod builder;

pub use continuity::ContinuityStep;
pub use demux::DemuxEvent;
pub use packet::{AdaptationField, Packet, Pcr, Pid, PACKET_SIZE, SYNC_BYTE};
pub use pes::Pes;
pub use psi::{Pat, PatEntry, Pmt, PmtStream, StreamType};
pub use repeat::TableRepeater;
pub use shift::TimestampShifter;
pub use timestamp::Timestamp;

use demux::Demux;
use sync::PacketSync;

/// Counters over everything a reader has seen. Damage is counted, never fatal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TsStats {
    /// Whole packets framed (including ones whose header was then rejected).
    pub packets: u64,
    /// Input bytes received, garbage included.
    pub bytes: u64,
    /// Packets whose continuity_counter skipped (§2.4.3.3), i.e. lost packets.
    pub continuity_errors: u64,
    /// Times packet sync was lost and searched for again.
    pub resyncs: u64,
}

/// Why a packet, table or PES was skipped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    #[error("sync byte {0:#04x} is not 0x47")]
    SyncByte(u8),
    #[error("reserved adaptation_field_control '00'")]
    ReservedAdaptationControl,
    #[error("adaptation field length {0} overruns the packet")]
    AdaptationLength(u8),
    #[error("section of {0} bytes is malformed")]
    SectionLength(usize),
    #[error("unexpected table_id {0:#04x}")]
    TableId(u8),
    #[error("table not applicable yet (current_next_indicator 0)")]
    NotCurrent,
    #[error("PES packet does not start with 0x000001")]
    PesStartCode,
    #[error("malformed PES header")]
    PesHeader,
}

/// A transport stream reader: feed bytes in any chunking, get every packet
/// with the events (PAT, PMT, complete PES) it completed.
#[derive(Debug, Default)]
pub struct TsReader {
    sync: PacketSync,
    reading: Reading,
}

/// Everything after framing; apart from `sync` so both can be borrowed at once.
#[derive(Debug, Default)]
struct Reading {
    demux: Demux,
    stats: TsStats,
    /// Packets passed to `on_packet` so far: the numbering of `Pes::start_packet`.
    delivered: u64,
    events: Vec<DemuxEvent>,
}

impl TsReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `data`; `on_packet` gets each packet (raw and parsed) with the
    /// events it completed, which it may drain. A PES completed by a packet
    /// with `payload_unit_start_indicator` is reported with that packet, which
    /// already belongs to the next PES. Packets with a bad header are skipped.
    /// A packet is delivered once the next one's sync byte has arrived.
    pub fn push<F>(&mut self, data: &[u8], mut on_packet: F)
    where
        F: FnMut(&[u8; PACKET_SIZE], &Packet<'_>, &mut Vec<DemuxEvent>),
    {
        let Self { sync, reading } = self;
        reading.stats.bytes += data.len() as u64;
        sync.push(data, |raw| reading.read(raw, &mut on_packet));
        reading.stats.resyncs = sync.resyncs();
    }

    /// End of input: frames what is left, then returns the events completed by
    /// the end itself (the PES packets still in progress). The reader keeps the
    /// PAT and PMT and can read a following stream.
    pub fn finish<F>(&mut self, mut on_packet: F) -> Vec<DemuxEvent>
    where
        F: FnMut(&[u8; PACKET_SIZE], &Packet<'_>, &mut Vec<DemuxEvent>),
    {
        let Self { sync, reading } = self;
        sync.finish(|raw| reading.read(raw, &mut on_packet));
        reading.demux.finish(&mut reading.events);
        std::mem::take(&mut reading.events)
    }

    pub fn stats(&self) -> &TsStats {
        &self.reading.stats
    }

    /// The last PMT read, if any.
    pub fn pmt(&self) -> Option<&Pmt> {
        self.reading.demux.pmt()
    }
}

impl Reading {
    /// Counts and parses one framed packet, runs it through the demux and
    /// hands it to `on_packet`; a packet with a bad header stops after counting.
    fn read<F>(&mut self, raw: &[u8; PACKET_SIZE], on_packet: &mut F)
    where
        F: FnMut(&[u8; PACKET_SIZE], &Packet<'_>, &mut Vec<DemuxEvent>),
    {
        self.stats.packets += 1;
        let Ok(pkt) = Packet::parse(raw) else { return };
        self.demux
            .packet(&pkt, self.delivered, &mut self.stats, &mut self.events);
        self.delivered += 1;
        on_packet(raw, &pkt, &mut self.events);
        self.events.clear();
    }
}

#[cfg(test)]
mod tests;
