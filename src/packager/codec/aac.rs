//! The ADTS frame header (ISO/IEC 13818-7 §6.2 / ISO/IEC 14496-3 §1.A.2.2)
//! and the `mp4a.40.<object type>` codec string (RFC 6381 §3.3).

use super::CodecError;

/// sampling_frequency_index to Hz (ISO/IEC 14496-3 Table 1.18).
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The fields of one ADTS header a playlist and a segmenter need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdtsHeader {
    /// MPEG-4 audio object type: profile + 1 (2 = AAC LC).
    pub object_type: u8,
    pub sample_rate: u32,
    /// `None` for channel_configuration 0 (layout given in-band by a PCE).
    pub channels: Option<u8>,
    /// aac_frame_length: header included.
    pub frame_length: usize,
    /// 1024 samples per raw data block.
    pub raw_data_blocks: u8,
}

impl AdtsHeader {
    /// Parses the header at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<AdtsHeader, CodecError> {
        let Some(b) = data.get(..7) else {
            return Err(CodecError::Truncated(data.len() * 8));
        };
        let sync = u16::from(b[0]) << 4 | u16::from(b[1] >> 4);
        if sync != 0xFFF {
            return Err(CodecError::AdtsSync(sync));
        }
        let index = (b[2] >> 2) & 0x0F;
        let sample_rate = *SAMPLE_RATES
            .get(usize::from(index))
            .ok_or(CodecError::OutOfRange {
                field: "sampling_frequency_index",
                value: index.into(),
            })?;
        let channel_config = (b[2] & 0x01) << 2 | b[3] >> 6;
        Ok(AdtsHeader {
            object_type: (b[2] >> 6) + 1,
            sample_rate,
            channels: match channel_config {
                0 => None,
                7 => Some(8),
                n => Some(n),
            },
            frame_length: usize::from(b[3] & 0x03) << 11
                | usize::from(b[4]) << 3
                | usize::from(b[5] >> 5),
            raw_data_blocks: (b[6] & 0x03) + 1,
        })
    }

    /// `mp4a.40.2` for AAC LC.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }

    /// Duration of the frame in 90 kHz ticks.
    pub fn duration_90k(&self) -> u64 {
        1024 * u64::from(self.raw_data_blocks) * 90_000 / u64::from(self.sample_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packager::ts::builder::adts_frame;

    #[test]
    fn lc_48k_stereo() {
        let h = AdtsHeader::parse(&adts_frame(371)).expect("valid ADTS");
        assert_eq!(h.codec_string(), "mp4a.40.2");
        assert_eq!(
            (h.sample_rate, h.channels, h.frame_length),
            (48000, Some(2), 371)
        );
        assert_eq!(h.duration_90k(), 1920);
    }

    #[test]
    fn not_adts() {
        assert_eq!(
            AdtsHeader::parse(&[0xFF, 0x01, 0, 0, 0, 0, 0]),
            Err(CodecError::AdtsSync(0xFF0))
        );
        assert_eq!(AdtsHeader::parse(&[0xFF]), Err(CodecError::Truncated(8)));
        let bad_rate = [0xFF, 0xF1, 0x3C, 0x80, 0, 0, 0];
        assert!(matches!(
            AdtsHeader::parse(&bad_rate),
            Err(CodecError::OutOfRange { .. })
        ));
    }
}
