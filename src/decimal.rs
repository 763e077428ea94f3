//! Numbers written into text built per request (cache keys, `Cache-Status`,
//! `Cache-Control`) with `itoa`: `write!` goes through the formatter, which
//! costs several hundred instructions per number on a hit path that writes
//! four (docs/performance.md).

/// Appends `n` in decimal, as `write!(out, "{n}")` would.
pub fn push_decimal(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
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
