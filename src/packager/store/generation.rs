//! Generation ids: the `{generation}` path segment that scopes every URL of one
//! run of a stream, so that no cache can serve an old run's segment under a
//! reused name (design §7).
//!
//! An id is the minting time in milliseconds since the Unix epoch, in base 36,
//! made strictly increasing within the process. A restarted process mints from
//! its own, later clock, so ids stay unique across restarts as long as the
//! clock does not go back by more than the ids minted "ahead" of it (one per
//! millisecond at most).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// One run of a stream: `mbx3k2a1` in `/hls/demo/mbx3k2a1/360p/index.m3u8`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GenerationId(String);

impl GenerationId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[cfg(test)]
    pub(crate) fn for_test(id: &str) -> Self {
        GenerationId(id.to_string())
    }
}

impl fmt::Display for GenerationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Mints generation ids, each later than the one before.
#[derive(Debug, Default)]
pub struct GenerationIds {
    last_ms: u64,
}

impl GenerationIds {
    /// A new id for a generation starting at `now`.
    pub fn mint(&mut self, now: SystemTime) -> GenerationId {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let ms = now_ms.max(self.last_ms.saturating_add(1));
        self.last_ms = ms;
        GenerationId(base36(ms))
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(13);
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_increase_within_one_millisecond() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let mut ids = GenerationIds::default();
        let a = ids.mint(now);
        let b = ids.mint(now);
        assert_ne!(a, b);
        assert_eq!(a.as_str(), "loyw3v28");
        assert_eq!(b.as_str(), "loyw3v29");
    }

    #[test]
    fn a_restarted_process_mints_new_ids() {
        let start = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let mut first_run = GenerationIds::default();
        let old: Vec<_> = (0..5).map(|_| first_run.mint(start)).collect();
        let mut second_run = GenerationIds::default();
        let new = second_run.mint(start + Duration::from_secs(1));
        assert!(!old.contains(&new));
    }

    #[test]
    fn base36_digits() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
    }
}
