//! LL-HLS delivery directives on a media playlist request (rfc8216bis §6.2.5): reading
//! `_HLS_msn`, `_HLS_part` and `_HLS_skip` from the query, and deciding against where a
//! rendition stands whether the request is answered now, held, or refused. Pure: the
//! waiting itself is `delivery.rs`'s.
//!
//! §6.2.5.2, as applied here:
//! - `_HLS_msn=M` holds until segment M is complete; with `_HLS_part=N`, until part N of
//!   segment M, or any later part, is published;
//! - `_HLS_part` without `_HLS_msn`: 400;
//! - M more than 2 past the last complete segment: 400; N more than the Advance Part Limit
//!   (3 / PART-TARGET for targets under 1 s, else 3) parts past the last part: 400;
//! - a hold longer than 3 target durations: 503 (`delivery.rs`);
//! - once the playlist has `#EXT-X-ENDLIST`, every directive is ignored.
//!
//! Directive names are case-sensitive; other query parameters are ignored.

use std::time::Duration;

use crate::hls::playlist::PartPosition;

/// The directives of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    /// `_HLS_msn=<M>`
    pub msn: Option<u64>,
    /// `_HLS_part=<N>`
    pub part: Option<u64>,
    /// `_HLS_skip=YES` or `_HLS_skip=v2`: a delta update (§6.2.5.1).
    pub skip: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DirectiveError {
    #[error("invalid {name} value `{value}`")]
    Invalid { name: &'static str, value: String },
    #[error("_HLS_part without _HLS_msn")]
    PartWithoutMsn,
    #[error("_HLS_msn={msn} is more than 2 past the last segment ({})", last.map_or("none yet".to_owned(), |l| l.to_string()))]
    MsnTooFarAhead { msn: u64, last: Option<u64> },
    #[error("_HLS_part={part} of segment {msn} is more than {limit} parts past the last part")]
    PartTooFarAhead { msn: u64, part: u64, limit: f64 },
}

/// Where a rendition stands, as the directives see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The media sequence number of the next segment (the last complete one plus 1).
    pub next_msn: u64,
    /// The last part published, if any.
    pub last_part: Option<PartPosition>,
    /// The playlist has `#EXT-X-ENDLIST`.
    pub ended: bool,
}

/// The rendition's timing, for the "too far ahead" limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub target_duration: Duration,
    pub part_target: Duration,
}

impl Timing {
    /// §6.2.5.2: "three divided by the Part Target Duration if the Part Target Duration
    /// is less than one second, or three otherwise".
    pub fn advance_part_limit(&self) -> f64 {
        let part = self.part_target.as_secs_f64();
        if part < 1.0 && part > 0.0 {
            3.0 / part
        } else {
            3.0
        }
    }

    /// Parts a segment has, about: to count parts ahead across a segment boundary.
    fn parts_per_segment(&self) -> u64 {
        let part = self.part_target.as_millis().max(1);
        u64::try_from(self.target_duration.as_millis().div_ceil(part)).unwrap_or(u64::MAX)
    }
}

/// What to do with a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Answer with the playlist as it stands.
    Ready,
    /// Hold until the rendition changes, then decide again.
    Hold,
}

impl Directives {
    /// Reads the directives of `query`; a malformed value is an error.
    pub fn parse(query: Option<&str>) -> Result<Directives, DirectiveError> {
        let mut d = Directives::default();
        for pair in query.unwrap_or("").split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "_HLS_msn" => d.msn = Some(number("_HLS_msn", value)?),
                "_HLS_part" => d.part = Some(number("_HLS_part", value)?),
                "_HLS_skip" => d.skip = skip(value)?,
                _ => {}
            }
        }
        Ok(d)
    }

    /// A blocking playlist reload (`_HLS_msn` present).
    pub fn blocks(&self) -> bool {
        self.msn.is_some()
    }

    /// Whether the request can be answered now, must wait, or is refused (400).
    pub fn verdict(&self, at: &Standing, timing: &Timing) -> Result<Verdict, DirectiveError> {
        if at.ended {
            return Ok(Verdict::Ready);
        }
        let Some(msn) = self.msn else {
            return match self.part {
                Some(_) => Err(DirectiveError::PartWithoutMsn),
                None => Ok(Verdict::Ready),
            };
        };
        if msn > at.next_msn.saturating_add(1) {
            let last = at.next_msn.checked_sub(1);
            return Err(DirectiveError::MsnTooFarAhead { msn, last });
        }
        let Some(part) = self.part else {
            return Ok(ready_if(at.next_msn > msn));
        };
        let wanted = PartPosition { msn, part };
        let Some(last) = at.last_part else {
            return Ok(Verdict::Hold);
        };
        let limit = timing.advance_part_limit();
        let complete = last.msn < at.next_msn;
        if parts_between(last, wanted, timing.parts_per_segment(), complete) as f64 > limit {
            return Err(DirectiveError::PartTooFarAhead { msn, part, limit });
        }
        Ok(ready_if(last >= wanted))
    }
}

fn ready_if(ready: bool) -> Verdict {
    if ready {
        Verdict::Ready
    } else {
        Verdict::Hold
    }
}

/// How many parts `wanted` is past `last`; 0 or less when it is not past it. Segments
/// not complete yet are counted as `per_segment` parts long; the segment of `last` has no
/// part after it when `complete`.
fn parts_between(
    last: PartPosition,
    wanted: PartPosition,
    per_segment: u64,
    complete: bool,
) -> i128 {
    let (per_segment, wanted_part) = (i128::from(per_segment), i128::from(wanted.part));
    if wanted.msn <= last.msn {
        let segments_back = i128::from(last.msn - wanted.msn) * per_segment;
        return wanted_part - i128::from(last.part) - segments_back;
    }
    let rest_of_last = if complete {
        0
    } else {
        (per_segment - 1 - i128::from(last.part)).max(0)
    };
    let between = i128::from(wanted.msn - last.msn - 1) * per_segment;
    rest_of_last + between + wanted_part + 1
}

/// A decimal-integer (rfc8216bis §4.2: no sign, no leading `+`).
fn number(name: &'static str, value: &str) -> Result<u64, DirectiveError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| value.parse().ok())
        .flatten()
        .ok_or_else(|| DirectiveError::Invalid {
            name,
            value: value.to_owned(),
        })
}

/// §6.2.5.1: `YES`, or `v2` (which also skips date ranges; there are none here).
fn skip(value: &str) -> Result<bool, DirectiveError> {
    match value {
        "YES" | "v2" => Ok(true),
        _ => Err(DirectiveError::Invalid {
            name: "_HLS_skip",
            value: value.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMING: Timing = Timing {
        target_duration: Duration::from_secs(2),
        part_target: Duration::from_millis(500),
    };

    fn at(msn: u64, part: u64) -> PartPosition {
        PartPosition { msn, part }
    }

    /// Segments 0..=9 complete, parts of segment 10 up to index 1.
    const LIVE: Standing = Standing {
        next_msn: 10,
        last_part: Some(PartPosition { msn: 10, part: 1 }),
        ended: false,
    };

    fn verdict(query: &str, at: &Standing) -> Result<Verdict, DirectiveError> {
        Directives::parse(Some(query))?.verdict(at, &TIMING)
    }

    #[test]
    fn parses_the_three_directives_and_ignores_the_rest() {
        let d = Directives::parse(Some("hdnts=x&_HLS_msn=12&_HLS_part=3&_HLS_skip=YES")).unwrap();
        assert_eq!(
            (d.msn, d.part, d.skip, d.blocks()),
            (Some(12), Some(3), true, true)
        );
        assert!(Directives::parse(Some("_HLS_skip=v2")).unwrap().skip);
        assert_eq!(Directives::parse(None), Ok(Directives::default()));
        assert_eq!(Directives::parse(Some("_hls_msn=1")).unwrap().msn, None);
        for bad in [
            "_HLS_msn=",
            "_HLS_msn=-1",
            "_HLS_msn=+1",
            "_HLS_msn=1.0",
            "_HLS_part=x",
        ] {
            assert!(
                matches!(
                    Directives::parse(Some(bad)),
                    Err(DirectiveError::Invalid { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            Directives::parse(Some("_HLS_skip=NO"))
                .unwrap_err()
                .to_string(),
            "invalid _HLS_skip value `NO`"
        );
    }

    #[test]
    fn holds_until_the_segment_or_the_part_exists() {
        assert_eq!(verdict("_HLS_msn=9", &LIVE), Ok(Verdict::Ready));
        assert_eq!(
            verdict("_HLS_msn=10", &LIVE),
            Ok(Verdict::Hold),
            "10 is not complete"
        );
        assert_eq!(
            verdict("_HLS_msn=10&_HLS_part=1", &LIVE),
            Ok(Verdict::Ready)
        );
        assert_eq!(verdict("_HLS_msn=10&_HLS_part=2", &LIVE), Ok(Verdict::Hold));
        assert_eq!(
            verdict("_HLS_msn=9&_HLS_part=7", &LIVE),
            Ok(Verdict::Ready),
            "or later"
        );
        assert_eq!(verdict("_HLS_msn=11&_HLS_part=0", &LIVE), Ok(Verdict::Hold));
        assert_eq!(verdict("_HLS_skip=YES", &LIVE), Ok(Verdict::Ready));
        assert_eq!(verdict("", &LIVE), Ok(Verdict::Ready));
    }

    #[test]
    fn refuses_what_is_malformed_or_too_far_ahead() {
        assert_eq!(
            verdict("_HLS_part=1", &LIVE),
            Err(DirectiveError::PartWithoutMsn)
        );
        assert_eq!(verdict("_HLS_msn=11", &LIVE), Ok(Verdict::Hold), "last + 2");
        assert_eq!(
            verdict("_HLS_msn=12", &LIVE),
            Err(DirectiveError::MsnTooFarAhead {
                msn: 12,
                last: Some(9)
            })
        );
        // 500 ms parts: the Advance Part Limit is 6
        assert_eq!(verdict("_HLS_msn=10&_HLS_part=7", &LIVE), Ok(Verdict::Hold));
        assert!(matches!(
            verdict("_HLS_msn=10&_HLS_part=8", &LIVE),
            Err(DirectiveError::PartTooFarAhead { limit, .. }) if limit == 6.0
        ));
        // across the segment boundary, counting 4 parts to a segment not complete yet
        assert_eq!(verdict("_HLS_msn=11&_HLS_part=3", &LIVE), Ok(Verdict::Hold));
        assert!(verdict("_HLS_msn=11&_HLS_part=4", &LIVE).is_err());
        // and none after the last part of a complete one
        let complete = Standing {
            next_msn: 11,
            last_part: Some(at(10, 5)),
            ended: false,
        };
        assert_eq!(
            verdict("_HLS_msn=11&_HLS_part=5", &complete),
            Ok(Verdict::Hold)
        );
        assert!(verdict("_HLS_msn=11&_HLS_part=6", &complete).is_err());
        assert!(verdict("_HLS_msn=12&_HLS_part=1", &complete).is_ok());
        assert!(verdict("_HLS_msn=12&_HLS_part=2", &complete).is_err());
        // before the first segment, msn 0 and 1 may be waited for
        let empty = Standing {
            next_msn: 0,
            last_part: None,
            ended: false,
        };
        assert_eq!(verdict("_HLS_msn=1&_HLS_part=0", &empty), Ok(Verdict::Hold));
        assert!(verdict("_HLS_msn=2", &empty).is_err());
    }

    #[test]
    fn an_ended_playlist_ignores_every_directive() {
        let ended = Standing {
            ended: true,
            ..LIVE
        };
        for query in ["_HLS_msn=99", "_HLS_part=1", "_HLS_msn=10&_HLS_part=3"] {
            assert_eq!(verdict(query, &ended), Ok(Verdict::Ready), "{query}");
        }
    }

    #[test]
    fn advance_part_limit() {
        assert_eq!(TIMING.advance_part_limit(), 6.0);
        let long = Timing {
            part_target: Duration::from_millis(1500),
            ..TIMING
        };
        assert_eq!(long.advance_part_limit(), 3.0);
        assert_eq!(at(1, 0).max(at(0, 9)), at(1, 0));
    }
}
