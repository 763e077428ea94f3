//! Packet framing: finds 188-byte packet boundaries in a byte stream of any
//! chunking, and regains them after garbage or a lost byte (ISO/IEC 13818-1
//! §2.4.3.3: every packet starts with `sync_byte` 0x47). Does not parse packets.
//!
//! A packet is taken when it starts with 0x47 and so does the next one. When
//! the next one does not, the garbage lies after this packet or before it (the
//! 0x47 was a stray byte in the garbage): a confirmed start inside this
//! packet's span tells which. Once lost, sync is regained at the first 0x47
//! confirmed by another 0x47 188 bytes later. Decisions wait for the bytes
//! they need instead of guessing at a chunk edge, so the output does not
//! depend on how the input was chunked; the cost is one packet of latency.

use super::packet::{PACKET_SIZE, SYNC_BYTE};

#[derive(Debug)]
pub(crate) struct PacketSync {
    /// Bytes not yet framed: a partial packet, or a resync candidate waiting
    /// for its confirmation byte.
    carry: Vec<u8>,
    in_sync: bool,
    resyncs: u64,
}

enum Search {
    /// A confirmed packet start at this offset.
    Found(usize),
    /// Nothing before this offset can start a packet; more bytes are needed.
    NeedMore(usize),
}

impl Default for PacketSync {
    fn default() -> Self {
        Self {
            carry: Vec::new(),
            in_sync: true,
            resyncs: 0,
        }
    }
}

impl PacketSync {
    /// Times sync was lost (and searched for again).
    pub(crate) fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Frames `data`, calling `on_packet` for every whole packet.
    pub(crate) fn push(&mut self, data: &[u8], mut on_packet: impl FnMut(&[u8; PACKET_SIZE])) {
        if self.carry.is_empty() {
            let used = self.scan(data, &mut on_packet);
            self.carry.extend_from_slice(&data[used..]);
        } else {
            let mut carry = std::mem::take(&mut self.carry);
            carry.extend_from_slice(data);
            let used = self.scan(&carry, &mut on_packet);
            carry.drain(..used);
            self.carry = carry;
        }
    }

    /// End of input: a last packet still waiting for its confirmation byte is
    /// taken as is; a trailing partial packet is dropped. Ready for a new stream.
    pub(crate) fn finish(&mut self, mut on_packet: impl FnMut(&[u8; PACKET_SIZE])) {
        let carry = std::mem::take(&mut self.carry);
        let start = carry.iter().position(|&b| b == SYNC_BYTE);
        if let Some(p) = start.and_then(|s| carry.get(s..s + PACKET_SIZE)) {
            if let Ok(p) = p.try_into() {
                on_packet(p);
            }
        }
        self.in_sync = true;
    }

    /// Emits the packets found in `buf`; returns how many bytes were consumed.
    fn scan(&mut self, buf: &[u8], on_packet: &mut impl FnMut(&[u8; PACKET_SIZE])) -> usize {
        let mut pos = 0;
        loop {
            if self.in_sync {
                // Each packet waits for the next sync byte, its confirmation.
                let Some(&next) = buf.get(pos + PACKET_SIZE) else {
                    return pos;
                };
                if buf[pos] == SYNC_BYTE {
                    match self.check_in_sync(&buf[pos..], next) {
                        InSync::Packet => {
                            if let Ok(p) = buf[pos..pos + PACKET_SIZE].try_into() {
                                on_packet(p);
                            }
                            pos += PACKET_SIZE;
                        }
                        InSync::SkipTo(at) => pos += at,
                        InSync::NeedMore => return pos,
                    }
                    continue;
                }
                self.in_sync = false;
                self.resyncs += 1;
            }
            match find_sync(&buf[pos..]) {
                Search::Found(at) => {
                    pos += at;
                    self.in_sync = true;
                }
                Search::NeedMore(at) => return pos + at,
            }
        }
    }

    /// A packet starts at `b[0]` where one was expected. If the next one is not
    /// where it should be, garbage lies either after this packet (keep it) or
    /// before it, its 0x47 a stray byte: then a confirmed packet start inside
    /// this packet's span is where the stream resumes.
    fn check_in_sync(&mut self, b: &[u8], next: u8) -> InSync {
        if next == SYNC_BYTE {
            return InSync::Packet;
        }
        let window = &b[1..b.len().min(2 * PACKET_SIZE)];
        match find_sync(window) {
            Search::Found(at) if at + 1 < PACKET_SIZE => {
                self.resyncs += 1;
                InSync::SkipTo(at + 1)
            }
            Search::NeedMore(at) if at + 1 < PACKET_SIZE => InSync::NeedMore,
            _ => InSync::Packet,
        }
    }
}

enum InSync {
    Packet,
    SkipTo(usize),
    NeedMore,
}

/// The first offset holding 0x47 with another 0x47 one packet later.
fn find_sync(b: &[u8]) -> Search {
    for (i, &byte) in b.iter().enumerate() {
        if byte != SYNC_BYTE {
            continue;
        }
        match b.get(i + PACKET_SIZE) {
            Some(&SYNC_BYTE) => return Search::Found(i),
            Some(_) => {}
            None => return Search::NeedMore(i),
        }
    }
    Search::NeedMore(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(n: u8) -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                let mut p = [i; PACKET_SIZE];
                p[0] = SYNC_BYTE;
                p
            })
            .collect()
    }

    fn frame(chunks: &[&[u8]]) -> (Vec<u8>, u64) {
        let mut sync = PacketSync::default();
        let mut seen = Vec::new();
        for c in chunks {
            sync.push(c, |p| seen.push(p[1]));
        }
        sync.finish(|p| seen.push(p[1]));
        (seen, sync.resyncs())
    }

    #[test]
    fn aligned_and_split_input_give_the_same_packets() {
        let data = packets(5);
        assert_eq!(frame(&[&data]), (vec![0, 1, 2, 3, 4], 0));
        let (a, b) = data.split_at(100);
        let (b, c) = b.split_at(300);
        assert_eq!(frame(&[a, b, c]), (vec![0, 1, 2, 3, 4], 0));
    }

    #[test]
    fn resyncs_after_garbage_with_stray_sync_bytes() {
        let mut data = packets(2);
        data.extend_from_slice(&[0x00, 0x47, 0x13, 0x47, 0x99]);
        data.extend(
            packets(3)
                .iter()
                .map(|&b| if b == SYNC_BYTE { b } else { b + 10 }),
        );
        let (seen, resyncs) = frame(&[&data]);
        assert_eq!(seen, vec![0, 1, 10, 11, 12]);
        assert_eq!(resyncs, 1);
        let bytewise: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(frame(&bytewise), (seen, 1));
    }

    #[test]
    fn leading_garbage_and_trailing_partial_packet() {
        let mut data = vec![1, 2, 3];
        data.extend(packets(2));
        data.extend_from_slice(&[SYNC_BYTE, 9, 9]);
        assert_eq!(frame(&[&data]), (vec![0, 1], 1));
    }
}
