//! Validation: defaults, and every problem of a file reported at once.

use super::*;

const MINIMAL: &str = "origin_groups: {g: {origins: [{url: 'http://127.0.0.1:8081'}]}}\nroutes: [{prefix: /hls/, origin_group: g}]\n";

#[test]
fn defaults_a_newcomer_relies_on() {
    let c = Config::parse(MINIMAL).expect("valid");
    let listen: Vec<_> = c
        .edge
        .listen
        .iter()
        .map(|l| (l.addr, l.tls.is_some(), l.h2c))
        .collect();
    assert_eq!(
        listen,
        [("0.0.0.0:8080".parse().expect("addr"), false, false)]
    );
    assert_eq!(
        c.compression,
        CompressionSettings {
            playlists: true,
            level: 6
        }
    );
    assert_eq!(c.edge.hsts_max_age, None);
    assert_eq!(c.admin.listen, "127.0.0.1:9090".parse().expect("addr"));
    assert_eq!(c.cache.segment_ttl, Duration::from_secs(86400));
    assert_eq!(c.cache.master_playlist_ttl, Duration::from_secs(2));
    assert_eq!(c.cors.allow_origin.as_deref(), Some("*"));
    let origin = &c.origin_groups["g"].origins[0];
    assert_eq!(
        (origin.host.as_str(), origin.port, origin.tls),
        ("127.0.0.1", 8081, false)
    );
    assert_eq!(origin.connect_timeout, Duration::from_secs(2));
}

#[test]
fn every_problem_is_named_by_its_path() {
    let text = r#"
edge:
  listen: ["127.0.0.1:80800", "nowhere"]
  colour: blue
cache:
  max_size: 12 parsecs
  segment_ttl: "5"
  lock_timeout: 3x
origin_groups:
  g:
    origins:
      - url: ftp://x
        weight: 0
    read_timeout: soon
  empty: {}
routes:
  - prefix: hls/
    origin_group: g
  - prefix: /x/
    origin_group: nope
  - prefix: /y/
log:
  format: xml
"#;
    let err = Config::parse(text).expect_err("invalid");
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    for expected in [
        "edge.listen[0]",
        "edge.listen[1]",
        "edge.colour",
        "cache.max_size",
        "cache.segment_ttl",
        "cache.lock_timeout",
        "origin_groups.g.origins[0].url",
        "origin_groups.g.origins[0].weight",
        "origin_groups.g.read_timeout",
        "origin_groups.empty.origins",
        "routes[0].prefix",
        "routes[1].origin_group",
        "routes[2].origin_group",
        "log.format",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
    let text = err.to_string();
    assert!(
        text.contains("cache.segment_ttl: '5' has no unit"),
        "{text}"
    );
}

#[test]
fn a_config_without_routes_needs_a_packager() {
    let err = Config::parse("edge: {id: a}\n").expect_err("nothing to serve");
    assert_eq!(err.problems()[0].path, "routes");
}

#[test]
fn syntax_errors_are_reported() {
    let err = Config::parse("edge: [unclosed").expect_err("bad yaml");
    assert_eq!(err.problems().len(), 1);
}

#[test]
fn origin_groups_default_to_one_priority_weight_one_and_passive_health() {
    let c = Config::parse(MINIMAL).expect("valid");
    let g = &c.origin_groups["g"];
    let o = &g.origins[0];
    assert_eq!((o.priority, o.weight, o.tls_verify), (0, 1, true));
    assert_eq!(g.health, HealthConfig::default());
    assert_eq!(g.health.failures, 3);
    assert_eq!(g.health.cooldown, Duration::from_secs(10));
    assert_eq!(g.health.probe_path, None);
    assert_eq!(g.health.stale_after, 3);
    assert!(g.retry_404_segments);
    assert!(g.siblings.is_none());
}

#[test]
fn priority_weight_health_and_siblings_are_read() {
    let text = r#"
origin_groups:
  live:
    origins:
      - {url: "https://a.example", priority: 0, weight: 3}
      - {url: "https://b.example:8443", priority: 1, tls_verify: false, read_timeout: 3s}
    health:
      failures: 2
      cooldown: 30s
      slow: 1500ms
      probe_path: /healthz
      probe_interval: 1s
      probe_timeout: 500ms
      stale_after: 4
    retry_404_segments: false
    siblings:
      peers: ["http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080"]
      self: "http://10.0.0.2:8080"
routes: [{prefix: /hls/, origin_group: live}]
"#;
    let c = Config::parse(text).expect("valid");
    let g = &c.origin_groups["live"];
    assert_eq!((g.origins[0].priority, g.origins[0].weight), (0, 3));
    assert_eq!((g.origins[1].priority, g.origins[1].tls_verify), (1, false));
    assert_eq!(g.origins[1].read_timeout, Duration::from_secs(3));
    assert_eq!(g.origins[1].port, 8443);
    let h = &g.health;
    assert_eq!((h.failures, h.stale_after), (2, 4));
    assert_eq!(h.cooldown, Duration::from_secs(30));
    assert_eq!(h.slow, Some(Duration::from_millis(1500)));
    assert_eq!(h.probe_path.as_deref(), Some("/healthz"));
    assert_eq!(h.probe_timeout, Duration::from_millis(500));
    assert!(!g.retry_404_segments);
    let s = g.siblings.as_ref().expect("siblings");
    assert_eq!(s.peers.len(), 3);
    assert_eq!(s.peers[s.me].host, "10.0.0.2");
}

#[test]
fn self_is_added_to_the_peers_when_not_listed() {
    let text = "origin_groups:\n  g:\n    origins: [{url: 'http://127.0.0.1:8081'}]\n    siblings: {peers: ['http://127.0.0.1:9001'], self: 'http://127.0.0.1:9000'}\nroutes: [{prefix: /hls/, origin_group: g}]\n";
    let c = Config::parse(text).expect("valid");
    let s = c.origin_groups["g"].siblings.clone().expect("siblings");
    assert_eq!(s.peers.len(), 2);
    assert_eq!(s.peers[s.me].port, 9000);
}

#[test]
fn origin_group_problems_are_named_by_their_paths() {
    let text = r#"
origin_groups:
  g:
    origins:
      - {url: "http://a:80", priority: 1001, weight: 0, tls_verify: false}
      - {url: "http://a:80", speed: fast}
    health:
      failures: 0
      cooldown: 0
      probe_path: healthz
      probe_interval: soon
      stale_after: 0
      slow: 1
      color: red
    siblings:
      peers: ["http://10.0.0.1:8080", "ftp://x", "http://10.0.0.1:8080"]
      ring: ketama
  lonely:
    origins: [{url: "http://o:80"}]
    siblings: {peers: ["http://10.0.0.1:8080"], self: "http://10.0.0.1:8080"}
routes: [{prefix: /hls/, origin_group: g}]
"#;
    let err = Config::parse(text).expect_err("invalid");
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    for expected in [
        "origin_groups.g.origins[0].priority",
        "origin_groups.g.origins[0].weight",
        "origin_groups.g.origins[0].tls_verify",
        "origin_groups.g.origins[1].url",
        "origin_groups.g.origins[1].speed",
        "origin_groups.g.health.failures",
        "origin_groups.g.health.cooldown",
        "origin_groups.g.health.probe_path",
        "origin_groups.g.health.probe_interval",
        "origin_groups.g.health.stale_after",
        "origin_groups.g.health.slow",
        "origin_groups.g.health.color",
        "origin_groups.g.siblings.peers[1]",
        "origin_groups.g.siblings.peers[2]",
        "origin_groups.g.siblings.ring",
        "origin_groups.g.siblings.self",
        "origin_groups.lonely.siblings.peers",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
    let text = err.to_string();
    assert!(
        text.contains("origins[1].url: repeats origins[0]"),
        "{text}"
    );
    assert!(
        text.contains("health.cooldown: must be longer than 0"),
        "{text}"
    );
}

#[test]
fn a_mistyped_number_names_its_key() {
    let text = "origin_groups: {g: {origins: [{url: 'http://o:80', priority: high}]}}\nroutes: [{prefix: /hls/, origin_group: g}]\n";
    let err = Config::parse(text).expect_err("invalid");
    assert!(err.to_string().contains("priority"), "{err}");
}

#[test]
fn cache_directive_keys_are_checked_by_name() {
    let text = "cache:\n  cmcd: sometimes\n  other: all\n  set_cookie: eat\n  targeted_field: 'a b'\n  ignore_query_params: [_HLS_msn, utm]\n\
origin_groups: {g: {origins: [{url: 'http://127.0.0.1:1'}], health: {failure_ratio: 1.5}}}\nroutes: [{prefix: /hls/, origin_group: g}]\n";
    let err = Config::parse(text).expect_err("invalid");
    let text = err.to_string();
    for expected in [
        "cache.cmcd: 'sometimes' is not one of: strip, forward",
        "cache.other: 'all' is not one of: rfc9111, none",
        "cache.set_cookie: 'eat' is not one of: refuse, strip",
        "cache.targeted_field: 'a b' is not a header field name",
        "cache.ignore_query_params[0]",
        "origin_groups.g.health.failure_ratio: 1.5",
    ] {
        assert!(text.contains(expected), "{expected} missing from {text}");
    }
    assert!(!text.contains("ignore_query_params[1]"), "{text}");
    let ok = MINIMAL.replace(
        "routes: [{prefix: /hls/, origin_group: g}]",
        "routes: [{prefix: /hls/, origin_group: g, override_origin_ttl: true}]",
    );
    let c = Config::parse(&format!("cache: {{cmcd: forward, other: none, set_cookie: strip, targeted_field: HLS-Edge-Cache-Control}}\n{ok}")).expect("valid");
    assert_eq!(
        (c.cache.cmcd, c.cache.other, c.cache.set_cookie),
        (Cmcd::Forward, OtherObjects::None, SetCookie::Strip)
    );
    assert_eq!(
        c.cache.targeted_field.as_ref().map(|h| h.as_str()),
        Some("hls-edge-cache-control")
    );
    assert!(c.routes[0].override_origin_ttl);
}

#[test]
fn work_stealing_is_on_unless_turned_off() {
    let c = Config::parse(MINIMAL).expect("valid");
    assert!(c.edge.work_stealing);
    let c = Config::parse(&format!("edge: {{work_stealing: false}}\n{MINIMAL}")).expect("valid");
    assert!(!c.edge.work_stealing);
    let err = Config::parse(&format!("edge: {{work_stealing: sometimes}}\n{MINIMAL}"))
        .expect_err("invalid");
    assert!(err.to_string().contains("work_stealing"), "{err}");
}
