//! Codec parameters players need, read from elementary stream bytes: the
//! RFC 6381 CODECS strings (`avc1.PPCCLL`, `hvc1.…`, `mp4a.40.N`),
//! RESOLUTION from the sequence parameter set, and AAC sample rate and
//! channels from ADTS headers. Also the keyframe test on video access units.
//! Does not demultiplex (`ts`) nor decide where segments start (`segmenter`).

mod aac;
mod bits;
mod h264;
mod h265;
pub mod nal;

pub use aac::AdtsHeader;
pub use h264::H264Sps;
pub use h265::H265Sps;

/// Why codec parameters could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("bitstream ends before bit {0}")]
    Truncated(usize),
    #[error("exp-Golomb code longer than 32 bits at bit {0}")]
    ExpGolomb(usize),
    #[error("nal_unit_type {0} is not a sequence parameter set")]
    NotSps(u8),
    #[error("{field} {value} out of range")]
    OutOfRange { field: &'static str, value: u32 },
    #[error("ADTS sync word missing (found {0:#05x})")]
    AdtsSync(u16),
}

/// A video codec this packager can segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    H265,
}

/// What a player needs to know about a video stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoParams {
    /// RFC 6381 codec string, e.g. `avc1.64001e` or `hvc1.1.6.L93.B0`.
    pub codec: String,
    /// Displayed width and height after cropping, in pixels; `None` when an
    /// H.265 SPS could not be read.
    pub resolution: Option<(u32, u32)>,
}

impl VideoCodec {
    /// The access unit starts with an H.264 IDR or H.265 IRAP picture.
    pub fn is_keyframe(self, access_unit: &[u8]) -> bool {
        match self {
            Self::H264 => nal::h264_keyframe(access_unit),
            Self::H265 => nal::h265_keyframe(access_unit),
        }
    }

    /// Parameters from the first SPS in `access_unit`, if it carries one.
    /// An H.265 SPS that cannot be read still yields the plain `hvc1` string.
    pub fn params(self, access_unit: &[u8]) -> Option<VideoParams> {
        match self {
            Self::H264 => {
                let sps = nal::annex_b(access_unit).find(|n| nal::h264_type(n) == Some(7))?;
                let sps = H264Sps::parse(sps).ok()?;
                Some(VideoParams {
                    codec: sps.codec_string(),
                    resolution: Some((sps.width, sps.height)),
                })
            }
            Self::H265 => {
                let sps = nal::annex_b(access_unit).find(|n| nal::h265_type(n) == Some(33))?;
                Some(match H265Sps::parse(sps) {
                    Ok(sps) => VideoParams {
                        codec: sps.codec_string(),
                        resolution: Some((sps.width, sps.height)),
                    },
                    Err(_) => VideoParams {
                        codec: "hvc1".into(),
                        resolution: None,
                    },
                })
            }
        }
    }
}
