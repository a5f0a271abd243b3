//! The service on its default, in-memory backend: the real binary, a real gRPC client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[tokio::test]
async fn memory_full_suite() {
    let d = Sessiond::start(&[]);
    full_suite(&d).await;
}

#[tokio::test]
async fn memory_is_the_default_backend_and_env_vars_work() {
    let d = Sessiond::start_with_env(
        &[],
        &[
            ("RUST_LOG", "info"),
            ("COOKIELESS_SESSIOND_MAX_SESSIONS", "7"),
        ],
    );
    let log = d.log();
    assert!(log.contains("backend=Memory"), "{log}");
    assert!(log.contains("max_sessions=7"), "{log}");
}

#[tokio::test]
async fn memory_evicts_the_least_recently_used_when_full() {
    let d = Sessiond::start(&["--max-sessions", "3"]);
    let mut c = d.client().await;
    let ids: Vec<String> = (0..4).map(|_| new_id()).collect();
    for id in &ids[..3] {
        put_ok(&mut c, id, b"x", 60).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Touch the first: the second is now the least recently used.
    assert!(get(&mut c, &ids[0]).await.unwrap().found);
    put_ok(&mut c, &ids[3], b"x", 60).await;
    assert!(get(&mut c, &ids[0]).await.unwrap().found);
    assert!(!get(&mut c, &ids[1]).await.unwrap().found, "evicted");
    assert!(get(&mut c, &ids[2]).await.unwrap().found);
    assert!(get(&mut c, &ids[3]).await.unwrap().found);
}

/// Issue 15's flood, as the filter sends it: each one-shot session is a Get that finds nothing
/// and one Put. 20,000 of them through `--max-sessions 400` evict none of 20 sessions that keep
/// being resumed (and written), and the store stays at 400.
#[tokio::test]
async fn memory_one_shot_sessions_never_evict_resumed_ones() {
    let d = Sessiond::start(&["--max-sessions", "400"]);
    let mut c = d.client().await;
    let users: Vec<String> = (0..20).map(|_| new_id()).collect();
    for user in &users {
        put_ok(&mut c, user, b"a=1", 600).await;
        assert!(get(&mut c, user).await.unwrap().found);
    }
    let started = std::time::Instant::now();
    // 20 rounds: 1,000 one-shots from 8 concurrent callers, then every user resumes and writes.
    for round in 0..20 {
        let mut flood = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let mut c = c.clone();
            flood.spawn(async move {
                for _ in 0..125 {
                    let id = new_id();
                    assert!(!get(&mut c, &id).await.unwrap().found);
                    put_ok(&mut c, &id, b"s=1", 600).await;
                }
            });
        }
        flood.join_all().await;
        for user in &users {
            let found = get(&mut c, user).await.unwrap();
            assert!(found.found, "a resumed session evicted in round {round}");
            assert!(put(&mut c, user, b"a=2", 600, found.version).await.unwrap().stored);
        }
    }
    eprintln!("sessiond flood: 20,000 one-shot sessions in {:.1} s", started.elapsed().as_secs_f64());
    // The counters reach the log within a housekeeping tick (once a second).
    let line = "evicted_one_shot=19620 evicted_resumed=0 sessions=400";
    cookieless_testkit::wait_until("the eviction counters in the log", Duration::from_secs(5), || d.log().contains(line));
}

#[tokio::test]
async fn idle_timeout_zero_uses_the_default_and_large_ones_are_capped() {
    let d = Sessiond::start(&[
        "--default-idle-timeout-seconds",
        "1",
        "--max-idle-timeout-seconds",
        "2",
    ]);
    let mut c = d.client().await;
    let (dflt, capped, long) = (new_id(), new_id(), new_id());
    put_ok(&mut c, &dflt, b"x", 0).await;
    put_ok(&mut c, &capped, b"x", 1_000_000).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(
        !get(&mut c, &dflt).await.unwrap().found,
        "0 = the 1 s default"
    );
    assert!(get(&mut c, &capped).await.unwrap().found);
    put_ok(&mut c, &long, b"x", 1_000_000).await;
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert!(!get(&mut c, &long).await.unwrap().found, "capped at 2 s");
}

#[tokio::test]
async fn sigterm_stops_gracefully() {
    let mut d = Sessiond::start(&[]);
    let mut c = d.client().await;
    put_ok(&mut c, &new_id(), b"x", 60).await;
    d.terminate();
    let status = d
        .wait_exit(Duration::from_secs(8))
        .expect("exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
    let log = d.log();
    assert!(
        log.contains("signal received") && log.contains("stopped"),
        "{log}"
    );
}

#[tokio::test]
async fn logs_never_contain_session_ids_or_jars() {
    let d = Sessiond::start_with_env(&[], &[("RUST_LOG", "trace")]);
    let mut c = d.client().await;
    let id = new_id();
    let jar = b"sessionid=SECRETJARVALUE123";
    let v = put_ok(&mut c, &id, jar, 60).await;
    assert!(get(&mut c, &id).await.unwrap().found);
    assert!(!put(&mut c, &id, b"x", 60, v + 1000).await.unwrap().stored);
    let _ = put(&mut c, "NOT-AN-ID-SECRET", b"x", 60, 0).await;
    delete(&mut c, &id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = d.log();
    assert!(log.contains("method=\"Put\""), "debug logs are on:\n{log}");
    assert!(!log.contains(&id), "session id in the log:\n{log}");
    assert!(!log.contains("SECRETJARVALUE"), "jar in the log:\n{log}");
    assert!(
        !log.contains("NOT-AN-ID-SECRET"),
        "bad id in the log:\n{log}"
    );
}

#[test]
fn help_explains_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_cookieless-sessiond"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "COOKIELESS_SESSIOND_LISTEN",
        "127.0.0.1:50051",
        "--backend",
        "--redis-url",
        "--key-prefix",
        "--max-sessions",
        "--redis-timeout-ms",
        "--default-idle-timeout-seconds",
        "--max-idle-timeout-seconds",
        "--shutdown-timeout-ms",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn bad_flags_fail_at_start_with_a_reason() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cookieless-sessiond"))
            .args(args)
            .env_remove("COOKIELESS_SESSIOND_LISTEN")
            .output()
            .unwrap()
    };
    let out = run(&["--backend", "postgres"]);
    assert!(!out.status.success());
    let out = run(&["--max-sessions", "0"]);
    assert!(!out.status.success());
    let out = run(&[
        "--listen",
        "127.0.0.1:0",
        "--default-idle-timeout-seconds",
        "10",
        "--max-idle-timeout-seconds",
        "5",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-idle-timeout-seconds"));
    let out = run(&[
        "--listen",
        "127.0.0.1:0",
        "--backend",
        "redis",
        "--redis-url",
        "nonsense",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--redis-url"));
}
