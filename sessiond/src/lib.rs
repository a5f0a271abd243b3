//! `cookieless-sessiond`: the gRPC session service behind the cookieless Envoy filter's
//! `"store": {"kind": "grpc"}`. It keeps each browser session's cookie jar (opaque bytes that only
//! the filter understands) keyed by session id, in memory or in Redis (one server, a Cluster, or behind Sentinel), so that every Envoy of a
//! fleet sees the same sessions.
//!
//! The protocol is `proto/cookieless/session/v1/session.proto` (service
//! `cookieless.session.v1.SessionStore`, methods `Get`, `Put`, `Delete`). The binary also serves the
//! standard `grpc.health.v1.Health` service. See `sessiond/README.md` for operation.
//!
//! Nothing here logs a jar or a session id.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod config;
pub mod memory;
pub mod redis_conn;
pub mod redis_store;
pub mod sentinel;
pub mod server;
pub mod service;
pub mod store;

/// The protocol crate: protobuf messages, names, limits, and the tonic server and client for
/// `cookieless.session.v1`.
pub use cookieless_proto as pb;

pub use config::Args;
pub use server::run;
