//! The 33-bit, 90 kHz system clock values of ISO/IEC 13818-1: PTS/DTS (§2.4.3.7)
//! and the PCR base (§2.4.3.5), with their wire encodings and unwrapping into a
//! monotonic `u64`. Does not own any policy about what a jump means
//! (that is `segmenter`'s).

/// A 33-bit timestamp in 90 kHz units, as carried in PES headers and PCR bases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// 2^33: timestamps wrap to 0 here (about 26.5 hours at 90 kHz).
    pub const MODULUS: u64 = 1 << 33;
    /// Ticks per second.
    pub const HZ: u64 = 90_000;

    /// `None` if `ticks` does not fit in 33 bits.
    pub const fn new(ticks: u64) -> Option<Self> {
        if ticks < Self::MODULUS {
            Some(Self(ticks))
        } else {
            None
        }
    }

    /// `ticks` modulo 2^33.
    pub const fn wrapping(ticks: u64) -> Self {
        Self(ticks & (Self::MODULUS - 1))
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    /// `self + ticks` modulo 2^33.
    pub const fn wrapping_add(self, ticks: u64) -> Self {
        Self::wrapping(self.0.wrapping_add(ticks & (Self::MODULUS - 1)))
    }

    /// The `u64` congruent to `self` modulo 2^33 that is nearest to `reference`
    /// (an earlier unwrapped value): how a 33-bit clock that wrapped keeps counting up.
    pub fn unwrap_near(self, reference: u64) -> u64 {
        let m = Self::MODULUS;
        let candidate = (reference & !(m - 1)) | self.0;
        let below = candidate.checked_sub(m);
        let above = candidate.checked_add(m);
        [below, Some(candidate), above]
            .into_iter()
            .flatten()
            .min_by_key(|c| c.abs_diff(reference))
            .unwrap_or(candidate)
    }

    /// Reads the 5-byte PES encoding (§2.4.3.7, PTS/DTS fields): 3 + 15 + 15 bits
    /// with marker bits between them. `None` if `b` is shorter than 5 bytes.
    pub(crate) fn read_pes(b: &[u8]) -> Option<Self> {
        let b: &[u8; 5] = b.get(..5)?.try_into().ok()?;
        let v = (u64::from(b[0] >> 1) & 0x07) << 30
            | u64::from(b[1]) << 22
            | u64::from(b[2] >> 1) << 15
            | u64::from(b[3]) << 7
            | u64::from(b[4] >> 1);
        Some(Self(v))
    }

    /// Writes the 5-byte PES encoding, keeping the 4-bit prefix of `b[0]`
    /// ('0010', '0011' or '0001') and setting the marker bits.
    pub(crate) fn write_pes(self, b: &mut [u8]) {
        let Some(b) = b.get_mut(..5) else { return };
        let v = self.0;
        b[0] = (b[0] & 0xF0) | ((v >> 29) as u8 & 0x0E) | 1;
        b[1] = (v >> 22) as u8;
        b[2] = ((v >> 14) as u8 & 0xFE) | 1;
        b[3] = (v >> 7) as u8;
        b[4] = ((v << 1) as u8 & 0xFE) | 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn new_rejects_values_past_33_bits() {
        assert!(Timestamp::new(Timestamp::MODULUS - 1).is_some());
        assert!(Timestamp::new(Timestamp::MODULUS).is_none());
        assert_eq!(Timestamp::wrapping(Timestamp::MODULUS + 5).get(), 5);
    }

    #[test]
    fn unwrap_crosses_the_wrap_forward_and_back() {
        let near_end = Timestamp::MODULUS - 900;
        assert_eq!(
            Timestamp::wrapping(100).unwrap_near(near_end),
            Timestamp::MODULUS + 100
        );
        let after = Timestamp::MODULUS + 100;
        assert_eq!(Timestamp::wrapping(near_end).unwrap_near(after), near_end);
        assert_eq!(Timestamp::wrapping(5).unwrap_near(0), 5);
        // Nothing lies below 0: a late value at the very start stays as it is.
        let late = Timestamp::MODULUS - 10;
        assert_eq!(Timestamp::wrapping(late).unwrap_near(0), late);
    }

    proptest! {
        #[test]
        fn pes_encoding_round_trips(v in 0u64..Timestamp::MODULUS, prefix in 0u8..16) {
            let mut b = [prefix << 4, 0, 0, 0, 0];
            Timestamp::wrapping(v).write_pes(&mut b);
            prop_assert_eq!(b[0] >> 4, prefix);
            prop_assert_eq!(b[0] & 1, 1);
            prop_assert_eq!(Timestamp::read_pes(&b), Some(Timestamp::wrapping(v)));
        }

        #[test]
        fn unwrap_is_within_half_a_wrap(v in 0u64..Timestamp::MODULUS, r in 0u64..(1 << 40)) {
            let u = Timestamp::wrapping(v).unwrap_near(r);
            prop_assert_eq!(u % Timestamp::MODULUS, v);
            // Below 0 there is no u64: near the start the value itself is taken.
            prop_assert!(u.abs_diff(r) <= Timestamp::MODULUS / 2 || (u == v && r < Timestamp::MODULUS / 2));
        }
    }
}
