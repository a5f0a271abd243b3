//! The service on the Redis backend, against a real `redis-server` started by each test (Debian
//! package `redis-server`). These tests FAIL, not skip, when redis-server is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use cookieless_testkit::{free_port, Redis};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

/// A plain connection for inspecting what the service stored.
fn conn(redis: &Redis) -> redis::Connection {
    redis::Client::open(redis.url())
        .expect("redis url")
        .get_connection_with_timeout(Duration::from_secs(2))
        .expect("connect to redis")
}

/// Polls the health service until it reports `want` for `service`, for at most `within`.
async fn wait_health(d: &Sessiond, service: &str, want: ServingStatus, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = d.health(service).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "health of {service:?} stayed {got:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_on_redis(redis: &Redis, extra: &[&str]) -> Sessiond {
    let url = redis.url();
    let mut args = vec!["--backend", "redis", "--redis-url", url.as_str()];
    args.extend_from_slice(extra);
    Sessiond::start(&args)
}

#[tokio::test]
async fn redis_full_suite() {
    let redis = Redis::start();
    let d = start_on_redis(&redis, &[]);
    full_suite(&d).await;
}

#[tokio::test]
async fn redis_keys_carry_the_prefix_and_expire_by_ttl() {
    let redis = Redis::start();
    let d = start_on_redis(&redis, &["--max-idle-timeout-seconds", "2000"]);
    let mut c = d.client().await;
    let mut r = conn(&redis);
    let ttl = |r: &mut redis::Connection, key: &str| -> i64 {
        redis::cmd("TTL").arg(key).query(r).unwrap()
    };

    let id = new_id();
    let key = format!("cookieless:{id}");
    put_ok(&mut c, &id, b"jar-bytes", 100).await;
    let t = ttl(&mut r, &key);
    assert!((95..=100).contains(&t), "TTL = idle timeout, got {t}");
    let stored: Vec<u8> = redis::cmd("HGET").arg(&key).arg("j").query(&mut r).unwrap();
    assert_eq!(stored, b"jar-bytes", "the jar is stored as given");

    // Get slides the expiry back to the full idle timeout.
    let _: i64 = redis::cmd("EXPIRE").arg(&key).arg(5).query(&mut r).unwrap();
    assert!(get(&mut c, &id).await.unwrap().found);
    let t = ttl(&mut r, &key);
    assert!((95..=100).contains(&t), "Get refreshed the TTL, got {t}");

    // A later Put sets the new timeout; 0 means the default (1800 s); too large is capped (2000).
    put_ok(&mut c, &id, b"x", 30).await;
    assert!((25..=30).contains(&ttl(&mut r, &key)));
    put_ok(&mut c, &id, b"x", 0).await;
    assert!((1795..=1800).contains(&ttl(&mut r, &key)));
    put_ok(&mut c, &id, b"x", 1_000_000).await;
    assert!((1995..=2000).contains(&ttl(&mut r, &key)));

    // Redis expiring the key ends the session.
    let _: i64 = redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(1)
        .query(&mut r)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!get(&mut c, &id).await.unwrap().found);

    delete(&mut c, &id).await.unwrap();
    put_ok(&mut c, &id, b"x", 60).await;
    delete(&mut c, &id).await.unwrap();
    let exists: i64 = redis::cmd("EXISTS").arg(&key).query(&mut r).unwrap();
    assert_eq!(exists, 0, "Delete removes the key");
}

#[tokio::test]
async fn redis_custom_key_prefix_and_shared_sessions() {
    let redis = Redis::start();
    let a = start_on_redis(&redis, &["--key-prefix", "app1:"]);
    let b = start_on_redis(&redis, &["--key-prefix", "app1:"]);
    let other = start_on_redis(&redis, &["--key-prefix", "app2:"]);
    let (mut ca, mut cb, mut co) = (a.client().await, b.client().await, other.client().await);
    let mut r = conn(&redis);

    let id = new_id();
    let v = put_ok(&mut ca, &id, b"shared", 60).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("app1:{id}"))
        .query(&mut r)
        .unwrap();
    assert_eq!(exists, 1);
    // Another replica with the same prefix sees the session, and CAS works across replicas.
    let got = get(&mut cb, &id).await.unwrap();
    assert_eq!(
        (got.found, got.jar.as_slice(), got.version),
        (true, &b"shared"[..], v)
    );
    assert!(put(&mut cb, &id, b"by b", 60, v).await.unwrap().stored);
    assert!(!put(&mut ca, &id, b"stale a", 60, v).await.unwrap().stored);
    // Another prefix is another namespace.
    assert!(!get(&mut co, &id).await.unwrap().found);
}

/// Asserts that `fut` fails with UNAVAILABLE within 1 s.
async fn assert_unavailable_fast<T: std::fmt::Debug>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, tonic::Status>>,
) {
    let t0 = Instant::now();
    let r = fut.await;
    let took = t0.elapsed();
    match r {
        Err(e) => assert_eq!(e.code(), Code::Unavailable, "{what}: {e:?}"),
        Ok(v) => panic!("{what} succeeded with Redis down: {v:?}"),
    }
    assert!(
        took < Duration::from_secs(1),
        "{what} took {took:?} with Redis down"
    );
    eprintln!("{what}: UNAVAILABLE after {took:?}");
}

/// Polls until a Put succeeds again, for at most `within`.
async fn wait_until_put_works(c: &mut Client, within: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let id = new_id();
        if put(c, &id, b"back", 60, 0).await.is_ok() {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < within,
            "calls still failing {within:?} after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn redis_down_answers_unavailable_quickly_and_recovers() {
    let mut redis = Redis::start();
    let d = start_on_redis(&redis, &["--redis-timeout-ms", "200"]);
    let mut c = d.client().await;
    let id = new_id();
    put_ok(&mut c, &id, b"before", 60).await;
    suite_health(&d).await;

    redis.kill();
    for round in 0..3 {
        assert_unavailable_fast(&format!("Get #{round}"), get(&mut c, &id)).await;
        assert_unavailable_fast(&format!("Put #{round}"), put(&mut c, &id, b"x", 60, 0)).await;
        assert_unavailable_fast(&format!("Delete #{round}"), delete(&mut c, &id)).await;
    }
    // Validation still answers without Redis.
    let e = get(&mut c, "BAD").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    wait_health(&d, "", ServingStatus::NotServing, Duration::from_secs(4)).await;
    wait_health(
        &d,
        SERVICE,
        ServingStatus::NotServing,
        Duration::from_secs(1),
    )
    .await;

    redis.restart();
    let took = wait_until_put_works(&mut c, Duration::from_secs(5)).await;
    eprintln!("recovered {took:?} after Redis restarted");
    // Redis came back empty (no persistence in this test): the old session is gone, new ones work.
    assert!(!get(&mut c, &id).await.unwrap().found);
    let v = put_ok(&mut c, &id, b"after", 60).await;
    let r = get(&mut c, &id).await.unwrap();
    assert_eq!((r.jar.as_slice(), r.version), (&b"after"[..], v));
    wait_health(&d, "", ServingStatus::Serving, Duration::from_secs(4)).await;
    suite_compare_and_set(&mut c).await;

    // And a second outage behaves the same.
    redis.kill();
    assert_unavailable_fast("Get after second outage", get(&mut c, &id)).await;
    redis.restart();
    wait_until_put_works(&mut c, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn redis_absent_at_start_then_arrives() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/");
    let d = Sessiond::start(&["--backend", "redis", "--redis-url", &url]);
    let mut c = d.client().await;
    assert_unavailable_fast("Get with no Redis yet", get(&mut c, &new_id())).await;
    assert_unavailable_fast("Put with no Redis yet", put(&mut c, &new_id(), b"x", 60, 0)).await;
    wait_health(&d, "", ServingStatus::NotServing, Duration::from_secs(4)).await;

    // A Redis on the port the service was told about.
    let _redis = Redis::start_on(port);
    wait_until_put_works(&mut c, Duration::from_secs(5)).await;
    wait_health(&d, "", ServingStatus::Serving, Duration::from_secs(4)).await;
}

#[tokio::test]
async fn redis_frozen_answers_unavailable_within_the_timeout_and_recovers() {
    // SIGSTOP keeps Redis's sockets open but answers nothing: only the timeout can save the call.
    let mut redis = Redis::start();
    let d = start_on_redis(&redis, &["--redis-timeout-ms", "200"]);
    let mut c = d.client().await;
    let id = new_id();
    let v = put_ok(&mut c, &id, b"before", 60).await;

    redis.freeze();
    for round in 0..2 {
        assert_unavailable_fast(&format!("Get #{round} (frozen)"), get(&mut c, &id)).await;
        assert_unavailable_fast(
            &format!("Put #{round} (frozen)"),
            put(&mut c, &id, b"x", 60, v),
        )
        .await;
    }
    wait_health(&d, "", ServingStatus::NotServing, Duration::from_secs(4)).await;

    redis.thaw();
    wait_until_put_works(&mut c, Duration::from_secs(5)).await;
    // The data survived the freeze; answers are matched to the right calls again.
    for _ in 0..20 {
        let r = get(&mut c, &id).await.unwrap();
        assert!(r.found);
        let w = put(&mut c, &id, b"after", 60, r.version).await.unwrap();
        assert!(w.stored, "CAS after the freeze");
    }
    assert_eq!(get(&mut c, &id).await.unwrap().jar, b"after");
    wait_health(&d, "", ServingStatus::Serving, Duration::from_secs(4)).await;
}
