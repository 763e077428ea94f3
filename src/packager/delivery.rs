//! LL-HLS delivery at the packager's origin (draft-pantos-hls-rfc8216bis):
//!
//! - a media playlist request with delivery directives (§6.2.5): answered at once, held
//!   until the segment or part it names is published, or refused with 400 (the rules are
//!   `directives.rs`'s); a hold that reaches 3 target durations is answered 503
//!   (§6.2.5.2); once the playlist has ended, directives are ignored. `_HLS_skip=YES|v2`
//!   gives a delta update (§6.2.5.1);
//! - a request for the part the playlist's `EXT-X-PRELOAD-HINT` names (§6.2.6): held until
//!   the part is published, then sent whole, with its length. §6.2.6 forbids sending any
//!   byte of a part before the whole part can go at the speed of the link (players measure
//!   their bandwidth on it), and a part is published the moment its last frame is cut, so
//!   the response starts then. Any other part not (or no longer) there is a 404 at once.
//!
//! How long each wait was, and how each ended, is counted per stream (`holds.rs`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use pingora::server::ShutdownWatch;
use tokio::time::Instant;

use crate::config::packager::LowLatencyConfig;
use crate::hls::playlist::PartPosition;
use crate::metrics;
use crate::packager::directives::{DirectiveError, Directives, Standing, Timing, Verdict};
use crate::packager::holds::{hold, Held, HoldKind, Outcome, Step, Watched};
use crate::packager::playlists::{low_latency_media, target_duration, LowLatencyView};
use crate::packager::service::{
    Packager, Reply, ENDED_PLAYLIST_CACHE, LIVE_PLAYLIST_CACHE, PLAYLIST_TYPE, SEGMENT_CACHE,
    SEGMENT_TYPE,
};
use crate::packager::store::Rendition;

/// rfc8216bis §6.2.5.2: a blocking request is answered 503 after 3 target durations.
const HOLD_LIMIT_TARGETS: u32 = 3;
/// rfc8216bis appendix B.1: a blocking response may be cached 6 target durations.
const BLOCKING_MAX_AGE_TARGETS: u64 = 6;

/// A playlist as one look at the rendition found it.
struct Written {
    text: String,
    target: u64,
    ended: bool,
}

/// A media playlist request on an LL-HLS packager (see the module docs).
pub async fn media_playlist(
    packager: &Packager,
    ll: LowLatencyConfig,
    watched: Watched<'_>,
    query: Option<&str>,
    shutdown: &ShutdownWatch,
) -> Reply {
    let directives = Directives::parse(query);
    // a malformed directive counts as a blocking request (refused)
    let counted = directives
        .as_ref()
        .map_or(true, |d| d.msn.is_some() || d.part.is_some());
    let Some(deadline) = deadline(packager, watched) else {
        return not_found();
    };
    let layout = Layout {
        window: packager.store().limits().window,
        floor: packager.config().target_duration,
        part_target: ll.part_target,
    };
    let started = Instant::now();
    let _holding = counted.then(|| packager.holds().holding(watched.stream, HoldKind::Blocking));
    let look = |all: &_, r: &_| look(&directives, &layout, all, watched.rendition, r);
    let (held, waited) = hold(packager.store(), watched, deadline, shutdown, look).await;
    let (reply, outcome) = playlist_reply(held, waited, directives.is_ok_and(|d| d.blocks()));
    if counted {
        let holds = packager.holds();
        holds.record(watched.stream, HoldKind::Blocking, outcome);
        if waited {
            metrics::PACKAGER_BLOCKING_HOLD_SECONDS
                .with_label_values(&[watched.stream])
                .observe(started.elapsed().as_secs_f64());
        }
    }
    if outcome == Outcome::TimedOut {
        tracing::info!(
            stream = watched.stream,
            rendition = watched.rendition,
            query,
            "packager: blocking playlist request timed out (503)"
        );
    }
    reply
}

/// What the LL playlists of the packager are written with.
struct Layout {
    window: usize,
    floor: Duration,
    part_target: Duration,
}

/// One look at the rendition `name` for a playlist request: the playlist, a refusal, or
/// wait. An ended playlist ignores every directive, even a malformed one (§6.2.5.2).
fn look(
    directives: &Result<Directives, DirectiveError>,
    layout: &Layout,
    all: &BTreeMap<String, Rendition>,
    name: &str,
    r: &Rendition,
) -> Step<Result<Written, DirectiveError>> {
    let target = target_duration(r, layout.floor);
    let standing = Standing {
        next_msn: r.next_msn(),
        last_part: r.last_part(),
        ended: r.is_ended(),
    };
    let timing = Timing {
        target_duration: Duration::from_secs(target),
        part_target: layout.part_target,
    };
    let verdict = match directives {
        _ if standing.ended => Ok((Verdict::Ready, Directives::default())),
        Ok(d) => d.verdict(&standing, &timing).map(|v| (v, *d)),
        Err(e) => Err(e.clone()),
    };
    let d = match verdict {
        Err(e) => return Step::Done(Err(e)),
        Ok((Verdict::Hold, _)) => return Step::Wait,
        Ok((Verdict::Ready, d)) => d,
    };
    let view = LowLatencyView {
        window: layout.window,
        floor: layout.floor,
        part_target: layout.part_target,
        delta: d.skip,
        others: others(all, name),
    };
    Step::Done(Ok(Written {
        text: low_latency_media(r, &view).write(),
        target,
        ended: standing.ended,
    }))
}

fn playlist_reply(
    held: Held<Result<Written, DirectiveError>>,
    waited: bool,
    blocking: bool,
) -> (Reply, Outcome) {
    let answered = if waited {
        Outcome::AfterHold
    } else {
        Outcome::AtOnce
    };
    match held {
        Held::Done(Ok(w)) => {
            let cache: Cow<'static, str> = if w.ended {
                ENDED_PLAYLIST_CACHE.into()
            } else if blocking {
                format!("public, max-age={}", w.target * BLOCKING_MAX_AGE_TARGETS).into()
            } else {
                LIVE_PLAYLIST_CACHE.into()
            };
            (Reply::ok(PLAYLIST_TYPE, cache, w.text), answered)
        }
        Held::Done(Err(e)) => (
            Reply::message(StatusCode::BAD_REQUEST, format!("bad request: {e}\n")),
            Outcome::Refused,
        ),
        Held::TimedOut | Held::ShuttingDown => (unavailable(), Outcome::TimedOut),
        Held::Gone => (not_found(), Outcome::Gone),
    }
}

/// A part request on an LL-HLS packager: the part if published; the hinted (next) part
/// once published; else 404.
pub async fn part(
    packager: &Packager,
    watched: Watched<'_>,
    at: PartPosition,
    shutdown: &ShutdownWatch,
) -> Reply {
    let Some(deadline) = deadline(packager, watched) else {
        return not_found();
    };
    let holds = packager.holds();
    let _holding = holds.holding(watched.stream, HoldKind::PreloadHint);
    let (held, waited) = hold(
        packager.store(),
        watched,
        deadline,
        shutdown,
        |_, r| match r.part(at) {
            Some(p) => Step::Done(Some(p.data.clone())),
            None if r.next_part() == Some(at) => Step::Wait,
            None => Step::Done(None),
        },
    )
    .await;
    let (reply, outcome) = match held {
        Held::Done(Some(data)) => (part_reply(data), Outcome::AfterHold),
        Held::Done(None) | Held::Gone => (not_found(), Outcome::Gone),
        Held::TimedOut | Held::ShuttingDown => (unavailable(), Outcome::TimedOut),
    };
    if waited {
        holds.record(watched.stream, HoldKind::PreloadHint, outcome);
    }
    if outcome == Outcome::TimedOut {
        tracing::info!(
            stream = watched.stream,
            rendition = watched.rendition,
            msn = at.msn,
            part = at.part,
            "packager: hinted part not published in time (503)"
        );
    }
    reply
}

fn part_reply(data: Bytes) -> Reply {
    Reply::ok(SEGMENT_TYPE, SEGMENT_CACHE, data)
}

/// When a hold on `watched` gives up: 3 of its target durations from now.
fn deadline(packager: &Packager, w: Watched<'_>) -> Option<Instant> {
    let floor = packager.config().target_duration;
    let store = packager.store();
    let target = store.read_rendition(w.stream, w.generation, w.rendition, |r| {
        target_duration(r, floor)
    })?;
    Some(Instant::now() + Duration::from_secs(target) * HOLD_LIMIT_TARGETS)
}

fn others<'a>(all: &'a BTreeMap<String, Rendition>, this: &str) -> Vec<(&'a str, &'a Rendition)> {
    all.iter()
        .filter(|(name, _)| name.as_str() != this)
        .map(|(name, r)| (name.as_str(), r))
        .collect()
}

fn not_found() -> Reply {
    Reply::text(StatusCode::NOT_FOUND, "not found\n")
}

fn unavailable() -> Reply {
    Reply::text(
        StatusCode::SERVICE_UNAVAILABLE,
        "not published within 3 target durations\n",
    )
}
