//! cookieless: an Envoy HTTP filter (proxy-wasm) that keeps an application's cookie sessions on the
//! server side and hands the browser only a sealed token, carried in forms, links and redirects.
//!
//! Every module but `filter` is pure: it never calls the host, so it is unit-tested natively.
//! `filter` is the thin proxy-wasm shell that maps Envoy's callbacks onto them; `native` is the
//! same shell for Envoy's dynamic modules (a native build, `libcookieless.so`).
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
#[cfg(target_arch = "wasm32")]
mod filter;
pub mod cookies;
pub mod headers;
pub mod host;
pub mod jar;
pub mod metrics;
#[cfg(not(target_arch = "wasm32"))]
mod native;
pub mod origin;
/// The session service protocol (messages, names, limits): the `cookieless-proto` crate.
pub use cookieless_proto as proto;
pub mod routes;
pub mod session;
pub mod rewrite;
pub mod store;
pub mod transport;
pub mod token;
pub mod url;
