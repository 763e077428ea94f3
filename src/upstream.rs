//! Origins (design section 5): the groups a route pulls from, how a request
//! picks one, and what the edge knows about each.
//!
//! - `origin`: `Origin` (a peer with its timeouts, TLS with SNI) and
//!   `OriginGroup`, the shared state of a group: `select` the next origin a
//!   request has not tried, `report` how it went, `observe_playlist`.
//! - `selection`: the ranking (priority, health, weight), pure.
//! - `health`: one origin's health as a state machine, pure, clock passed in.
//! - `manifest_watch`: stale-playlist detection and the no-regression bound, pure.
//! - `probe`: the active probes, a Pingora background service.
//! - `siblings`: which edge of a cluster owns a cache key (Ketama), pure.
//!
//! The request context keeps the indices of the origins it tried; Pingora
//! calls `upstream_peer` again after a retryable failure. Turning failures
//! into retries and statuses is the proxy's job, not this module's.

pub mod health;
pub mod manifest_watch;
pub mod origin;
pub mod probe;
pub mod selection;
pub mod siblings;

pub use health::{HealthState, Outcome};
pub use origin::{Origin, OriginGroup, OriginStatus, SelectFor};
pub use probe::health_services;
pub use siblings::Owner;
