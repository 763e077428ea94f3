//! The requests the packager holds for LL-HLS (rfc8216bis §6.2.5.2 blocking playlist
//! reloads, §6.2.6 preload-hinted parts): waiting on a rendition until it has what the
//! request needs, within a deadline, and counting how each hold ended, per stream. The
//! operator reads the counts on `/status` and `/metrics`; what a request needs is the
//! caller's (`delivery.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use pingora::server::ShutdownWatch;
use tokio::time::Instant;

use crate::packager::store::{Rendition, Store};

/// What a request decides on each look at the rendition.
pub enum Step<T> {
    /// Answer with this.
    Done(T),
    /// Look again at the rendition's next change.
    Wait,
}

/// How a hold ended.
#[derive(Debug)]
pub enum Held<T> {
    Done(T),
    /// The deadline passed first.
    TimedOut,
    /// The rendition (its generation) is gone.
    Gone,
    ShuttingDown,
}

/// Which rendition a hold watches.
#[derive(Debug, Clone, Copy)]
pub struct Watched<'a> {
    pub stream: &'a str,
    pub generation: &'a str,
    pub rendition: &'a str,
}

/// Calls `step` with the rendition (and every rendition of its generation) now and at
/// each of its changes, until it is `Done`, the deadline passes, the rendition is gone or
/// the server shuts down. Returns how it ended and whether it waited at all.
pub async fn hold<T>(
    store: &Store,
    watched: Watched<'_>,
    deadline: Instant,
    shutdown: &ShutdownWatch,
    mut step: impl FnMut(&BTreeMap<String, Rendition>, &Rendition) -> Step<T>,
) -> (Held<T>, bool) {
    let mut shutdown = shutdown.clone();
    let mut waited = false;
    loop {
        // Subscribing under the same lock as the look: no change can slip in between.
        let looked = store.read_generation(watched.stream, watched.generation, |all| {
            let rendition = all.get(watched.rendition)?;
            Some(match step(all, rendition) {
                Step::Done(t) => Ok(t),
                Step::Wait => Err(rendition.subscribe()),
            })
        });
        let mut changes = match looked.flatten() {
            None => return (Held::Gone, waited),
            Some(Ok(t)) => return (Held::Done(t), waited),
            Some(Err(changes)) => changes,
        };
        waited = true;
        tokio::select! {
            changed = tokio::time::timeout_at(deadline, changes.changed()) => {
                if changed.is_err() {
                    return (Held::TimedOut, waited);
                }
            }
            _ = shutdown.changed() => return (Held::ShuttingDown, waited),
        }
    }
}

/// How a held request ended (a bounded metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// What it asked for was there: answered without waiting.
    AtOnce,
    /// Answered once what it asked for was published.
    AfterHold,
    /// 503: not published within the hold limit (or the server shut down).
    TimedOut,
    /// 400: a malformed or too-far-ahead directive.
    Refused,
    /// 404: the hinted part will never come (the input stopped) or the rendition is gone.
    Gone,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::AtOnce,
        Outcome::AfterHold,
        Outcome::TimedOut,
        Outcome::Refused,
        Outcome::Gone,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::AtOnce => "at_once",
            Outcome::AfterHold => "after_hold",
            Outcome::TimedOut => "timeout",
            Outcome::Refused => "refused",
            Outcome::Gone => "gone",
        }
    }
}

/// Which kind of held request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldKind {
    /// A playlist request with `_HLS_msn` (blocking reload).
    Blocking,
    /// A request for the part an `EXT-X-PRELOAD-HINT` names, before it is published.
    PreloadHint,
}

#[derive(Debug, Default)]
struct Counters {
    now: AtomicU64,
    outcomes: [AtomicU64; 5],
}

/// Held requests of one kind, of one stream: how many are held now, and how each ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldCounts {
    pub held_now: u64,
    /// Per outcome, in the order of [`Outcome::ALL`].
    pub outcomes: [u64; 5],
}

impl HoldCounts {
    pub fn of(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize]
    }
}

impl Counters {
    fn snapshot(&self) -> HoldCounts {
        HoldCounts {
            held_now: self.now.load(Ordering::Relaxed),
            outcomes: std::array::from_fn(|i| self.outcomes[i].load(Ordering::Relaxed)),
        }
    }
}

/// The counters of every configured stream, made once: no lock on the request path.
#[derive(Debug, Default)]
pub struct HoldBook {
    streams: BTreeMap<String, [Counters; 2]>,
}

impl HoldBook {
    pub fn new<'a>(streams: impl IntoIterator<Item = &'a str>) -> Self {
        HoldBook {
            streams: streams
                .into_iter()
                .map(|s| (s.to_owned(), Default::default()))
                .collect(),
        }
    }

    fn counters(&self, stream: &str, kind: HoldKind) -> Option<&Counters> {
        self.streams.get(stream).map(|c| &c[kind as usize])
    }

    /// Counts one held request as held now until the guard is dropped.
    pub fn holding(&self, stream: &str, kind: HoldKind) -> HoldingGuard<'_> {
        let counters = self.counters(stream, kind);
        if let Some(c) = counters {
            c.now.fetch_add(1, Ordering::Relaxed);
        }
        HoldingGuard(counters)
    }

    pub fn record(&self, stream: &str, kind: HoldKind, outcome: Outcome) {
        if let Some(c) = self.counters(stream, kind) {
            c.outcomes[outcome as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Per stream: (blocking reloads, preload-hinted parts).
    pub fn snapshot(&self) -> Vec<(String, HoldCounts, HoldCounts)> {
        self.streams
            .iter()
            .map(|(name, [blocking, hints])| (name.clone(), blocking.snapshot(), hints.snapshot()))
            .collect()
    }
}

/// A request counted as held now (see [`HoldBook::holding`]).
pub struct HoldingGuard<'a>(Option<&'a Counters>);

impl Drop for HoldingGuard<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.now.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_stream_and_kind() {
        let book = HoldBook::new(["demo", "live"]);
        {
            let _a = book.holding("demo", HoldKind::Blocking);
            let _b = book.holding("demo", HoldKind::Blocking);
            let _c = book.holding("nope", HoldKind::Blocking);
            assert_eq!(book.snapshot()[0].1.held_now, 2);
        }
        book.record("demo", HoldKind::Blocking, Outcome::AfterHold);
        book.record("demo", HoldKind::PreloadHint, Outcome::TimedOut);
        let snapshot = book.snapshot();
        let (name, blocking, hints) = &snapshot[0];
        assert_eq!(name, "demo");
        assert_eq!((blocking.held_now, blocking.of(Outcome::AfterHold)), (0, 1));
        assert_eq!(hints.of(Outcome::TimedOut), 1);
        assert_eq!(snapshot[1].1, HoldCounts::default());
    }
}
