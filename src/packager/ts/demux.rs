//! Routing of parsed packets by PID: continuity counters (ISO/IEC 13818-1
//! §2.4.3.3), the PAT on PID 0, the PMT it points to, and PES reassembly for
//! every elementary stream the PMT lists (§2.4.4). Errors in the input are
//! counted or skipped, never fatal. Does not frame bytes (`sync`).

use super::pes::{PesAssembler, RawPes};
use super::section::SectionAssembler;
use super::{Packet, Pat, Pes, Pid, Pmt, TsStats};

/// What one packet completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DemuxEvent {
    Pat(Pat),
    Pmt(Pmt),
    Pes(Pes),
}

const CC_UNSEEN: u8 = 0xFF;

#[derive(Debug)]
pub(crate) struct Demux {
    /// Last continuity counter per PID.
    cc: Box<[u8; 0x2000]>,
    pat: SectionAssembler,
    pmt_pid: Option<Pid>,
    pmt_sections: SectionAssembler,
    pmt: Option<Pmt>,
    /// One assembler per elementary stream of the PMT.
    streams: Vec<(Pid, PesAssembler)>,
    sections: Vec<Vec<u8>>,
    done: Vec<RawPes>,
}

impl Default for Demux {
    fn default() -> Self {
        Self {
            cc: Box::new([CC_UNSEEN; 0x2000]),
            pat: SectionAssembler::default(),
            pmt_pid: None,
            pmt_sections: SectionAssembler::default(),
            pmt: None,
            streams: Vec::new(),
            sections: Vec::new(),
            done: Vec::new(),
        }
    }
}

impl Demux {
    pub(crate) fn pmt(&self) -> Option<&Pmt> {
        self.pmt.as_ref()
    }

    /// Processes one packet, numbered `index` by the reader.
    pub(crate) fn packet(
        &mut self,
        pkt: &Packet<'_>,
        index: u64,
        stats: &mut TsStats,
        out: &mut Vec<DemuxEvent>,
    ) {
        let fresh = self.continuity(pkt, stats);
        // A damaged or repeated packet adds nothing to payloads.
        let Some(payload) = pkt.payload.filter(|_| fresh && !pkt.transport_error) else {
            return;
        };
        if pkt.pid == Pid::PAT {
            self.on_pat(pkt.payload_unit_start, payload, out);
        } else if Some(pkt.pid) == self.pmt_pid {
            self.on_pmt(pkt.payload_unit_start, payload, out);
        } else if let Some(i) = self.streams.iter().position(|(pid, _)| *pid == pkt.pid) {
            let start = pkt.payload_unit_start.then(|| RawPes {
                data: Vec::new(),
                random_access: pkt.random_access(),
                start_packet: index,
            });
            self.streams[i].1.push(start, payload, &mut self.done);
            self.emit_pes(pkt.pid, out);
        }
    }

    /// End of input: PES packets in progress are emitted; the tables are
    /// kept, counters and partial data are reset for a new stream.
    pub(crate) fn finish(&mut self, out: &mut Vec<DemuxEvent>) {
        for i in 0..self.streams.len() {
            let pid = self.streams[i].0;
            self.done.extend(self.streams[i].1.finish());
            self.emit_pes(pid, out);
        }
        self.cc.fill(CC_UNSEEN);
        self.pat.reset();
        self.pmt_sections.reset();
    }

    /// §2.4.3.3: the counter increments by one per packet with payload on a
    /// PID; one duplicate is allowed; `discontinuity_indicator` excuses a jump.
    /// Returns false for a duplicate, whose payload must be ignored.
    fn continuity(&mut self, pkt: &Packet<'_>, stats: &mut TsStats) -> bool {
        if pkt.pid == Pid::NULL || pkt.payload.is_none() {
            return true;
        }
        let slot = &mut self.cc[usize::from(pkt.pid.get())];
        let prev = std::mem::replace(slot, pkt.continuity_counter);
        let excused = prev == CC_UNSEEN || pkt.adaptation.is_some_and(|af| af.discontinuity);
        if excused || pkt.continuity_counter == (prev + 1) & 0x0F {
            return true;
        }
        if pkt.continuity_counter == prev {
            return false;
        }
        stats.continuity_errors += 1;
        true
    }

    fn on_pat(&mut self, start: bool, payload: &[u8], out: &mut Vec<DemuxEvent>) {
        self.pat.push(start, payload, &mut self.sections);
        for section in self.sections.drain(..) {
            let Ok(pat) = Pat::parse(&section) else {
                continue;
            };
            let pmt_pid = pat.first_pmt_pid();
            if pmt_pid != self.pmt_pid {
                self.pmt_pid = pmt_pid;
                self.pmt_sections.reset();
            }
            out.push(DemuxEvent::Pat(pat));
        }
    }

    fn on_pmt(&mut self, start: bool, payload: &[u8], out: &mut Vec<DemuxEvent>) {
        self.pmt_sections.push(start, payload, &mut self.sections);
        for section in self.sections.drain(..) {
            let Ok(pmt) = Pmt::parse(&section) else {
                continue;
            };
            if self.pmt.as_ref() != Some(&pmt) {
                // Keep the assemblers of streams that stay, so a repeated or
                // extended PMT does not cut a PES in half.
                let mut old = std::mem::take(&mut self.streams);
                self.streams = pmt
                    .streams
                    .iter()
                    .map(|s| {
                        let kept = old
                            .iter()
                            .position(|(pid, _)| *pid == s.pid)
                            .map(|i| old.swap_remove(i).1);
                        (s.pid, kept.unwrap_or_default())
                    })
                    .collect();
                self.pmt = Some(pmt.clone());
            }
            out.push(DemuxEvent::Pmt(pmt));
        }
    }

    fn emit_pes(&mut self, pid: Pid, out: &mut Vec<DemuxEvent>) {
        let stream_type = self.pmt.as_ref().and_then(|p| p.stream_type(pid));
        for raw in self.done.drain(..) {
            let Some(stream_type) = stream_type else {
                continue;
            };
            match Pes::parse(pid, stream_type, raw) {
                Ok(pes) => out.push(DemuxEvent::Pes(pes)),
                Err(e) => tracing::debug!(pid = pid.get(), error = %e, "PES skipped"),
            }
        }
    }
}
