//! The H.265 sequence parameter set (ITU-T H.265 §7.3.2.2) as far as the
//! picture size, with profile_tier_level (§7.3.3), and the `hvc1` codec
//! string (ISO/IEC 14496-15 Annex E.3).

use super::bits::BitReader;
use super::nal::{h265_type, rbsp};
use super::CodecError;
use std::fmt::Write;

/// The fields of an H.265 SPS a playlist needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H265Sps {
    pub profile_space: u8,
    pub tier_high: bool,
    pub profile_idc: u8,
    /// general_profile_compatibility_flag[0..32], flag j in bit 31 - j.
    pub compatibility: u32,
    /// The 48 bits from general_progressive_source_flag on, as 6 bytes.
    pub constraints: [u8; 6],
    pub level_idc: u8,
    /// Displayed size after the conformance window.
    pub width: u32,
    pub height: u32,
}

impl H265Sps {
    /// Parses a NAL unit of type 33 (2-byte header included, emulation
    /// prevention still in).
    pub fn parse(nal: &[u8]) -> Result<H265Sps, CodecError> {
        match h265_type(nal) {
            Some(33) if nal.len() > 2 => {}
            other => return Err(CodecError::NotSps(other.unwrap_or(0))),
        }
        let data = rbsp(&nal[2..]);
        let mut r = BitReader::new(&data);
        r.skip(4)?; // sps_video_parameter_set_id
        let max_sub_layers_minus1 = r.bits(3)?;
        r.skip(1)?; // sps_temporal_id_nesting_flag
        let mut sps = read_general_profile(&mut r)?;
        skip_sub_layers(&mut r, max_sub_layers_minus1)?;
        r.ue()?; // sps_seq_parameter_set_id
        (sps.width, sps.height) = read_size(&mut r)?;
        Ok(sps)
    }

    /// `hvc1.<space><profile>.<compat>.<tier><level>.<constraint bytes>`,
    /// e.g. `hvc1.1.6.L93.B0`: compatibility flags bit-reversed in hex,
    /// trailing zero constraint bytes left out (Annex E.3).
    pub fn codec_string(&self) -> String {
        let space = ["", "A", "B", "C"][usize::from(self.profile_space & 3)];
        let tier = if self.tier_high { 'H' } else { 'L' };
        let mut s = format!(
            "hvc1.{space}{}.{:X}.{tier}{}",
            self.profile_idc,
            self.compatibility.reverse_bits(),
            self.level_idc
        );
        let used = self
            .constraints
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        for b in &self.constraints[..used] {
            let _ = write!(s, ".{b:X}");
        }
        s
    }
}

/// The general part of profile_tier_level(1, ...) (§7.3.3).
fn read_general_profile(r: &mut BitReader<'_>) -> Result<H265Sps, CodecError> {
    let profile_space = r.bits(2)? as u8;
    let tier_high = r.flag()?;
    let profile_idc = r.bits(5)? as u8;
    let compatibility = r.bits(32)?;
    let mut constraints = [0u8; 6];
    for b in &mut constraints {
        *b = r.bits(8)? as u8;
    }
    let level_idc = r.bits(8)? as u8;
    Ok(H265Sps {
        profile_space,
        tier_high,
        profile_idc,
        compatibility,
        constraints,
        level_idc,
        width: 0,
        height: 0,
    })
}

/// The sub-layer part of profile_tier_level (§7.3.3): 88 profile bits and 8
/// level bits per sub-layer that has them.
fn skip_sub_layers(r: &mut BitReader<'_>, max_sub_layers_minus1: u32) -> Result<(), CodecError> {
    let mut present = Vec::new();
    for _ in 0..max_sub_layers_minus1 {
        present.push((r.flag()?, r.flag()?));
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1 as usize))?; // reserved_zero_2bits
    }
    for (profile, level) in present {
        r.skip(if profile { 88 } else { 0 } + if level { 8 } else { 0 })?;
    }
    Ok(())
}

/// pic_width/height_in_luma_samples minus the conformance window, whose
/// offsets count in chroma units (§7.4.3.2.1, SubWidthC / SubHeightC).
fn read_size(r: &mut BitReader<'_>) -> Result<(u32, u32), CodecError> {
    let chroma_format_idc = r.ue()?;
    let separate_planes = chroma_format_idc == 3 && r.flag()?;
    let width = r.ue()?;
    let height = r.ue()?;
    let (sub_w, sub_h) = match (chroma_format_idc, separate_planes) {
        (1, _) => (2, 2),
        (2, _) => (2, 1),
        _ => (1, 1),
    };
    let window = if r.flag()? {
        [r.ue()?, r.ue()?, r.ue()?, r.ue()?]
    } else {
        [0; 4]
    };
    Ok((
        width.saturating_sub(sub_w * (window[0] + window[1])),
        height.saturating_sub(sub_h * (window[2] + window[3])),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x265, Main profile, level 2.1, 640x360 (coded 640x368, window 8 lines).
    const SPS: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3f, 0xa0, 0x05, 0x02, 0x01, 0x69, 0x65, 0x95, 0x9a, 0x49, 0x32, 0xbc, 0x05,
        0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0x01,
    ];

    #[test]
    fn x265_main_profile() {
        let sps = H265Sps::parse(SPS).expect("valid SPS");
        assert_eq!((sps.width, sps.height), (640, 360));
        assert_eq!(sps.codec_string(), "hvc1.1.6.L63.90");
    }

    #[test]
    fn codec_string_follows_annex_e() {
        let sps = H265Sps {
            profile_space: 0,
            tier_high: true,
            profile_idc: 2,
            compatibility: 0x2000_0000,
            constraints: [0xB0, 0, 0, 0, 0, 0],
            level_idc: 120,
            width: 0,
            height: 0,
        };
        assert_eq!(sps.codec_string(), "hvc1.2.4.H120.B0");
        assert_eq!(
            H265Sps::parse(&[0x40, 0x01, 0]),
            Err(CodecError::NotSps(32))
        );
    }
}
