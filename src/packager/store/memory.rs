//! The store's memory bound (`max_bytes`): what can be freed to make room for
//! a new segment or part, in order: ended generations (oldest ended first),
//! then segments kept behind live windows (from the rendition with the most).
//! Live windows are never cut.

use super::{Inner, Retention};

impl Inner {
    /// Frees memory until `need` more bytes fit under the limit: ended
    /// generations first (oldest ended first), then segments behind live
    /// windows (from the rendition with the most). False when it cannot.
    pub(super) fn make_room(&mut self, need: u64, limits: &Retention) -> bool {
        let freeable = self.freeable(limits.window);
        if self.bytes.saturating_sub(freeable) + need > limits.max_bytes {
            return false;
        }
        let mut behind_dropped = 0u64;
        while self.bytes + need > limits.max_bytes {
            if let Some(freed) = self.delete_oldest_ended() {
                self.bytes -= freed;
            } else if let Some(freed) = self.drop_one_behind(limits.window) {
                self.bytes -= freed;
                behind_dropped += 1;
            } else {
                return false;
            }
        }
        if behind_dropped > 0 {
            tracing::warn!(
                segments = behind_dropped,
                max_bytes = limits.max_bytes,
                "packager store full: dropped segments kept for late players"
            );
        }
        true
    }

    /// Bytes `make_room` could free: ended generations and segments behind windows.
    fn freeable(&self, window: usize) -> u64 {
        let generations = self.streams.values().flat_map(|e| e.generations.iter());
        generations
            .map(|g| match g.ended_at {
                Some(_) => g.bytes(),
                None => g.renditions.values().map(|r| r.behind_bytes(window)).sum(),
            })
            .sum()
    }

    fn delete_oldest_ended(&mut self) -> Option<u64> {
        let (name, index) = self
            .streams
            .iter()
            .flat_map(|(name, e)| {
                e.generations
                    .iter()
                    .enumerate()
                    .filter_map(move |(i, g)| g.ended_at.map(|t| (t, name, i)))
            })
            .min()
            .map(|(_, name, i)| (name.clone(), i))?;
        let entry = self.streams.get_mut(&name)?;
        let g = entry.generations.remove(index);
        tracing::warn!(stream = %name, generation = %g.id, "packager store full: ended generation deleted early");
        Some(g.bytes())
    }

    fn drop_one_behind(&mut self, window: usize) -> Option<u64> {
        let rendition = self
            .streams
            .values_mut()
            .flat_map(|e| e.generations.iter_mut())
            .flat_map(|g| g.renditions.values_mut())
            .filter(|r| r.behind(window) > 0)
            .max_by_key(|r| r.behind(window))?;
        Some(rendition.drop_behind(window))
    }
}
