//! Origins: the groups a route pulls from, and how a request picks one.
//!
//! A request tries the origins of its group in order, each at most once;
//! Pingora calls `upstream_peer` again after a retryable failure, and the
//! request context remembers how many origins were tried.

pub mod origin;

pub use origin::{Origin, OriginGroup};
