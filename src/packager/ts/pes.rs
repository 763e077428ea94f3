//! Packetized elementary stream packets: reassembly across TS packets
//! (ISO/IEC 13818-1 §2.4.3.6 — a PES starts in a packet with
//! `payload_unit_start_indicator` set and ends before the next one, or after
//! `PES_packet_length` bytes) and the PES header with PTS/DTS (§2.4.3.7).
//! Does not know what the elementary stream contains (`codec` does).

use super::{Pid, StreamType, Timestamp, TsError};

/// A PES longer than this is cut short: a bound on memory for broken input
/// (a 4K intra frame is a few MB).
const MAX_PES: usize = 16 << 20;

/// One complete PES packet, header parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pes {
    pub pid: Pid,
    pub stream_type: StreamType,
    pub stream_id: u8,
    pub pts: Option<Timestamp>,
    pub dts: Option<Timestamp>,
    /// The packet that started this PES had `random_access_indicator` set (§2.4.3.5).
    pub random_access: bool,
    /// The PES starts a point a decoder can start from: random access
    /// indicator, or an H.264 IDR / H.265 IRAP picture found in the payload
    /// (video), or any audio PES (every AAC frame decodes on its own).
    pub keyframe: bool,
    /// Index of the TS packet that started this PES among the packets the
    /// reader passed to its `on_packet` callback (from 0; packets with a bad
    /// header are not passed and not counted).
    pub start_packet: u64,
    data: Vec<u8>,
    payload_at: usize,
}

impl Pes {
    /// The elementary stream bytes after the PES header.
    pub fn payload(&self) -> &[u8] {
        &self.data[self.payload_at..]
    }
}

/// The raw bytes of one PES and facts about the packet that started it.
#[derive(Debug, Default)]
pub(crate) struct RawPes {
    pub(crate) data: Vec<u8>,
    pub(crate) random_access: bool,
    pub(crate) start_packet: u64,
}

/// Collects the payloads of one PID into PES packets.
#[derive(Debug, Default)]
pub(crate) struct PesAssembler {
    current: Option<RawPes>,
}

impl PesAssembler {
    /// Feeds one packet's payload; completed PES packets go to `done`, in order.
    pub(crate) fn push(&mut self, start: Option<RawPes>, payload: &[u8], done: &mut Vec<RawPes>) {
        if let Some(mut fresh) = start {
            done.extend(self.current.take());
            fresh.data.extend_from_slice(payload);
            self.current = Some(fresh);
        } else if let Some(cur) = &mut self.current {
            let room = MAX_PES.saturating_sub(cur.data.len());
            cur.data
                .extend_from_slice(&payload[..payload.len().min(room)]);
        }
        let complete = self
            .current
            .as_ref()
            .and_then(|c| bounded_len(&c.data).filter(|&len| c.data.len() >= len));
        if let Some(len) = complete {
            if let Some(mut pes) = self.current.take() {
                pes.data.truncate(len);
                done.push(pes);
            }
        }
    }

    /// End of input: the PES in progress is complete as far as it goes.
    pub(crate) fn finish(&mut self) -> Option<RawPes> {
        self.current.take()
    }
}

/// Total length from `PES_packet_length`; `None` when 0 (unbounded, allowed
/// for video in transport streams, §2.4.3.7) or not yet known.
fn bounded_len(data: &[u8]) -> Option<usize> {
    let len = u16::from_be_bytes([*data.get(4)?, *data.get(5)?]);
    (len != 0).then(|| 6 + usize::from(len))
}

/// Stream ids without the optional PES header (§2.4.3.7, the
/// `stream_id != program_stream_map && ...` condition).
fn has_optional_header(stream_id: u8) -> bool {
    !matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF
    )
}

/// Where PTS and DTS sit inside a PES packet that starts at `b[0]`.
pub(crate) struct HeaderLayout {
    pub(crate) stream_id: u8,
    pub(crate) pts_at: Option<usize>,
    pub(crate) dts_at: Option<usize>,
    pub(crate) payload_at: usize,
}

/// Parses the PES header layout (§2.4.3.7, Table 2-21).
pub(crate) fn header_layout(b: &[u8]) -> Result<HeaderLayout, TsError> {
    if b.len() < 6 || b[..3] != [0, 0, 1] {
        return Err(TsError::PesStartCode);
    }
    let stream_id = b[3];
    if !has_optional_header(stream_id) {
        return Ok(HeaderLayout {
            stream_id,
            pts_at: None,
            dts_at: None,
            payload_at: 6,
        });
    }
    // '10' marker bits, then the flags byte and PES_header_data_length.
    if b.len() < 9 || b[6] >> 6 != 0b10 {
        return Err(TsError::PesHeader);
    }
    let payload_at = 9 + usize::from(b[8]);
    let (pts_at, dts_at) = match b[7] >> 6 {
        0b10 => (Some(9), None),
        0b11 => (Some(9), Some(14)),
        _ => (None, None),
    };
    let end = dts_at.or(pts_at).map_or(9, |at| at + 5);
    if end > payload_at || payload_at > b.len() {
        return Err(TsError::PesHeader);
    }
    Ok(HeaderLayout {
        stream_id,
        pts_at,
        dts_at,
        payload_at,
    })
}

impl Pes {
    /// Parses a reassembled PES of `pid`; `keyframe` is filled from the
    /// random access indicator and, for video, from the payload.
    pub(crate) fn parse(pid: Pid, stream_type: StreamType, raw: RawPes) -> Result<Pes, TsError> {
        let layout = header_layout(&raw.data)?;
        let read = |at: Option<usize>| at.and_then(|at| Timestamp::read_pes(&raw.data[at..]));
        let (pts, dts) = (read(layout.pts_at), read(layout.dts_at));
        let mut pes = Pes {
            pid,
            stream_type,
            stream_id: layout.stream_id,
            pts,
            dts,
            random_access: raw.random_access,
            keyframe: raw.random_access,
            start_packet: raw.start_packet,
            data: raw.data,
            payload_at: layout.payload_at,
        };
        // The payload scan is only needed when the muxer did not flag it.
        pes.keyframe = pes.random_access
            || match stream_type {
                StreamType::AacAdts => true,
                other => other
                    .video_codec()
                    .is_some_and(|c| c.is_keyframe(pes.payload())),
            };
        Ok(pes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packager::ts::builder::pes_bytes;

    fn raw(data: Vec<u8>) -> RawPes {
        RawPes {
            data,
            random_access: false,
            start_packet: 7,
        }
    }

    #[test]
    fn header_with_pts_and_dts() {
        let data = pes_bytes(
            0xE0,
            900_000,
            Some(896_400),
            &[0, 0, 0, 1, 0x65, 0x88],
            false,
        );
        let pes = Pes::parse(Pid::NULL, StreamType::H264, raw(data)).expect("valid PES");
        assert_eq!(pes.pts.map(Timestamp::get), Some(900_000));
        assert_eq!(pes.dts.map(Timestamp::get), Some(896_400));
        assert_eq!(pes.payload(), &[0, 0, 0, 1, 0x65, 0x88]);
        assert!(pes.keyframe, "IDR NAL");
        assert_eq!(pes.start_packet, 7);
    }

    #[test]
    fn non_idr_video_is_not_a_keyframe_audio_always_is() {
        let data = pes_bytes(0xE0, 1, None, &[0, 0, 1, 0x41, 0x9A], false);
        let pes = Pes::parse(Pid::NULL, StreamType::H264, raw(data)).expect("valid PES");
        assert!(!pes.keyframe && pes.dts.is_none());
        let data = pes_bytes(0xC0, 1, None, &[0xFF, 0xF1], true);
        assert!(
            Pes::parse(Pid::NULL, StreamType::AacAdts, raw(data))
                .expect("valid")
                .keyframe
        );
    }

    #[test]
    fn bounded_pes_completes_without_next_unit_start() {
        let data = pes_bytes(0xC0, 1, None, &[9; 300], true);
        let mut a = PesAssembler::default();
        let mut done = Vec::new();
        let start = RawPes {
            data: Vec::new(),
            random_access: false,
            start_packet: 0,
        };
        a.push(Some(start), &data[..184], &mut done);
        assert!(done.is_empty());
        let mut tail = data[184..].to_vec();
        tail.extend_from_slice(&[0xFF; 10]);
        a.push(None, &tail, &mut done);
        assert_eq!(done.len(), 1);
        assert_eq!(
            done[0].data, data,
            "trailing bytes past PES_packet_length dropped"
        );
        assert!(a.finish().is_none());
    }

    #[test]
    fn bad_headers_are_errors() {
        assert_eq!(
            header_layout(&[0, 0, 2, 0xE0, 0, 0]).err(),
            Some(TsError::PesStartCode)
        );
        assert_eq!(
            header_layout(&[0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 2, 0]).err(),
            Some(TsError::PesHeader)
        );
        assert_eq!(
            header_layout(&[0, 0, 1, 0xBE, 0, 4])
                .map(|l| l.payload_at)
                .ok(),
            Some(6)
        );
    }
}
