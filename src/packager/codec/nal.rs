//! NAL units in Annex B byte streams (ITU-T H.264 Annex B, H.265 Annex B):
//! start-code scanning, NAL unit types, keyframe detection, and removal of
//! emulation prevention bytes (H.264 §7.4.1, H.265 §7.4.2). Does not parse
//! parameter sets (`h264`, `h265`).

/// Iterator over the NAL units of an Annex B stream, start codes removed.
pub struct AnnexB<'a> {
    data: &'a [u8],
    /// Start of the next NAL unit's payload, if one was found.
    next: Option<usize>,
}

/// Splits `data` at `00 00 01` start codes (a 4-byte `00 00 00 01` leaves a
/// trailing zero on the previous unit, which is trimmed).
pub fn annex_b(data: &[u8]) -> AnnexB<'_> {
    AnnexB {
        data,
        next: find_start(data, 0),
    }
}

impl<'a> Iterator for AnnexB<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let begin = self.next?;
        self.next = find_start(self.data, begin);
        let end = self.next.map_or(self.data.len(), |n| n - 3);
        let mut nal = &self.data[begin..end];
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        Some(nal)
    }
}

/// Offset just past the first `00 00 01` at or after `from`.
fn find_start(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from + 2;
    while let Some(&b) = data.get(i) {
        // A byte above 1 cannot be any of the three bytes of a start code
        // ending at i, i+1 or i+2: skip three.
        if b > 1 {
            i += 3;
        } else if b == 1 && data[i - 2] == 0 && data[i - 1] == 0 {
            return Some(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

/// `nal_unit_type` of an H.264 NAL unit header (§7.3.1).
pub fn h264_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1F)
}

/// `nal_unit_type` of an H.265 NAL unit header (§7.3.1.2).
pub fn h265_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| (b >> 1) & 0x3F)
}

/// The first coded slice (types 1..=5) of the access unit is an IDR (type 5).
pub fn h264_keyframe(es: &[u8]) -> bool {
    let first_slice = annex_b(es)
        .filter_map(h264_type)
        .find(|t| (1..=5).contains(t));
    first_slice == Some(5)
}

/// The first VCL NAL unit (types 0..=31) of the access unit is IRAP
/// (BLA, IDR or CRA: types 16..=21).
pub fn h265_keyframe(es: &[u8]) -> bool {
    let first_vcl = annex_b(es).filter_map(h265_type).find(|&t| t <= 31);
    first_vcl.is_some_and(|t| (16..=21).contains(&t))
}

/// The RBSP of a NAL unit: every `00 00 03` becomes `00 00`.
pub fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let es = [
            0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x65, 0, 0, 1,
        ];
        let nals: Vec<&[u8]> = annex_b(&es).collect();
        assert_eq!(nals, vec![&[0x09, 0xF0][..], &[0x67, 1, 2], &[0x65], &[]]);
        assert_eq!(annex_b(&[1, 2, 3]).count(), 0);
    }

    #[test]
    fn keyframes_by_first_slice() {
        assert!(h264_keyframe(&[
            0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x67, 0x64, 0, 0, 1, 0x65, 0x88
        ]));
        assert!(!h264_keyframe(&[0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x41, 0x9A]));
        // SEI carrying 0x65 bytes must not count: only NAL headers do.
        assert!(!h264_keyframe(&[
            0, 0, 1, 0x06, 0x65, 0x65, 0, 0, 1, 0x01, 0x00
        ]));
        // H.265: AUD (35), VPS (32), then IDR_W_RADL (19) / TRAIL_R (1).
        assert!(h265_keyframe(&[
            0, 0, 1, 0x46, 0x01, 0, 0, 1, 0x40, 0x01, 0, 0, 1, 0x26, 0x01
        ]));
        assert!(!h265_keyframe(&[0, 0, 1, 0x46, 0x01, 0, 0, 1, 0x02, 0x01]));
    }

    #[test]
    fn rbsp_removes_emulation_prevention() {
        assert_eq!(
            rbsp(&[0x67, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3]),
            vec![0x67, 0, 0, 1, 0, 0, 0, 0]
        );
        assert_eq!(rbsp(&[0, 3, 0, 0, 4]), vec![0, 3, 0, 0, 4]);
    }
}
