//! The shared-data store across configuration updates, through a real Envoy whose listener comes
//! over LDS from a file (`EnvoyOptions::listener_over_lds`), for either build: a reload that keeps
//! `max_sessions` keeps every session; one that changes it moves each session into the new table
//! when it is next used, and the old table is dropped once its sessions have expired.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

use kit::upstream::Upstream;
use kit::{filter_config, Client, Envoy, EnvoyOptions, Reply};
use serde_json::json;
use std::time::{Duration, Instant};

const SET_APP_COOKIE: &str = "/page?cookie=app%3Dv1%3B%20Path%3D%2F";
/// Short, so that a table unused for its idle timeout and one interval (as long) goes within the
/// test: sessions must be used more often than this to live.
const IDLE_SECONDS: u64 = 8;
const MOVED: &str = "cookieless_store_sessions_moved";
const DROPPED: &str = "cookieless_store_tables_dropped";

fn shared_data(max_sessions: u32, ttl_seconds: u32) -> serde_json::Value {
    filter_config(json!({
        "store": {"kind": "shared_data", "max_sessions": max_sessions, "idle_timeout_seconds": IDLE_SECONDS},
        "token": {"ttl_seconds": ttl_seconds},
    }))
}

fn new_session(client: &Client, envoy: &Envoy) -> String {
    let reply = client.get(&envoy.url(SET_APP_COOKIE));
    reply.header("x-cookieless-token").unwrap_or_else(|| panic!("no token: {reply:?}\n{}", envoy.log())).to_string()
}

/// Resumes the session; its fresh token.
fn resume(what: &str, client: &Client, envoy: &Envoy, token: &str) -> String {
    let reply: Reply = client.get(&envoy.url(&format!("/echo?sessionid={token}")));
    assert!(
        reply.body.contains("x-cookieless-session: resumed") && reply.body.contains("cookie: app=v1"),
        "{what}: the session is lost: {reply:?}\n{}",
        envoy.log()
    );
    reply.header("x-cookieless-token").unwrap().to_string()
}

#[test]
fn a_reload_keeps_sessions_and_a_changed_max_sessions_leaves_no_table_behind() {
    let upstream = Upstream::start();
    let opts = EnvoyOptions { listener_over_lds: true, ..Default::default() };
    let envoy = Envoy::start_with(shared_data(16, 3600), upstream.port, opts);
    let before = Client::new();
    let kept = new_session(&before, &envoy);
    let _left = new_session(&before, &envoy);
    // Its pooled connection stays with the configuration it was opened under: gone, so that the
    // old configuration serves nothing more.
    drop(before);

    // The usual reload: another setting, the same max_sessions, so the same table.
    envoy.reload(shared_data(16, 7200));
    let kept = resume("a reload that keeps max_sessions", &Client::new(), &envoy, &kept);
    assert_eq!((envoy.counter(MOVED), envoy.counter(DROPPED)), (0, 0), "{}", envoy.stats());

    // max_sessions changed: the session moves into the new table when it is next used.
    envoy.reload(shared_data(40, 7200));
    let client = Client::new();
    let mut token = resume("a changed max_sessions", &client, &envoy, &kept);
    assert_eq!(envoy.counter(MOVED), 1, "{}", envoy.stats());
    token = resume("the moved session, again", &client, &envoy, &token);
    assert_eq!(envoy.counter(MOVED), 1, "moved once: {}", envoy.stats());

    // Nothing uses the old table (its other session not even): once it has been unused for its
    // idle timeout and one interval, a store call of the new configuration drops it, while the
    // session used all along lives on.
    let deadline = Instant::now() + Duration::from_secs(4 * IDLE_SECONDS + 10);
    while envoy.counter(DROPPED) == 0 {
        assert!(Instant::now() < deadline, "the old table was never dropped: {}\n{}", envoy.stats(), envoy.log());
        std::thread::sleep(Duration::from_secs(1));
        token = resume("the session in use while the old table goes", &client, &envoy, &token);
    }
    assert_eq!(envoy.counter(DROPPED), 1, "{}", envoy.stats());
    resume("after the old table was dropped", &client, &envoy, &token);
    envoy.assert_no_panic();
}
