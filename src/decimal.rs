//! Numbers written into text built per request (cache keys, `Cache-Status`,
//! `Cache-Control`) digit by digit: `write!` goes through the formatter,
//! which costs several hundred instructions per number on a hit path that
//! writes three (docs/performance.md).

/// Appends `n` in decimal, as `write!(out, "{n}")` would.
pub fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut n = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // one copy of the digits (ASCII), not a push per character
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

/// How many characters [`push_decimal`] writes for `n`.
pub fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_the_formatter_writes() {
        for n in [0, 7, 10, 99, 100, 1234, u64::from(u32::MAX), u64::MAX] {
            let mut out = String::from("x");
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}"));
            assert_eq!(decimal_len(n), n.to_string().len(), "{n}");
        }
    }
}
