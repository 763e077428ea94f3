//! Which origin a request tries next, as a pure function of what is known
//! about each origin of its group (design section 5).
//!
//! Ranking, best first:
//! 1. origins this request has not tried yet (each is tried at most once);
//! 2. not ejected (`down`), unless every origin of the group is down: then
//!    the untried ones are tried anyway, by priority (the request would fail
//!    otherwise);
//! 3. for playlist requests, origins whose copy of the playlist is not behind;
//! 4. lower `priority`;
//! 5. healthy before degraded, stale or half-open (on probation);
//! 6. among equals, a weighted choice: `weight` shares of the requests.
//!
//! The weighted choice takes a `spin` (a counter the group advances on every
//! choice) instead of randomness, so the shares are exact and tests are
//! deterministic.

use super::health::{Admission, HealthState};

/// What is known of one origin of the group when a request picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Position in the group's configured list.
    pub index: usize,
    pub priority: u32,
    pub weight: u32,
    pub state: HealthState,
    pub admission: Admission,
    /// This request already tried it.
    pub tried: bool,
    /// Playlist requests: its copy of this playlist is stale (behind another
    /// origin's and not advancing, or not caught up since).
    pub behind: bool,
}

impl Candidate {
    fn rank(&self) -> (bool, u32, bool) {
        let on_probation = self.state != HealthState::Healthy || self.admission != Admission::Open;
        (self.behind, self.priority, on_probation)
    }
}

/// The candidate to try next, if any is left. See the module docs.
pub fn choose(candidates: &[Candidate], spin: u64) -> Option<Candidate> {
    let untried = candidates.iter().filter(|c| !c.tried);
    let usable: Vec<&Candidate> = untried
        .clone()
        .filter(|c| c.admission != Admission::Closed)
        .collect();
    if usable.is_empty() {
        let all_down = candidates.iter().all(|c| c.state == HealthState::Down);
        return if all_down {
            untried.min_by_key(|c| (c.priority, c.index)).copied()
        } else {
            None
        };
    }
    let best = usable.iter().map(|c| c.rank()).min()?;
    let equals: Vec<&Candidate> = usable.into_iter().filter(|c| c.rank() == best).collect();
    weighted(&equals, spin).copied()
}

/// The candidate at position `spin` modulo the total weight, each one owning
/// `weight` consecutive positions.
fn weighted<'a>(equals: &[&'a Candidate], spin: u64) -> Option<&'a Candidate> {
    let total: u64 = equals.iter().map(|c| u64::from(c.weight.max(1))).sum();
    let mut position = spin.checked_rem(total)?;
    for c in equals {
        let w = u64::from(c.weight.max(1));
        if position < w {
            return Some(c);
        }
        position -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(index: usize, priority: u32, weight: u32) -> Candidate {
        Candidate {
            index,
            priority,
            weight,
            state: HealthState::Healthy,
            admission: Admission::Open,
            tried: false,
            behind: false,
        }
    }

    fn down(mut c: Candidate, admission: Admission) -> Candidate {
        c.state = HealthState::Down;
        c.admission = admission;
        c
    }

    fn pick(cs: &[Candidate]) -> Option<usize> {
        choose(cs, 0).map(|c| c.index)
    }

    #[test]
    fn lower_priority_first_each_origin_once() {
        let mut cs = vec![origin(0, 1, 1), origin(1, 0, 1), origin(2, 2, 1)];
        let mut order = Vec::new();
        while let Some(i) = pick(&cs) {
            order.push(i);
            cs[i].tried = true;
        }
        assert_eq!(order, vec![1, 0, 2]);
    }

    #[test]
    fn weights_share_requests_within_a_priority() {
        let cs = [origin(0, 0, 3), origin(1, 0, 1), origin(2, 1, 100)];
        let mut counts = [0; 3];
        for spin in 0..400 {
            counts[choose(&cs, spin).expect("one").index] += 1;
        }
        assert_eq!(counts, [300, 100, 0]);
    }

    #[test]
    fn down_origins_are_skipped_unless_all_are_down() {
        let cs = [down(origin(0, 0, 1), Admission::Closed), origin(1, 1, 1)];
        assert_eq!(pick(&cs), Some(1));
        let mut cs = cs;
        cs[1].tried = true;
        assert_eq!(pick(&cs), None, "not every origin is down");
        let cs = [
            down(origin(0, 1, 1), Admission::Closed),
            down(origin(1, 0, 1), Admission::Closed),
        ];
        assert_eq!(pick(&cs), Some(1), "all down: tried anyway, by priority");
    }

    #[test]
    fn a_half_open_origin_gets_its_probe_at_its_priority() {
        let cs = [down(origin(0, 0, 1), Admission::Probe), origin(1, 1, 1)];
        assert_eq!(pick(&cs), Some(0));
    }

    #[test]
    fn healthy_before_degraded_or_stale_within_a_priority_only() {
        let mut cs = [origin(0, 0, 1), origin(1, 0, 1), origin(2, 1, 1)];
        cs[0].state = HealthState::Degraded;
        assert_eq!(pick(&cs), Some(1));
        cs[1].state = HealthState::Stale;
        for spin in 0..4 {
            let i = choose(&cs, spin).expect("one").index;
            assert!(i < 2, "priority 0 still beats a healthy priority 1");
        }
    }

    #[test]
    fn a_playlist_that_is_behind_loses_to_any_other() {
        let mut cs = [origin(0, 0, 1), origin(1, 5, 1)];
        cs[0].behind = true;
        assert_eq!(pick(&cs), Some(1));
        cs[1].tried = true;
        assert_eq!(pick(&cs), Some(0), "behind, but better than nothing");
    }
}
