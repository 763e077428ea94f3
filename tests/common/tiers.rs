//! Edges in front of edges: the config of one tier of a chain or cluster.

use super::EdgeConfig;

/// An edge `id` holding the tiers' shared `secret` (as
/// `edge.peer_secret_env: TEST_PEER_SECRET`) whose route `/hls/` pulls from
/// `origins` (a URL and its other keys, e.g. `peer: true`); `group` and
/// `route` are extra 4-space indented lines of the group and the route.
pub fn tier_config(
    id: &str,
    secret: &str,
    origins: &[(String, &str)],
    group: &str,
    route: &str,
) -> EdgeConfig {
    let list: String = origins
        .iter()
        .map(|(url, keys)| format!("      - {{url: \"{url}\", {keys}}}\n"))
        .collect();
    EdgeConfig::new()
        .id(id)
        .edge("peer_secret_env", "TEST_PEER_SECRET")
        .env("TEST_PEER_SECRET", secret)
        .extra_yaml(&format!(
            "origin_groups:\n  g:\n    origins:\n{list}    connect_timeout: 1s\n    read_timeout: 5s\n{group}routes:\n  - name: hls\n    prefix: /hls/\n    origin_group: g\n{route}"
        ))
}
