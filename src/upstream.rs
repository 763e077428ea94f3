//! Origins (design section 5): the groups a route pulls from, how a request
//! picks one, and what the edge knows about each.
//!
//! - `origin`: `Origin` (a peer with its timeouts, TLS with SNI) and
//!   `OriginGroup`, the shared state of a group: `select` the next origin a
//!   request has not tried, `report` how it went.
//! - `selection`: the ranking (priority, health, weight, playlists behind), pure.
//! - `health`: one origin's health per kind of traffic, a state machine, pure,
//!   clock passed in.
//!
//! What each origin's live playlists say (stale, behind, the no-regression
//! bound) is followed by the stream book (`crate::streams`), which the proxy
//! consults to rank origins for a playlist request.
//! - `probe`: the active probes, a Pingora background service.
//! - `siblings`: which edge of a cluster owns a cache key (Ketama), pure.
//!
//! The request context keeps the indices of the origins it tried; Pingora
//! calls `upstream_peer` again after a retryable failure. Turning failures
//! into retries and statuses is the proxy's job, not this module's.

pub mod health;
pub mod origin;
pub mod probe;
pub mod selection;
pub mod siblings;

pub use health::{HealthState, Outcome, Traffic};
pub use origin::{Origin, OriginGroup, OriginStatus, SelectFor, TrafficStatus};
pub use probe::health_services;
pub use siblings::Owner;
