//! A big-endian bit reader over RBSP bytes with the Exp-Golomb codes of
//! ITU-T H.264 §9.1 / H.265 §9.2 (`ue(v)`, `se(v)`).

use super::CodecError;

pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn bit(&mut self) -> Result<u32, CodecError> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or(CodecError::Truncated(self.pos))?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u32::from(bit))
    }

    pub(crate) fn flag(&mut self) -> Result<bool, CodecError> {
        Ok(self.bit()? == 1)
    }

    /// `u(n)` for n <= 32.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, CodecError> {
        (0..n).try_fold(0u32, |acc, _| Ok(acc << 1 | self.bit()?))
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), CodecError> {
        self.pos += n;
        if self.pos > self.data.len() * 8 {
            return Err(CodecError::Truncated(self.pos));
        }
        Ok(())
    }

    /// `ue(v)`: leading zeros, a one, then as many info bits.
    pub(crate) fn ue(&mut self) -> Result<u32, CodecError> {
        let start = self.pos;
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(CodecError::ExpGolomb(start));
            }
        }
        Ok(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }

    /// `se(v)`: ue mapped 0, 1, -1, 2, -2, ...
    pub(crate) fn se(&mut self) -> Result<i32, CodecError> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_codes() {
        // 1 | 010 | 011 | 00100 | 00101 -> ue 0, 1, 2, 3, 4
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data);
        let v: Vec<u32> = (0..5).map(|_| r.ue().expect("enough bits")).collect();
        assert_eq!(v, vec![0, 1, 2, 3, 4]);
        let mut r = BitReader::new(&data[..1]);
        assert_eq!(r.ue(), Ok(0));
        assert_eq!((r.se(), r.se()), (Ok(1), Ok(-1)));
        assert_eq!(r.bits(2), Err(CodecError::Truncated(8)));
        assert_eq!(BitReader::new(&[0; 5]).ue(), Err(CodecError::ExpGolomb(0)));
    }
}
