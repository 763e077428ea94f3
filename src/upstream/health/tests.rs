use super::*;

const P: Option<Traffic> = Some(Traffic::Playlists);
const M: Option<Traffic> = Some(Traffic::Media);

fn cfg() -> HealthConfig {
    HealthConfig {
        failures: 3,
        cooldown: Duration::from_secs(10),
        slow: Some(Duration::from_secs(1)),
        ..HealthConfig::default()
    }
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn failures_below_the_threshold_degrade_then_heal_after_a_cooldown() {
    let (c, t0) = (cfg(), Instant::now());
    let mut h = OriginHealth::default();
    assert_eq!(h.state(t0, &c), HealthState::Healthy);
    assert_eq!(h.record(M, Outcome::Timeout, t0, &c), HealthState::Degraded);
    assert_eq!(
        h.record(M, Outcome::Ok, t0 + s(1), &c),
        HealthState::Degraded
    );
    assert_eq!(h.consecutive_failures(), 0);
    assert_eq!(h.state(t0 + s(10), &c), HealthState::Healthy);
    assert_eq!(h.admission(Traffic::Media, t0, &c), Admission::Open);
}

#[test]
fn n_consecutive_connection_failures_eject_every_traffic() {
    let (c, t0) = (cfg(), Instant::now());
    let mut h = OriginHealth::default();
    h.record(M, Outcome::ConnectError, t0, &c);
    h.record(P, Outcome::ConnectTimeout, t0, &c);
    assert_eq!(h.admission(Traffic::Media, t0, &c), Admission::Open);
    assert_eq!(
        h.record(None, Outcome::ConnectError, t0, &c),
        HealthState::Down
    );
    for t in Traffic::ALL {
        assert_eq!(h.admission(t, t0 + s(9), &c), Admission::Closed);
    }
    // A straggler's success during the cool-down changes nothing.
    assert_eq!(h.record(M, Outcome::Ok, t0 + s(5), &c), HealthState::Down);
    assert_eq!(
        h.admission(Traffic::Media, t0 + s(10), &c),
        Admission::Probe
    );
}

#[test]
fn one_failing_traffic_is_ejected_while_the_other_succeeds() {
    let (c, t0) = (cfg(), Instant::now());
    let mut h = OriginHealth::default();
    // every segment cut short, every playlist fine, interleaved
    for _ in 0..3 {
        h.record(P, Outcome::Ok, t0, &c);
        h.record(M, Outcome::Truncated, t0, &c);
    }
    assert_eq!(h.admission(Traffic::Media, t0, &c), Admission::Closed);
    assert_eq!(h.admission(Traffic::Playlists, t0, &c), Admission::Open);
    assert_eq!(h.traffic_state(Traffic::Media, t0, &c), HealthState::Down);
    assert_eq!(
        h.state(t0, &c),
        HealthState::Degraded,
        "not down for everything"
    );
    let report = h.report(Traffic::Media, t0, &c);
    assert_eq!(
        report.ejected_for,
        Some(EjectionReason::InARow(Outcome::Truncated))
    );
    assert_eq!(h.report(Traffic::Playlists, t0, &c).ejected_for, None);
}

#[test]
fn a_large_share_of_failures_ejects_even_between_successes() {
    let (c, t0) = (cfg(), Instant::now());
    let mut h = OriginHealth::default();
    // two failures, one success: never three in a row, but two thirds fail
    let mut ejected_at = None;
    for k in 0..30 {
        let outcome = if k % 3 == 2 {
            Outcome::Ok
        } else {
            Outcome::Missing
        };
        h.record(M, outcome, t0, &c);
        if ejected_at.is_none() && h.admission(Traffic::Media, t0, &c) == Admission::Closed {
            ejected_at = Some(k);
        }
    }
    let k = ejected_at.expect("ejected by the share");
    assert!(k < 12, "judged once {MIN_SAMPLES} outcomes are known: {k}");
    assert!(matches!(
        h.report(Traffic::Media, t0, &c).ejected_for,
        Some(EjectionReason::Share(Outcome::Missing))
    ));
    // an occasional failure is not a share
    let mut fine = OriginHealth::default();
    for k in 0..40 {
        let outcome = if k % 5 == 0 {
            Outcome::Timeout
        } else {
            Outcome::Ok
        };
        fine.record(M, outcome, t0, &c);
    }
    assert_eq!(fine.admission(Traffic::Media, t0, &c), Admission::Open);
}

#[test]
fn half_open_lets_one_request_through_and_its_result_decides() {
    let (c, t0) = (cfg(), Instant::now());
    let mut h = OriginHealth::default();
    for _ in 0..3 {
        h.record(M, Outcome::Timeout, t0, &c);
    }
    let t1 = t0 + s(10);
    assert!(h.claim_probe(Traffic::Media, t1, &c));
    assert!(
        !h.claim_probe(Traffic::Media, t1, &c),
        "one probe at a time"
    );
    // Failed probe: down for a new cool-down.
    h.record(M, Outcome::Timeout, t1 + s(1), &c);
    assert_eq!(
        h.admission(Traffic::Media, t1 + s(10), &c),
        Admission::Closed
    );
    let t2 = t1 + s(11);
    assert!(h.claim_probe(Traffic::Media, t2, &c));
    // Successful probe: back in service, its past forgotten.
    h.record(M, Outcome::Ok, t2, &c);
    assert_eq!(h.admission(Traffic::Media, t2, &c), Admission::Open);
    assert_eq!(h.report(Traffic::Media, t2, &c).recent_failures, 0);
    assert_eq!(h.state(t2 + s(12), &c), HealthState::Healthy);
}

#[test]
fn a_probe_that_never_reports_frees_its_slot_after_a_cooldown() {
    let (c, t0) = (cfg(), Instant::now());
    let mut h = OriginHealth::default();
    for _ in 0..3 {
        h.record(P, Outcome::Status5xx, t0, &c);
    }
    assert!(h.claim_probe(Traffic::Playlists, t0 + s(10), &c));
    assert!(!h.claim_probe(Traffic::Playlists, t0 + s(19), &c));
    assert!(h.claim_probe(Traffic::Playlists, t0 + s(20), &c));
}

#[test]
fn outcomes_of_errors_and_responses() {
    let c = cfg();
    assert_eq!(Outcome::of_response(200, s(2), &c), Outcome::Slow);
    assert_eq!(Outcome::of_response(404, Duration::ZERO, &c), Outcome::Ok);
    assert_eq!(
        Outcome::of_response(503, Duration::ZERO, &c),
        Outcome::Status5xx
    );
    assert_eq!(
        Outcome::of_error(&ErrorType::ReadTimedout),
        Some(Outcome::Timeout)
    );
    assert_eq!(
        Outcome::of_error(&ErrorType::ConnectTimedout),
        Some(Outcome::ConnectTimeout)
    );
    assert_eq!(
        Outcome::of_error(&ErrorType::ConnectRefused),
        Some(Outcome::ConnectError)
    );
    assert_eq!(
        Outcome::of_error(&ErrorType::ConnectionClosed),
        Some(Outcome::Truncated)
    );
    // the proxy's own retry of an answer: already reported when it came
    assert_eq!(Outcome::of_error(&ErrorType::HTTPStatus(503)), None);
}

#[test]
fn slow_answers_degrade_without_counting_as_failures() {
    let (c, t0) = (cfg(), Instant::now());
    let mut h = OriginHealth::default();
    for _ in 0..20 {
        assert_eq!(h.record(P, Outcome::Slow, t0, &c), HealthState::Degraded);
    }
    assert_eq!(h.admission(Traffic::Playlists, t0, &c), Admission::Open);
    assert_eq!(h.last_error().map(|(o, _)| o), Some(Outcome::Slow));
}

#[test]
fn probes_answering_do_not_hide_failing_segments() {
    let (c, t0) = (cfg(), Instant::now());
    let mut h = OriginHealth::default();
    for _ in 0..3 {
        h.record(M, Outcome::Truncated, t0, &c);
        h.record(None, Outcome::Ok, t0, &c);
    }
    assert_eq!(h.admission(Traffic::Media, t0, &c), Admission::Closed);
    // ...but a probe answering after an outage ends an ejection for unreachability
    let mut h = OriginHealth::default();
    for _ in 0..3 {
        h.record(None, Outcome::ConnectError, t0, &c);
    }
    h.record(None, Outcome::Ok, t0 + s(11), &c);
    for t in Traffic::ALL {
        assert_eq!(h.admission(t, t0 + s(11), &c), Admission::Open);
    }
}
