//! One 188-byte transport stream packet: the header (ISO/IEC 13818-1 §2.4.3.2),
//! the adaptation field (§2.4.3.4) with its random-access indicator and PCR
//! (§2.4.3.5), and the payload slice. Does not own framing (`sync`) nor what a
//! payload means (`section`, `pes`).

use super::{Timestamp, TsError};

/// Bytes in one packet (§2.4.3.1, 188 bytes on every transport).
pub const PACKET_SIZE: usize = 188;
/// `sync_byte`, the first byte of every packet (§2.4.3.3).
pub const SYNC_BYTE: u8 = 0x47;

/// A 13-bit packet identifier (§2.4.3.3, Table 2-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(u16);

impl Pid {
    /// The program association table is always on PID 0 (Table 2-3).
    pub const PAT: Pid = Pid(0);
    /// Null packets (stuffing), 0x1FFF (Table 2-3).
    pub const NULL: Pid = Pid(0x1FFF);

    /// `None` above 0x1FFF.
    pub const fn new(pid: u16) -> Option<Pid> {
        if pid <= 0x1FFF {
            Some(Pid(pid))
        } else {
            None
        }
    }

    pub const fn get(self) -> u16 {
        self.0
    }

    /// The 13 low bits of two bytes, as in headers, PAT and PMT entries.
    pub(crate) const fn from_bytes(hi: u8, lo: u8) -> Pid {
        Pid(((hi as u16 & 0x1F) << 8) | lo as u16)
    }
}

/// A program clock reference: 33-bit base at 90 kHz plus 9-bit extension at
/// 27 MHz (§2.4.3.5, equation 2-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pcr {
    pub base: Timestamp,
    pub extension: u16,
}

impl Pcr {
    /// Reads the 6-byte field: base(33) reserved(6) extension(9).
    pub(crate) fn read(b: &[u8]) -> Option<Pcr> {
        let b: &[u8; 6] = b.get(..6)?.try_into().ok()?;
        let base =
            u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])) << 1 | u64::from(b[4] >> 7);
        let extension = u16::from(b[4] & 1) << 8 | u16::from(b[5]);
        Some(Pcr {
            base: Timestamp::wrapping(base),
            extension,
        })
    }

    /// Rewrites the base in place, keeping the reserved bits and the extension.
    pub(crate) fn write_base(base: Timestamp, b: &mut [u8]) {
        let Some(b) = b.get_mut(..5) else { return };
        let v = base.get();
        b[..4].copy_from_slice(&((v >> 1) as u32).to_be_bytes());
        b[4] = (b[4] & 0x7F) | ((v as u8 & 1) << 7);
    }

    /// The clock in 27 MHz units: base * 300 + extension (equation 2-1).
    pub fn as_27mhz(&self) -> u64 {
        self.base.get() * 300 + u64::from(self.extension)
    }
}

/// The fields of the adaptation field this crate acts on (§2.4.3.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdaptationField {
    /// `discontinuity_indicator`: continuity counter and time base may jump here.
    pub discontinuity: bool,
    /// `random_access_indicator`: the next PES starts a random access point.
    pub random_access: bool,
    pub pcr: Option<Pcr>,
    /// Offset of the PCR field inside the packet, for in-place rewriting.
    pub(crate) pcr_at: Option<usize>,
    /// Offset of the OPCR field inside the packet, for in-place rewriting.
    pub(crate) opcr_at: Option<usize>,
}

/// A parsed packet borrowing its payload from the 188 input bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub pid: Pid,
    /// `transport_error_indicator`: the packet is known to be damaged.
    pub transport_error: bool,
    /// `payload_unit_start_indicator`: a PES or a PSI pointer field starts here.
    pub payload_unit_start: bool,
    /// `continuity_counter`, 4 bits.
    pub continuity_counter: u8,
    pub adaptation: Option<AdaptationField>,
    /// `None` when `adaptation_field_control` says there is no payload.
    pub payload: Option<&'a [u8]>,
}

impl<'a> Packet<'a> {
    /// Parses one packet; `b` must start with the sync byte.
    pub fn parse(b: &'a [u8; PACKET_SIZE]) -> Result<Packet<'a>, TsError> {
        if b[0] != SYNC_BYTE {
            return Err(TsError::SyncByte(b[0]));
        }
        // adaptation_field_control, Table 2-5: '00' is reserved and must be discarded.
        let control = (b[3] >> 4) & 0x03;
        if control == 0 {
            return Err(TsError::ReservedAdaptationControl);
        }
        let (adaptation, payload_at) = if control & 0x02 != 0 {
            let (af, len) = parse_adaptation(b)?;
            (Some(af), 5 + len)
        } else {
            (None, 4)
        };
        let payload = (control & 0x01 != 0).then(|| &b[payload_at..]);
        Ok(Packet {
            pid: Pid::from_bytes(b[1], b[2]),
            transport_error: b[1] & 0x80 != 0,
            payload_unit_start: b[1] & 0x40 != 0,
            continuity_counter: b[3] & 0x0F,
            adaptation,
            payload,
        })
    }

    /// True when the adaptation field sets `random_access_indicator`.
    pub fn random_access(&self) -> bool {
        self.adaptation.is_some_and(|af| af.random_access)
    }
}

/// §2.4.3.4: length byte, then flags, then PCR and OPCR when flagged.
fn parse_adaptation(b: &[u8; PACKET_SIZE]) -> Result<(AdaptationField, usize), TsError> {
    let len = usize::from(b[4]);
    if 5 + len > PACKET_SIZE {
        return Err(TsError::AdaptationLength(b[4]));
    }
    let mut af = AdaptationField::default();
    if len == 0 {
        return Ok((af, 0));
    }
    let flags = b[5];
    af.discontinuity = flags & 0x80 != 0;
    af.random_access = flags & 0x40 != 0;
    let mut at = 6;
    if flags & 0x10 != 0 {
        if len < 7 {
            return Err(TsError::AdaptationLength(b[4]));
        }
        af.pcr = Pcr::read(&b[at..]);
        af.pcr_at = Some(at);
        at += 6;
    }
    if flags & 0x08 != 0 && at + 6 <= 5 + len {
        af.opcr_at = Some(at);
    }
    Ok((af, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(header: [u8; 4], rest: &[u8]) -> [u8; PACKET_SIZE] {
        let mut p = [0xFF; PACKET_SIZE];
        p[..4].copy_from_slice(&header);
        p[4..4 + rest.len()].copy_from_slice(rest);
        p
    }

    #[test]
    fn header_fields() {
        let p = packet([0x47, 0x41, 0x00, 0x17], &[]);
        let pkt = Packet::parse(&p).expect("valid");
        assert_eq!(pkt.pid, Pid::new(0x100).expect("13 bits"));
        assert!(pkt.payload_unit_start && !pkt.transport_error);
        assert_eq!(pkt.continuity_counter, 7);
        assert_eq!(pkt.payload.map(<[u8]>::len), Some(184));
        assert!(pkt.adaptation.is_none());
    }

    #[test]
    fn adaptation_field_with_pcr_and_random_access() {
        // PCR base 0x1_2345_6789, extension 0x123.
        let pcr = [0x91, 0xA2, 0xB3, 0xC4, 0xFF, 0x23];
        let mut af = vec![7, 0x50];
        af.extend_from_slice(&pcr);
        let p = packet([0x47, 0x01, 0x00, 0x30], &af);
        let pkt = Packet::parse(&p).expect("valid");
        let a = pkt.adaptation.expect("adaptation field");
        assert!(a.random_access && !a.discontinuity);
        let pcr = a.pcr.expect("pcr");
        assert_eq!(pcr.base.get(), 0x1_2345_6789);
        assert_eq!(pcr.extension, 0x123);
        assert_eq!(pkt.payload.map(<[u8]>::len), Some(184 - 8));
    }

    #[test]
    fn bad_packets_are_errors() {
        let p = packet([0x46, 0, 0, 0x10], &[]);
        assert_eq!(Packet::parse(&p), Err(TsError::SyncByte(0x46)));
        let p = packet([0x47, 0, 0, 0x00], &[]);
        assert_eq!(Packet::parse(&p), Err(TsError::ReservedAdaptationControl));
        let p = packet([0x47, 0, 0, 0x30], &[184]);
        assert_eq!(Packet::parse(&p), Err(TsError::AdaptationLength(184)));
    }

    #[test]
    fn pcr_base_rewrite_keeps_extension() {
        let mut b = [0x91, 0xA2, 0xB3, 0xC4, 0xFF, 0x23];
        Pcr::write_base(Timestamp::wrapping(42), &mut b);
        let pcr = Pcr::read(&b).expect("6 bytes");
        assert_eq!((pcr.base.get(), pcr.extension), (42, 0x123));
        assert_eq!(b[4] & 0x7E, 0x7E, "reserved bits kept");
    }
}
