//! Program specific information tables: the program association table
//! (ISO/IEC 13818-1 §2.4.4.3) and the program map table (§2.4.4.8), with the
//! stream types of Table 2-34 this packager acts on. Input is one complete
//! section from `section`; descriptors are skipped.

use super::{Pid, TsError};
use crate::packager::codec::VideoCodec;

/// `stream_type` of a PMT entry (Table 2-34).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamType {
    /// 0x1B, ITU-T H.264 | ISO/IEC 14496-10 video.
    H264,
    /// 0x24, ITU-T H.265 | ISO/IEC 23008-2 video.
    H265,
    /// 0x0F, ISO/IEC 13818-7 audio with ADTS transport syntax.
    AacAdts,
    /// Any other stream type, kept so the PMT can be repeated as read.
    Other(u8),
}

impl StreamType {
    pub fn from_code(code: u8) -> Self {
        match code {
            0x1B => Self::H264,
            0x24 => Self::H265,
            0x0F => Self::AacAdts,
            other => Self::Other(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Self::H264 => 0x1B,
            Self::H265 => 0x24,
            Self::AacAdts => 0x0F,
            Self::Other(code) => code,
        }
    }

    /// The video codec this packager reads, if it is one.
    pub fn video_codec(self) -> Option<VideoCodec> {
        match self {
            Self::H264 => Some(VideoCodec::H264),
            Self::H265 => Some(VideoCodec::H265),
            _ => None,
        }
    }
}

/// One program of the PAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatEntry {
    pub program_number: u16,
    /// The PMT PID (or the network PID for program 0).
    pub pid: Pid,
}

/// The program association table (§2.4.4.3). Each section is read as a whole
/// table: multi-section PATs are not merged (they do not occur in HLS inputs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pat {
    pub transport_stream_id: u16,
    pub programs: Vec<PatEntry>,
}

impl Pat {
    pub fn parse(section: &[u8]) -> Result<Pat, TsError> {
        let body = syntax_body(section, 0x00)?;
        let programs = body
            .chunks_exact(4)
            .map(|e| PatEntry {
                program_number: u16::from_be_bytes([e[0], e[1]]),
                pid: Pid::from_bytes(e[2], e[3]),
            })
            .collect();
        Ok(Pat {
            transport_stream_id: u16::from_be_bytes([section[3], section[4]]),
            programs,
        })
    }

    /// The PMT PID of the first program; program_number 0 is the network PID.
    pub fn first_pmt_pid(&self) -> Option<Pid> {
        self.programs
            .iter()
            .find(|p| p.program_number != 0)
            .map(|p| p.pid)
    }
}

/// One elementary stream of a PMT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmtStream {
    pub stream_type: StreamType,
    pub pid: Pid,
}

/// The program map table of one program (§2.4.4.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pmt {
    pub program_number: u16,
    pub pcr_pid: Pid,
    pub streams: Vec<PmtStream>,
}

impl Pmt {
    pub fn parse(section: &[u8]) -> Result<Pmt, TsError> {
        let body = syntax_body(section, 0x02)?;
        let short = || TsError::SectionLength(section.len());
        let info_len = usize::from(body.get(2).ok_or_else(short)? & 0x0F) << 8
            | usize::from(*body.get(3).ok_or_else(short)?);
        let mut rest = body.get(4 + info_len..).ok_or_else(short)?;
        let mut streams = Vec::new();
        while let [stream_type, pid_hi, pid_lo, len_hi, len_lo, tail @ ..] = rest {
            let es_info_len = usize::from(len_hi & 0x0F) << 8 | usize::from(*len_lo);
            streams.push(PmtStream {
                stream_type: StreamType::from_code(*stream_type),
                pid: Pid::from_bytes(*pid_hi, *pid_lo),
            });
            rest = tail.get(es_info_len..).ok_or_else(short)?;
        }
        Ok(Pmt {
            program_number: u16::from_be_bytes([section[3], section[4]]),
            pcr_pid: Pid::from_bytes(body[0], body[1]),
            streams,
        })
    }

    /// The first H.264 or H.265 stream: the one segments are cut on.
    pub fn video(&self) -> Option<PmtStream> {
        self.streams
            .iter()
            .copied()
            .find(|s| s.stream_type.video_codec().is_some())
    }

    /// The first AAC (ADTS) stream.
    pub fn audio(&self) -> Option<PmtStream> {
        self.streams
            .iter()
            .copied()
            .find(|s| s.stream_type == StreamType::AacAdts)
    }

    pub fn stream_type(&self, pid: Pid) -> Option<StreamType> {
        self.streams
            .iter()
            .find(|s| s.pid == pid)
            .map(|s| s.stream_type)
    }
}

/// Checks the long-form section header (§2.4.4.4) and returns the bytes
/// between `last_section_number` and CRC_32.
fn syntax_body(section: &[u8], table_id: u8) -> Result<&[u8], TsError> {
    if section.len() < 12 {
        return Err(TsError::SectionLength(section.len()));
    }
    if section[0] != table_id {
        return Err(TsError::TableId(section[0]));
    }
    // current_next_indicator 0: the table is not valid yet.
    if section[5] & 0x01 == 0 {
        return Err(TsError::NotCurrent);
    }
    Ok(&section[8..section.len() - 4])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packager::ts::builder::{pat_section, pmt_section};

    fn pid(v: u16) -> Pid {
        Pid::new(v).expect("13 bits")
    }

    #[test]
    fn pat_lists_programs() {
        let pat = Pat::parse(&pat_section(0x1000)).expect("valid PAT");
        assert_eq!(pat.first_pmt_pid(), Some(pid(0x1000)));
        assert_eq!(pat.transport_stream_id, 1);
    }

    #[test]
    fn pmt_lists_streams_and_picks_video_and_audio() {
        let section = pmt_section(&[(0x06, 0x102), (0x0F, 0x101), (0x1B, 0x100), (0x24, 0x103)]);
        let pmt = Pmt::parse(&section).expect("valid PMT");
        assert_eq!(pmt.streams.len(), 4);
        assert_eq!(pmt.streams[0].stream_type, StreamType::Other(0x06));
        assert_eq!(pmt.video().map(|s| s.pid), Some(pid(0x100)));
        assert_eq!(pmt.audio().map(|s| s.pid), Some(pid(0x101)));
        assert_eq!(pmt.stream_type(pid(0x103)), Some(StreamType::H265));
    }

    #[test]
    fn wrong_tables_are_errors() {
        assert_eq!(Pmt::parse(&pat_section(0x1000)), Err(TsError::TableId(0)));
        assert_eq!(Pat::parse(&[0; 4]), Err(TsError::SectionLength(4)));
    }
}
