//! PSI section reassembly from TS packet payloads (ISO/IEC 13818-1 §2.4.4.1
//! `pointer_field`, §2.4.4.4 section header) and the section CRC_32 (Annex A).
//! Does not interpret tables (`psi` does).

/// §2.4.4.4: `section_length` of PSI tables is at most 1021; private sections
/// reach 4093. Anything longer is garbage.
const MAX_SECTION: usize = 4096;

/// Reassembles the sections carried on one PID.
#[derive(Debug, Default)]
pub(crate) struct SectionAssembler {
    buf: Vec<u8>,
    active: bool,
}

impl SectionAssembler {
    /// Feeds one packet's payload; complete sections whose CRC checks are
    /// appended to `done`.
    pub(crate) fn push(&mut self, unit_start: bool, payload: &[u8], done: &mut Vec<Vec<u8>>) {
        if unit_start {
            // §2.4.4.2: pointer_field counts the bytes that still belong to the
            // section in progress before the next section starts.
            let Some((&pointer, rest)) = payload.split_first() else {
                return;
            };
            let Some((tail, next)) = rest.split_at_checked(usize::from(pointer)) else {
                self.reset();
                return;
            };
            if self.active {
                self.buf.extend_from_slice(tail);
                self.drain_complete(done);
            }
            self.buf.clear();
            self.buf.extend_from_slice(next);
            self.active = true;
        } else if self.active {
            self.buf.extend_from_slice(payload);
        }
        self.drain_complete(done);
    }

    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.active = false;
    }

    fn drain_complete(&mut self, done: &mut Vec<Vec<u8>>) {
        while self.active && self.buf.len() >= 3 {
            // table_id 0xFF is stuffing: the rest of the packet is padding (§2.4.4.1).
            if self.buf[0] == 0xFF {
                return self.reset();
            }
            let len = 3 + (usize::from(self.buf[1] & 0x0F) << 8 | usize::from(self.buf[2]));
            if len > MAX_SECTION {
                return self.reset();
            }
            if self.buf.len() < len {
                return;
            }
            let section: Vec<u8> = self.buf.drain(..len).collect();
            // section_syntax_indicator set: the section ends with CRC_32.
            if section[1] & 0x80 == 0 || crc32_mpeg2(&section) == 0 {
                done.push(section);
            }
        }
    }
}

/// CRC_32 of Annex A: polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no
/// reflection, no final xor. Over a whole section including its CRC it is 0.
pub(crate) fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &b| {
        (crc << 8) ^ CRC_TABLE[usize::from((crc >> 24) as u8 ^ b)]
    })
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04C1_1DB7
            } else {
                c << 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    /// A PAT section for one program on PID 0x1000, as ffmpeg writes it.
    fn pat_section() -> Vec<u8> {
        let mut s = vec![
            0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00,
        ];
        let crc = crc32_mpeg2(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        s
    }

    #[test]
    fn crc_matches_a_known_pat() {
        assert_eq!(crc32_mpeg2(&pat_section()[..12]), 0x2AB1_04B2);
        assert_eq!(crc32_mpeg2(&pat_section()), 0);
    }

    #[test]
    fn section_split_across_packets_with_pointer_field() {
        let s = pat_section();
        let mut a = SectionAssembler::default();
        let mut done = Vec::new();
        let mut first = vec![0u8];
        first.extend_from_slice(&s[..5]);
        a.push(true, &first, &mut done);
        assert!(done.is_empty());
        let mut rest = s[5..].to_vec();
        rest.extend_from_slice(&[0xFF; 20]);
        a.push(false, &rest, &mut done);
        assert_eq!(done, vec![s]);
    }

    #[test]
    fn bad_crc_is_dropped_and_pointer_tail_completes() {
        let s = pat_section();
        let mut a = SectionAssembler::default();
        let mut done = Vec::new();
        a.push(true, &[&[0u8][..], &s[..10]].concat(), &mut done);
        // The next unit start carries the 6 missing bytes before a corrupt section.
        let mut bad = s.clone();
        bad[9] ^= 1;
        let payload = [&[6u8][..], &s[10..], &bad].concat();
        a.push(true, &payload, &mut done);
        assert_eq!(done, vec![s]);
    }
}
