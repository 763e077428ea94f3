//! Keeping continuity counters continuous when a transport stream is played
//! again after itself (a looping source): the counters of the second pass
//! would restart where the file's start has them, which a demuxer reading the
//! passes back to back (a player across `EXT-X-DISCONTINUITY`) reports as
//! lost packets ("packet corrupt"). Each PID's counter is advanced by the
//! same step on every pass, so the seam reads as one continuous stream.

use std::collections::HashMap;

use super::packet::PACKET_SIZE;

/// Per-PID counter step of one pass over a stream (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContinuityStep {
    step: HashMap<u16, u8>,
}

impl ContinuityStep {
    /// Measures `data` (whole packets, in order): for each PID with payload,
    /// how far its counter must move for its first packet to follow its last.
    pub fn measure<'a>(data: impl IntoIterator<Item = &'a [u8]>) -> ContinuityStep {
        let mut first_last: HashMap<u16, (u8, u8)> = HashMap::new();
        for chunk in data {
            for pkt in chunk.chunks_exact(PACKET_SIZE) {
                let Some((pid, cc)) = counted(pkt) else {
                    continue;
                };
                first_last
                    .entry(pid)
                    .and_modify(|fl| fl.1 = cc)
                    .or_insert((cc, cc));
            }
        }
        let step = first_last
            .into_iter()
            .map(|(pid, (first, last))| (pid, last.wrapping_add(1).wrapping_sub(first) & 0x0F))
            .collect();
        ContinuityStep { step }
    }

    /// Rewrites the counters of `buf` for pass number `pass` (0: unchanged).
    pub fn apply(&self, buf: &mut [u8], pass: u64) {
        let turns = (pass % 16) as u8;
        if turns == 0 {
            return;
        }
        for pkt in buf.chunks_exact_mut(PACKET_SIZE) {
            if pkt[0] != super::SYNC_BYTE {
                continue;
            }
            let pid = pid_of(pkt);
            if let Some(step) = self.step.get(&pid) {
                let cc = pkt[3] & 0x0F;
                let moved = cc.wrapping_add(step.wrapping_mul(turns)) & 0x0F;
                pkt[3] = (pkt[3] & 0xF0) | moved;
            }
        }
    }
}

fn pid_of(pkt: &[u8]) -> u16 {
    (u16::from(pkt[1] & 0x1F) << 8) | u16::from(pkt[2])
}

/// The PID and counter of a packet whose counter counts (it has a payload;
/// the null PID never counts).
fn counted(pkt: &[u8]) -> Option<(u16, u8)> {
    if pkt[0] != super::SYNC_BYTE {
        return None;
    }
    let pid = pid_of(pkt);
    let has_payload = pkt[3] & 0x10 != 0;
    (has_payload && pid != 0x1FFF).then_some((pid, pkt[3] & 0x0F))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pid: u16, cc: u8) -> [u8; PACKET_SIZE] {
        let mut p = [0xFFu8; PACKET_SIZE];
        p[0] = 0x47;
        p[1] = (pid >> 8) as u8 & 0x1F;
        p[2] = pid as u8;
        p[3] = 0x10 | (cc & 0x0F);
        p
    }

    fn stream(pid_ccs: &[(u16, u8)]) -> Vec<u8> {
        pid_ccs
            .iter()
            .flat_map(|&(pid, cc)| packet(pid, cc))
            .collect()
    }

    fn ccs(buf: &[u8], pid: u16) -> Vec<u8> {
        buf.chunks_exact(PACKET_SIZE)
            .filter(|p| pid_of(p) == pid)
            .map(|p| p[3] & 0x0F)
            .collect()
    }

    #[test]
    fn every_pass_continues_the_previous_one() {
        // PID 256 counts 3..=7 (5 packets), PID 257 counts 14, 15, 0
        let file = stream(&[
            (256, 3),
            (257, 14),
            (256, 4),
            (256, 5),
            (257, 15),
            (256, 6),
            (257, 0),
            (256, 7),
        ]);
        let step = ContinuityStep::measure([file.as_slice()]);
        let mut all = Vec::new();
        for pass in 0..40u64 {
            let mut copy = file.clone();
            step.apply(&mut copy, pass);
            all.extend(copy);
        }
        for pid in [256, 257] {
            let seen = ccs(&all, pid);
            for pair in seen.windows(2) {
                assert_eq!(pair[1], (pair[0] + 1) & 0x0F, "pid {pid}: {seen:?}");
            }
        }
    }

    #[test]
    fn pass_zero_and_foreign_pids_are_left_alone() {
        let file = stream(&[(256, 1), (256, 2)]);
        let step = ContinuityStep::measure([file.as_slice()]);
        let mut copy = file.clone();
        step.apply(&mut copy, 0);
        assert_eq!(copy, file);
        let mut other = stream(&[(300, 9)]);
        step.apply(&mut other, 3);
        assert_eq!(ccs(&other, 300), vec![9]);
    }
}
