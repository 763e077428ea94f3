//! The progress of one live media playlist (a rendition), as every origin of its group
//! served it and as players were sent it. Pure rules, the clock passed in; the book
//! (`streams.rs`) holds one of these per playlist path and locks around it.
//!
//! One definition of "not advancing" serves everything: the *window* is `stale_after` x
//! target duration (design section 5).
//!
//! - An origin is **overdue** when its own observations show its playlist not advancing for
//!   longer than the window (judged on evidence: an origin nobody asked is never condemned).
//! - An origin is **stale** when it is overdue, or was found stale before, while its
//!   playlist is behind the newest one sent to players; it stays stale until its own
//!   playlist has caught up with that one.
//! - The **newest served** position is the no-regression bound: a playlist behind it is
//!   never sent (the kept newer body goes instead), for as long as the stream is followed.
//!   The bound is reset only when the stream restarted its numbering: the origin that sent
//!   the older playlist went backwards itself, the older playlist shares no segment with the
//!   newest served, and no other origin heard from within the window is still ahead.
//! - The rendition is **frozen** (on `/status`) when the newest served has not advanced for
//!   longer than the window while players still ask for it.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::hls::{PlaylistSummary, Position};

/// One origin's copy of the playlist.
#[derive(Debug, Clone, Copy)]
struct Seen {
    position: Position,
    advanced_at: Instant,
    observed_at: Instant,
    /// Found stale at an observation, and not caught up since.
    latched: bool,
    /// Its own numbering went backwards (a restart), and it is not level with the
    /// newest served since.
    went_back: bool,
}

/// The newest playlist sent to players.
#[derive(Debug, Clone)]
struct Served {
    position: Position,
    first_msn: u64,
    advanced_at: Instant,
    /// Kept (groups of several origins) to be sent in place of an older one.
    body: Option<Bytes>,
}

/// What to send for a playlist about to go to a player.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Send it: it is at least as new as anything sent before.
    Send,
    /// It is behind the newest one sent (at `served`): send this body instead.
    SendNewer { served: Position, body: Bytes },
    /// It is behind, and no newer body is kept (a group of one origin): send it anyway.
    SendBehind { served: Position },
}

/// What selection needs to know about one origin for this playlist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OriginProgress {
    /// Stale: its copy is behind the newest served and not advancing (or not caught up).
    pub behind: bool,
    /// Observed within the last window: what is known of it is current.
    pub observed_recently: bool,
    /// Its playlist has not advanced for longer than the window, as of now.
    pub overdue: bool,
}

/// See the module docs.
#[derive(Debug)]
pub struct Rendition {
    /// The origin group the playlist comes from (`/status` shows its stale origins).
    pub(super) group: std::sync::Arc<str>,
    stale_after: u32,
    target: Duration,
    origins: Vec<Option<Seen>>,
    served: Option<Served>,
    /// The newest position fetched from any origin (for the segment lag).
    fetched: Option<Position>,
    /// The position of the playlist last sent to a player.
    last_sent: Option<Position>,
    /// The last request for it.
    pub(super) seen_at: Instant,
}

impl Rendition {
    pub fn new(group: std::sync::Arc<str>, origins: usize, stale_after: u32, now: Instant) -> Self {
        Rendition {
            group,
            stale_after: stale_after.max(1),
            target: Duration::from_secs(1),
            origins: vec![None; origins],
            served: None,
            fetched: None,
            last_sent: None,
            seen_at: now,
        }
    }

    /// `#EXT-X-TARGETDURATION` of its latest playlist.
    pub fn target_duration(&self) -> Duration {
        self.target
    }

    /// `stale_after` x target duration.
    pub fn window(&self) -> Duration {
        self.target * self.stale_after
    }

    /// Records that origin `index` answered the playlist (a 200, or a 304 confirming the
    /// stored copy) with `summary`.
    pub fn observe(&mut self, index: usize, summary: &PlaylistSummary, now: Instant) {
        let Some(position) = summary.live_position() else {
            return;
        };
        self.target = summary.target_duration.max(Duration::from_secs(1));
        let newest = self.newest();
        let window = self.window();
        let Some(slot) = self.origins.get_mut(index) else {
            return;
        };
        let mut seen = match *slot {
            Some(old) if position == old.position => Seen {
                observed_at: now,
                ..old
            },
            old => Seen {
                position,
                advanced_at: now,
                observed_at: now,
                latched: old.is_some_and(|o| o.latched),
                went_back: old.is_some_and(|o| o.went_back || position < o.position),
            },
        };
        let overdue = seen.observed_at.saturating_duration_since(seen.advanced_at) > window;
        let behind = newest.is_some_and(|n| position < n);
        seen.latched = behind && (overdue || seen.latched);
        // a restart stays known until the origin is level with the newest again
        seen.went_back &= behind;
        *slot = Some(seen);
        if self.fetched.is_none_or(|f| position > f) || seen.went_back {
            self.fetched = Some(position);
        }
    }

    /// Decides what to send for a playlist with `summary` (fetched from origin `from`, if
    /// it was), and records what goes out. `body` is kept when `keep_body` (groups of
    /// several origins, where another origin's older copy may come next).
    pub fn serve(
        &mut self,
        summary: &PlaylistSummary,
        from: Option<usize>,
        body: &Bytes,
        keep_body: bool,
        now: Instant,
    ) -> Verdict {
        let Some(position) = summary.live_position() else {
            return Verdict::Send;
        };
        self.target = summary.target_duration.max(Duration::from_secs(1));
        if let Some(served) = &self.served {
            if position < served.position && !self.restarted(from, position, now) {
                let verdict = match &served.body {
                    Some(newer) => Verdict::SendNewer {
                        served: served.position,
                        body: newer.clone(),
                    },
                    None => Verdict::SendBehind {
                        served: served.position,
                    },
                };
                self.last_sent = Some(match verdict {
                    Verdict::SendNewer { served, .. } => served,
                    _ => position,
                });
                return verdict;
            }
        }
        self.last_sent = Some(position);
        let advanced_at = match &self.served {
            Some(s) if s.position == position => s.advanced_at,
            _ => now,
        };
        self.served = Some(Served {
            position,
            first_msn: summary.first_msn,
            advanced_at,
            body: keep_body.then(|| body.clone()),
        });
        Verdict::Send
    }

    /// Whether an older playlist at `position` from `from` is a restarted stream rather
    /// than a copy that fell behind (see the module docs).
    fn restarted(&self, from: Option<usize>, position: Position, now: Instant) -> bool {
        let (Some(index), Some(served)) = (from, &self.served) else {
            return false;
        };
        let went_back = self
            .origins
            .get(index)
            .copied()
            .flatten()
            .is_some_and(|s| s.went_back);
        let no_overlap = position
            .last_segment()
            .is_none_or(|last| last < served.first_msn);
        let window = self.window();
        let another_ahead = self.origins.iter().enumerate().any(|(i, s)| {
            s.is_some_and(|s| {
                i != index
                    && s.position >= served.position
                    && now.saturating_duration_since(s.observed_at) <= window
            })
        });
        went_back && no_overlap && !another_ahead
    }

    /// The newest position sent to players, or (before any) fetched from an origin.
    fn newest(&self) -> Option<Position> {
        self.served.as_ref().map(|s| s.position).or(self.fetched)
    }

    /// What selection needs to know of each origin, as of `now`.
    pub fn origins(&self, now: Instant) -> Vec<OriginProgress> {
        let window = self.window();
        let newest = self.newest();
        self.origins
            .iter()
            .map(|seen| match seen {
                None => OriginProgress::default(),
                Some(s) => {
                    let behind = newest.is_some_and(|n| s.position < n);
                    let overdue_seen =
                        s.observed_at.saturating_duration_since(s.advanced_at) > window;
                    OriginProgress {
                        behind: behind && (s.latched || overdue_seen),
                        observed_recently: now.saturating_duration_since(s.observed_at) <= window,
                        overdue: now.saturating_duration_since(s.advanced_at) > window,
                    }
                }
            })
            .collect()
    }

    /// Origins of the group stale on this playlist now.
    pub fn stale_origins(&self, now: Instant) -> impl Iterator<Item = usize> + '_ {
        self.origins(now)
            .into_iter()
            .enumerate()
            .filter(|(_, p)| p.behind)
            .map(|(i, _)| i)
    }

    /// Seconds since the newest served playlist last advanced.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.served
            .as_ref()
            .map(|s| now.saturating_duration_since(s.advanced_at))
    }

    /// Not advanced for longer than the window.
    pub fn frozen(&self, now: Instant) -> bool {
        self.age(now).is_some_and(|age| age > self.window())
    }

    /// Segments the playlist last sent to a player trails the newest fetched from an origin.
    pub fn lag(&self) -> Option<u64> {
        let sent = self.last_sent?;
        Some(self.fetched.map_or(0, |f| f.segments_since(sent)))
    }

    /// The newest position sent to players.
    pub fn served(&self) -> Option<Position> {
        self.served.as_ref().map(|s| s.position)
    }
}

#[cfg(test)]
mod tests;
