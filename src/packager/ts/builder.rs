//! Test-only builder of synthetic transport streams: PAT, PMT and PES packets
//! with valid CRCs, continuity counters and adaptation-field stuffing, plus
//! the elementary stream payloads the packager tests need.

use super::section::crc32_mpeg2;
use super::PACKET_SIZE;
use std::collections::HashMap;

pub(crate) const PMT_PID: u16 = 0x1000;
pub(crate) const VIDEO_PID: u16 = 0x100;
pub(crate) const AUDIO_PID: u16 = 0x101;

/// A real x264 SPS: High profile, level 3.0, 640x360 (coded 368 lines, cropped).
pub(crate) const SPS_640X360: &[u8] = &[
    0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00,
    0x01, 0x00, 0x00, 0x03, 0x00, 0x30, 0x0f, 0x16, 0x2d, 0x96,
];

fn with_crc(mut section: Vec<u8>) -> Vec<u8> {
    let crc = crc32_mpeg2(&section);
    section.extend_from_slice(&crc.to_be_bytes());
    section
}

/// PAT for transport_stream_id 1 with program 1 on `pmt_pid`.
pub(crate) fn pat_section(pmt_pid: u16) -> Vec<u8> {
    let [hi, lo] = pmt_pid.to_be_bytes();
    with_crc(vec![
        0x00,
        0xB0,
        0x0D,
        0x00,
        0x01,
        0xC1,
        0x00,
        0x00,
        0x00,
        0x01,
        0xE0 | hi,
        lo,
    ])
}

/// PMT of program 1 listing `(stream_type, pid)`; the first stream carries the PCR.
pub(crate) fn pmt_section(streams: &[(u8, u16)]) -> Vec<u8> {
    let pcr = streams.first().map_or(0x1FFF, |s| s.1).to_be_bytes();
    let len = 9 + 5 * streams.len() + 4;
    let mut s = vec![
        0x02,
        0xB0,
        len as u8,
        0x00,
        0x01,
        0xC1,
        0x00,
        0x00,
        0xE0 | pcr[0],
        pcr[1],
        0xF0,
        0x00,
    ];
    for &(stream_type, pid) in streams {
        let [hi, lo] = pid.to_be_bytes();
        s.extend_from_slice(&[stream_type, 0xE0 | hi, lo, 0xF0, 0x00]);
    }
    with_crc(s)
}

fn pes_timestamp(prefix: u8, v: u64) -> [u8; 5] {
    [
        prefix << 4 | ((v >> 29) as u8 & 0x0E) | 1,
        (v >> 22) as u8,
        ((v >> 14) as u8 & 0xFE) | 1,
        (v >> 7) as u8,
        ((v << 1) as u8 & 0xFE) | 1,
    ]
}

/// A PES packet; `bounded` writes PES_packet_length (audio), else 0 (video).
pub(crate) fn pes_bytes(
    stream_id: u8,
    pts: u64,
    dts: Option<u64>,
    payload: &[u8],
    bounded: bool,
) -> Vec<u8> {
    let (flags, header_len) = if dts.is_some() { (0xC0, 10) } else { (0x80, 5) };
    let len = if bounded {
        (3 + header_len + payload.len()) as u16
    } else {
        0
    };
    let mut b = vec![0, 0, 1, stream_id];
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&[0x80, flags, header_len as u8]);
    b.extend_from_slice(&pes_timestamp(if dts.is_some() { 3 } else { 2 }, pts));
    if let Some(dts) = dts {
        b.extend_from_slice(&pes_timestamp(1, dts));
    }
    b.extend_from_slice(payload);
    b
}

/// An H.264 access unit: AUD, then SPS/PPS and an IDR slice for a keyframe,
/// else a non-IDR slice; padded to `size` bytes with bytes free of start codes.
pub(crate) fn h264_access_unit(keyframe: bool, size: usize) -> Vec<u8> {
    let mut au = vec![0, 0, 0, 1, 0x09, 0xF0];
    if keyframe {
        au.extend_from_slice(&[0, 0, 0, 1]);
        au.extend_from_slice(SPS_640X360);
        au.extend_from_slice(&[
            0, 0, 0, 1, 0x68, 0xEB, 0xE3, 0xCB, 0x22, 0xC0, 0, 0, 1, 0x65, 0x88,
        ]);
    } else {
        au.extend_from_slice(&[0, 0, 1, 0x41, 0x9A]);
    }
    au.resize(size.max(au.len()), 0xAB);
    au
}

/// One ADTS frame: AAC LC, 48 kHz, stereo, `size` bytes in total.
pub(crate) fn adts_frame(size: usize) -> Vec<u8> {
    let len = size as u32;
    let mut f = vec![
        0xFF,
        0xF1,
        0x4C,
        0x80 | (len >> 11) as u8,
        (len >> 3) as u8,
        ((len & 7) << 5) as u8 | 0x1F,
        0xFC,
    ];
    f.resize(size, 0x21);
    f
}

/// Collects packets into `out`, keeping a continuity counter per PID.
#[derive(Default)]
pub(crate) struct TsBuilder {
    pub(crate) out: Vec<u8>,
    cc: HashMap<u16, u8>,
}

impl TsBuilder {
    /// PAT on PID 0 and the PMT of `streams` on `PMT_PID`.
    pub(crate) fn psi(&mut self, streams: &[(u8, u16)]) {
        self.section(0, &pat_section(PMT_PID));
        self.section(PMT_PID, &pmt_section(streams));
    }

    pub(crate) fn section(&mut self, pid: u16, section: &[u8]) {
        let mut data = vec![0];
        data.extend_from_slice(section);
        self.split(pid, &data, false, None);
    }

    /// One PES over as many packets as it takes; the first packet carries the
    /// random access indicator and PCR when asked.
    pub(crate) fn pes(&mut self, pid: u16, pes: &[u8], random_access: bool, pcr: Option<u64>) {
        self.split(pid, pes, random_access, pcr);
    }

    fn split(&mut self, pid: u16, mut data: &[u8], random_access: bool, pcr: Option<u64>) {
        let used = self.packet(pid, true, random_access, pcr, data);
        data = &data[used..];
        while !data.is_empty() {
            let used = self.packet(pid, false, false, None, data);
            data = &data[used..];
        }
    }

    /// Writes one packet with as much of `data` as fits; returns bytes used.
    pub(crate) fn packet(
        &mut self,
        pid: u16,
        start: bool,
        random_access: bool,
        pcr: Option<u64>,
        data: &[u8],
    ) -> usize {
        let af_min = match (random_access, pcr) {
            (_, Some(_)) => 8,
            (true, None) => 2,
            (false, None) => 0,
        };
        let take = data.len().min(184 - af_min);
        let af_len = 184 - take;
        let cc = self.cc.entry(pid).or_insert(15);
        *cc = (*cc + 1) & 0x0F;
        let [hi, lo] = pid.to_be_bytes();
        let control = if af_len > 0 { 0x30 } else { 0x10 };
        let mut p = vec![0x47, (u8::from(start) << 6) | hi, lo, control | *cc];
        if af_len > 0 {
            p.push((af_len - 1) as u8);
        }
        if af_len > 1 {
            p.push(if random_access { 0x40 } else { 0 } | if pcr.is_some() { 0x10 } else { 0 });
            if let Some(base) = pcr {
                p.extend_from_slice(&((base >> 1) as u32).to_be_bytes());
                p.extend_from_slice(&[((base as u8 & 1) << 7) | 0x7E, 0]);
            }
            p.resize(4 + af_len, 0xFF);
        }
        p.extend_from_slice(&data[..take]);
        debug_assert_eq!(p.len(), PACKET_SIZE);
        self.out.extend_from_slice(&p);
        take
    }
}

/// One video frame at 24 fps, in 90 kHz ticks.
pub(crate) const FRAME: u64 = 3750;
/// One AAC frame at 48 kHz (1024 samples), in 90 kHz ticks.
pub(crate) const AAC_FRAME: u64 = 1920;

impl TsBuilder {
    /// Frames `frames` of a 24 fps H.264 stream whose frame 0 has PTS `start`
    /// (DTS one frame earlier), a keyframe every `gop` frames with PAT/PMT and
    /// PCR before it, and AAC interleaved when `audio`. Timestamps wrap at 2^33.
    pub(crate) fn av(&mut self, start: u64, frames: std::ops::Range<u64>, gop: u64, audio: bool) {
        let mut streams = vec![(0x1B, VIDEO_PID)];
        if audio {
            streams.push((0x0F, AUDIO_PID));
        }
        let wrap = |t: u64| t % (1 << 33);
        let mut aac = (frames.start * FRAME).div_ceil(AAC_FRAME);
        for i in frames {
            let key = i % gop == 0;
            if key {
                self.psi(&streams);
            }
            while audio && aac * AAC_FRAME < (i + 1) * FRAME {
                let pes = pes_bytes(
                    0xC0,
                    wrap(start + aac * AAC_FRAME),
                    None,
                    &adts_frame(200),
                    true,
                );
                self.pes(AUDIO_PID, &pes, false, None);
                aac += 1;
            }
            let pts = start + i * FRAME;
            let au = h264_access_unit(key, if key { 6000 } else { 1500 });
            let pes = pes_bytes(
                0xE0,
                wrap(pts),
                Some(wrap(pts + (1 << 33) - FRAME)),
                &au,
                false,
            );
            self.pes(
                VIDEO_PID,
                &pes,
                key,
                key.then(|| wrap(pts + (1 << 33) - 2 * FRAME)),
            );
        }
    }

    /// `count` AAC PES of one frame each, PTS from `start`, tables first.
    pub(crate) fn audio_only(&mut self, start: u64, count: u64) {
        self.psi(&[(0x0F, AUDIO_PID)]);
        for k in 0..count {
            let pes = pes_bytes(0xC0, start + k * AAC_FRAME, None, &adts_frame(200), true);
            self.pes(
                AUDIO_PID,
                &pes,
                false,
                (k % 20 == 0).then_some(start + k * AAC_FRAME),
            );
        }
    }
}
