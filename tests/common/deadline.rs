//! `Deadline`: a bounded poll for tests that wait on the edge (a gauge to
//! move, a log line to land) without a fixed sleep.

use std::time::{Duration, Instant};

/// A bounded poll: `tick` sleeps `every` until `within` has passed since
/// `new`, then panics naming what never happened and what was seen last.
pub struct Deadline {
    what: String,
    started: Instant,
    within: Duration,
}

impl Deadline {
    pub fn new(what: impl Into<String>, within: Duration) -> Deadline {
        Deadline {
            what: what.into(),
            started: Instant::now(),
            within,
        }
    }

    pub async fn tick(&self, every: Duration, last_seen: impl FnOnce() -> String) {
        if self.started.elapsed() >= self.within {
            panic!(
                "{} did not happen within {:?}; last seen:\n{}",
                self.what,
                self.within,
                last_seen()
            );
        }
        tokio::time::sleep(every).await;
    }
}
