use super::*;
use crate::hls::ObjectClass;

const TD: Duration = Duration::from_secs(2);

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A live playlist listing segments `first..=last`.
fn live(first: u64, last: u64) -> PlaylistSummary {
    PlaylistSummary {
        class: ObjectClass::LivePlaylist,
        position: Some(Position::after_segment(last)),
        first_msn: first,
        target_duration: TD,
        live: true,
    }
}

fn body(last: u64) -> Bytes {
    Bytes::from(format!("playlist up to {last}"))
}

fn two_origins(t0: Instant) -> Rendition {
    Rendition::new("g".into(), 2, 3, t0)
}

/// Origin `i` answers with segments up to `last` and the playlist goes to a player.
fn fetch(r: &mut Rendition, i: usize, last: u64, at: Instant) -> Verdict {
    let summary = live(last.saturating_sub(5), last);
    r.observe(i, &summary, at);
    r.serve(&summary, Some(i), &body(last), true, at)
}

#[test]
fn an_origin_frozen_while_another_advances_becomes_stale_on_its_own_evidence() {
    let t0 = Instant::now();
    let mut r = two_origins(t0);
    fetch(&mut r, 0, 100, t0);
    fetch(&mut r, 1, 100, t0);
    // A stays at 100 for 7 s (over 3 x 2 s); B advances.
    for k in 1..=3u64 {
        fetch(&mut r, 0, 100, t0 + s(2 * k));
        fetch(&mut r, 1, 100 + k, t0 + s(2 * k));
    }
    assert!(
        !r.origins(t0 + s(6))[0].behind,
        "6 s is not more than the window"
    );
    let verdict = fetch(&mut r, 0, 100, t0 + s(7));
    assert_eq!(
        verdict,
        Verdict::SendNewer {
            served: Position::after_segment(103),
            body: body(103)
        }
    );
    let now = r.origins(t0 + s(7));
    assert!(now[0].behind);
    assert!(!now[1].behind);
    assert_eq!(r.stale_origins(t0 + s(7)).collect::<Vec<_>>(), vec![0]);
}

#[test]
fn a_stale_origin_stays_stale_until_it_has_caught_up_with_the_newest_served() {
    let t0 = Instant::now();
    let mut r = two_origins(t0);
    fetch(&mut r, 0, 100, t0);
    fetch(&mut r, 1, 104, t0 + s(7));
    fetch(&mut r, 0, 100, t0 + s(7));
    assert!(r.origins(t0 + s(7))[0].behind);
    // advancing again but behind: still stale, even one segment behind
    fetch(&mut r, 0, 101, t0 + s(8));
    fetch(&mut r, 0, 103, t0 + s(9));
    assert!(r.origins(t0 + s(9))[0].behind);
    // however long it lasts: no timer lifts it
    assert!(r.origins(t0 + s(600))[0].behind);
    // caught up with the newest served: fresh again
    fetch(&mut r, 0, 104, t0 + s(10));
    assert!(!r.origins(t0 + s(10))[0].behind);
}

#[test]
fn an_origin_nobody_asked_is_never_condemned() {
    let t0 = Instant::now();
    let mut r = two_origins(t0);
    // the backup is asked once, then the primary carries on alone
    fetch(&mut r, 1, 100, t0);
    for k in 0..10u64 {
        fetch(&mut r, 0, 100 + k, t0 + s(2 * k));
    }
    let now = r.origins(t0 + s(20));
    assert!(!now[1].behind, "not observed since: no evidence it froze");
    assert!(!now[1].observed_recently);
    assert!(now[1].overdue, "but it is due for a second opinion");
    // asked again, it has advanced: fine
    fetch(&mut r, 1, 109, t0 + s(21));
    assert!(!r.origins(t0 + s(21))[1].behind);
}

#[test]
fn a_stream_stalled_everywhere_makes_no_origin_stale() {
    let t0 = Instant::now();
    let mut r = two_origins(t0);
    fetch(&mut r, 0, 50, t0);
    fetch(&mut r, 1, 50, t0);
    fetch(&mut r, 0, 50, t0 + s(60));
    assert!(r.origins(t0 + s(60))[0].overdue);
    assert_eq!(r.stale_origins(t0 + s(60)).count(), 0);
    assert!(r.frozen(t0 + s(60)));
    assert!(!r.frozen(t0 + s(6)));
}

#[test]
fn the_no_regression_bound_does_not_lapse_with_time() {
    let t0 = Instant::now();
    let mut r = two_origins(t0);
    fetch(&mut r, 1, 105, t0);
    for late in [s(1), s(60), s(3600)] {
        let v = fetch(&mut r, 0, 103, t0 + late);
        assert!(matches!(v, Verdict::SendNewer { .. }), "{late:?}: {v:?}");
    }
    assert_eq!(r.served(), Some(Position::after_segment(105)));
}

#[test]
fn a_group_of_one_sends_what_it_has_when_it_is_behind() {
    let t0 = Instant::now();
    let mut r = Rendition::new("g".into(), 1, 3, t0);
    let summary = live(15, 20);
    r.observe(0, &summary, t0);
    assert_eq!(
        r.serve(&summary, Some(0), &body(20), false, t0),
        Verdict::Send
    );
    let older = live(13, 18);
    assert_eq!(
        r.serve(&older, None, &body(18), false, t0),
        Verdict::SendBehind {
            served: Position::after_segment(20)
        }
    );
    assert_eq!(r.lag(), Some(2));
}

#[test]
fn a_restarted_stream_is_followed_once_no_origin_is_ahead() {
    let t0 = Instant::now();
    let mut r = two_origins(t0);
    fetch(&mut r, 0, 500, t0);
    fetch(&mut r, 1, 500, t0);
    // both restart numbering at 0; origin 1 was heard at 500 within the window
    let v = fetch(&mut r, 0, 1, t0 + s(2));
    assert!(matches!(v, Verdict::SendNewer { .. }));
    // once origin 1's word is older than the window, the restart is followed
    assert_eq!(fetch(&mut r, 0, 2, t0 + s(8)), Verdict::Send);
    assert_eq!(r.served(), Some(Position::after_segment(2)));
}

#[test]
fn an_origin_that_fell_behind_is_not_mistaken_for_a_restart() {
    let t0 = Instant::now();
    let mut r = Rendition::new("g".into(), 2, 3, t0);
    fetch(&mut r, 0, 100, t0);
    // origin 0 frozen for minutes, origin 1 down: nobody ahead heard lately,
    // the frozen copy shares nothing with the newest served, but it never went
    // backwards on its own numbering
    fetch(&mut r, 1, 300, t0 + s(1));
    for k in 1..5u64 {
        let v = fetch(&mut r, 0, 100, t0 + s(60 * k));
        assert!(matches!(v, Verdict::SendNewer { .. }), "{v:?}");
    }
}

#[test]
fn lag_is_what_players_were_sent_behind_the_newest_fetched() {
    let t0 = Instant::now();
    let mut r = Rendition::new("g".into(), 1, 3, t0);
    let newest = live(15, 20);
    r.observe(0, &newest, t0);
    r.serve(&newest, Some(0), &body(20), false, t0);
    assert_eq!(r.lag(), Some(0));
    assert_eq!(r.age(t0 + s(3)), Some(s(3)));
}
