//! Throughput of `Segmenter::push`, in MB of TS per second on one core.
//!
//! How to run (registered with `harness = false`):
//!   cargo bench --bench segmenter                 # synthetic 60 s, ~5 Mb/s H.264 + AAC
//!   cargo bench --bench segmenter -- input.ts     # any transport stream file
//! Prints the median of several runs, each feeding the whole stream in 64 KiB
//! chunks (a typical HTTP body chunk) and calling `finish`.

use hls_edge::packager::segmenter::{Segmenter, SegmenterConfig};
use std::time::{Duration, Instant};

const RUNS: usize = 9;
const CHUNK: usize = 64 * 1024;

fn main() {
    let ts = match std::env::args().nth(1).filter(|a| !a.starts_with('-')) {
        Some(path) => std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}")),
        None => synthetic(60),
    };
    let mut times: Vec<Duration> = (0..RUNS).map(|_| run(&ts)).collect();
    times.sort();
    let median = times[RUNS / 2];
    let mb = ts.len() as f64 / 1e6;
    println!(
        "segmenter push: {mb:.1} MB in {median:?} (median of {RUNS}) = {:.0} MB/s per core (best {:.0})",
        mb / median.as_secs_f64(),
        mb / times[0].as_secs_f64()
    );
}

fn run(ts: &[u8]) -> Duration {
    let mut seg = Segmenter::new(SegmenterConfig::default());
    let start = Instant::now();
    let mut segments = 0;
    for chunk in ts.chunks(CHUNK) {
        segments += seg.push(chunk).len();
    }
    segments += usize::from(seg.finish().is_some());
    let took = start.elapsed();
    assert!(segments >= 29, "expected ~2 s segments, got {segments}");
    took
}

/// `seconds` of 24 fps H.264 (IDR every 48 frames, 100 KB; others 24 KB) and
/// 48 kHz AAC, PAT/PMT before each keyframe.
fn synthetic(seconds: u64) -> Vec<u8> {
    let mut mux = Mux::default();
    let mut noise = 0x2545_F491_4F6C_DD1Du64;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                noise ^= noise << 13;
                noise ^= noise >> 7;
                noise ^= noise << 17;
                noise as u8 | 0x02 // never 0 or 1: no false start codes
            })
            .collect()
    };
    let mut aac = 0u64;
    for frame in 0..seconds * 24 {
        let pts = 126_000 + frame * 3750;
        let key = frame % 48 == 0;
        if key {
            mux.tables();
        }
        while aac * 1920 < (frame + 1) * 3750 {
            let mut adts = vec![0xFF, 0xF1, 0x4C, 0x80, 0x2C, 0x1F, 0xFC];
            adts.extend(bytes(345));
            mux.pes(0x101, 0xC0, 126_000 + aac * 1920, &adts, false);
            aac += 1;
        }
        let nal: &[u8] = if key {
            &[0, 0, 0, 1, 0x65]
        } else {
            &[0, 0, 0, 1, 0x41]
        };
        let mut au = vec![0, 0, 0, 1, 0x09, 0xF0];
        au.extend_from_slice(nal);
        au.extend(bytes(if key { 100_000 } else { 24_000 }));
        mux.pes(0x100, 0xE0, pts, &au, key);
    }
    mux.out
}

/// A minimal TS multiplexer: enough for the segmenter to read.
#[derive(Default)]
struct Mux {
    out: Vec<u8>,
    cc: std::collections::HashMap<u16, u8>,
}

impl Mux {
    fn tables(&mut self) {
        let pat = [
            0, 0x00, 0xB0, 0x0D, 0, 1, 0xC1, 0, 0, 0, 1, 0xF0, 0x00, 0x2A, 0xB1, 0x04, 0xB2,
        ];
        self.packets(0, &pat, false);
        let mut pmt = vec![
            0, 0x02, 0xB0, 0x17, 0, 1, 0xC1, 0, 0, 0xE1, 0x00, 0xF0, 0x00,
        ];
        pmt.extend_from_slice(&[0x1B, 0xE1, 0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00]);
        let crc = crc32(&pmt[1..]);
        pmt.extend_from_slice(&crc.to_be_bytes());
        self.packets(0x1000, &pmt, false);
    }

    fn pes(&mut self, pid: u16, stream_id: u8, pts: u64, payload: &[u8], key: bool) {
        let len = if stream_id == 0xE0 {
            0
        } else {
            (8 + payload.len()) as u16
        };
        let mut pes = vec![
            0,
            0,
            1,
            stream_id,
            (len >> 8) as u8,
            len as u8,
            0x80,
            0x80,
            5,
        ];
        pes.push(0x21 | ((pts >> 29) as u8 & 0x0E));
        pes.extend_from_slice(&[
            (pts >> 22) as u8,
            (pts >> 14) as u8 | 1,
            (pts >> 7) as u8,
            (pts << 1) as u8 | 1,
        ]);
        pes.extend_from_slice(payload);
        self.packets(pid, &pes, key);
    }

    fn packets(&mut self, pid: u16, mut data: &[u8], random_access: bool) {
        let mut start = true;
        while !data.is_empty() {
            let flagged = start && random_access;
            let take = data.len().min(184 - 2 * usize::from(flagged));
            // Adaptation field bytes, length byte included: flags, then stuffing.
            let af = 184 - take;
            let cc = self.cc.entry(pid).or_insert(15);
            *cc = (*cc + 1) & 0x0F;
            let control = if af > 0 { 0x30 } else { 0x10 };
            self.out.extend_from_slice(&[
                0x47,
                u8::from(start) << 6 | (pid >> 8) as u8,
                pid as u8,
                control | *cc,
            ]);
            if af > 0 {
                self.out.push((af - 1) as u8);
            }
            if af > 1 {
                self.out.push(if flagged { 0x40 } else { 0 });
                self.out.resize(self.out.len() + af - 2, 0xFF);
            }
            self.out.extend_from_slice(&data[..take]);
            data = &data[take..];
            start = false;
        }
    }
}

/// CRC_32 of ISO/IEC 13818-1 Annex A.
fn crc32(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |mut crc, &b| {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
        crc
    })
}
