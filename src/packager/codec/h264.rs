//! The H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1) as far as the
//! picture size, and the `avc1` codec string (RFC 6381 §3.3, ISO/IEC 14496-15).
//! VUI is not read: frame rates come from timestamps (`segmenter`).

use super::bits::BitReader;
use super::nal::{h264_type, rbsp};
use super::CodecError;

/// The fields of an H.264 SPS a playlist needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H264Sps {
    pub profile_idc: u8,
    /// constraint_set0..5 flags and reserved bits, as the byte in the SPS.
    pub constraint_flags: u8,
    pub level_idc: u8,
    /// Displayed size after frame cropping.
    pub width: u32,
    pub height: u32,
}

/// profile_idc values whose SPS carries chroma format, bit depth and scaling
/// lists (§7.3.2.1.1, the `if( profile_idc = = 100 || ...` condition).
const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

impl H264Sps {
    /// Parses a NAL unit of type 7 (header byte included, emulation
    /// prevention still in).
    pub fn parse(nal: &[u8]) -> Result<H264Sps, CodecError> {
        match h264_type(nal) {
            Some(7) => {}
            other => return Err(CodecError::NotSps(other.unwrap_or(0))),
        }
        let data = rbsp(&nal[1..]);
        let mut r = BitReader::new(&data);
        let profile_idc = r.bits(8)? as u8;
        let constraint_flags = r.bits(8)? as u8;
        let level_idc = r.bits(8)? as u8;
        r.ue()?; // seq_parameter_set_id
        let chroma = if HIGH_PROFILES.contains(&profile_idc) {
            read_chroma_and_scaling(&mut r)?
        } else {
            1 // 4:2:0 when absent
        };
        skip_frame_num_and_poc(&mut r)?;
        r.ue()?; // max_num_ref_frames
        r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
        let (width, height) = read_size(&mut r, chroma)?;
        Ok(H264Sps {
            profile_idc,
            constraint_flags,
            level_idc,
            width,
            height,
        })
    }

    /// `avc1.PPCCLL`: profile_idc, constraint byte, level_idc in hex.
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile_idc, self.constraint_flags, self.level_idc
        )
    }
}

/// Returns ChromaArrayType (0 when colour planes are coded separately).
fn read_chroma_and_scaling(r: &mut BitReader<'_>) -> Result<u32, CodecError> {
    let chroma_format_idc = r.ue()?;
    let separate_planes = chroma_format_idc == 3 && r.flag()?;
    r.ue()?; // bit_depth_luma_minus8
    r.ue()?; // bit_depth_chroma_minus8
    r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
    if r.flag()? {
        let lists = if chroma_format_idc == 3 { 12 } else { 8 };
        for i in 0..lists {
            if r.flag()? {
                skip_scaling_list(r, if i < 6 { 16 } else { 64 })?;
            }
        }
    }
    Ok(if separate_planes {
        0
    } else {
        chroma_format_idc
    })
}

/// scaling_list() syntax (§7.3.2.1.1.1): only the deltas are consumed.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), CodecError> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

fn skip_frame_num_and_poc(r: &mut BitReader<'_>) -> Result<(), CodecError> {
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.skip(1)?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue()?;
            if cycle > 255 {
                return Err(CodecError::OutOfRange {
                    field: "num_ref_frames_in_pic_order_cnt_cycle",
                    value: cycle,
                });
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Picture size in macroblocks minus the cropping window (§7.4.2.1.1,
/// CropUnitX / CropUnitY equations 7-19 to 7-22).
fn read_size(r: &mut BitReader<'_>, chroma_array_type: u32) -> Result<(u32, u32), CodecError> {
    let width_mbs = r.ue()? + 1;
    let height_map_units = r.ue()? + 1;
    let frame_mbs_only = r.flag()?;
    if !frame_mbs_only {
        r.skip(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip(1)?; // direct_8x8_inference_flag
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let (sub_w, sub_h) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let (crop_x, crop_y) = if chroma_array_type == 0 {
        (1, field_factor)
    } else {
        (sub_w, sub_h * field_factor)
    };
    let crop = if r.flag()? {
        [r.ue()?, r.ue()?, r.ue()?, r.ue()?]
    } else {
        [0; 4]
    };
    let width = (width_mbs * 16).saturating_sub(crop_x * (crop[0] + crop[1]));
    let height =
        (field_factor * height_map_units * 16).saturating_sub(crop_y * (crop[2] + crop[3]));
    Ok((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packager::ts::builder::SPS_640X360;

    #[test]
    fn x264_high_profile_with_cropping() {
        let sps = H264Sps::parse(SPS_640X360).expect("valid SPS");
        assert_eq!((sps.width, sps.height), (640, 360));
        assert_eq!(sps.codec_string(), "avc1.64001e");
    }

    #[test]
    fn x264_baseline_1080p() {
        let nal = [
            0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
            0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20,
        ];
        let sps = H264Sps::parse(&nal).expect("valid SPS");
        assert_eq!((sps.width, sps.height), (1920, 1080));
        assert_eq!(sps.codec_string(), "avc1.42c028");
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(H264Sps::parse(&[0x68, 0]), Err(CodecError::NotSps(8)));
        assert!(matches!(
            H264Sps::parse(&SPS_640X360[..6]),
            Err(CodecError::Truncated(_))
        ));
    }
}
