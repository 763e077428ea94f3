//! Validation: defaults, and every problem of a file reported at once.

use super::*;

const MINIMAL: &str = "origin_groups: {g: {origins: [{url: 'http://127.0.0.1:8081'}]}}\nroutes: [{prefix: /hls/, origin_group: g}]\n";

#[test]
fn defaults_a_newcomer_relies_on() {
    let c = Config::parse(MINIMAL).expect("valid");
    assert_eq!(c.edge.listen, vec!["0.0.0.0:8080".parse().expect("addr")]);
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
        weight: 3
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
