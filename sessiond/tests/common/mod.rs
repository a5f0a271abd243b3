//! The real `cookieless-sessiond` binary of this crate, started (and stopped by PID, also when a
//! test fails or panics) by the workspace's test kit, `cookieless-testkit`; here the bounded gRPC
//! calls the tests make and the behaviour suite that both backends must pass.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cookieless_sessiond::pb::session_store_client::SessionStoreClient;
use cookieless_sessiond::pb::{DeleteRequest, GetRequest, GetResponse, PutRequest, PutResponse};
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// The service's name in the health service.
pub use cookieless_sessiond::pb::SERVICE;

/// No test call may take longer than this: a hang is a failure, not a stuck CI run.
pub const CALL_LIMIT: Duration = Duration::from_secs(5);

pub type Client = SessionStoreClient<Channel>;

/// A fresh session id (32 lowercase hex digits, like the filter's), unique in this test run.
pub fn new_id() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}{:016x}", u64::from(std::process::id()), n)
}

/// The service binary of this crate (the kit's process guard), with the gRPC calls the tests make.
pub struct Sessiond(cookieless_testkit::Sessiond);

impl Deref for Sessiond {
    type Target = cookieless_testkit::Sessiond;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Sessiond {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Sessiond {
    /// Starts the binary on 127.0.0.1 with a port chosen by the OS, plus `args`.
    pub fn start(args: &[&str]) -> Sessiond {
        Self::start_with_env(args, &[("RUST_LOG", "info")])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Sessiond {
        Sessiond(cookieless_testkit::Sessiond::start(
            env!("CARGO_BIN_EXE_cookieless-sessiond"),
            args,
            env,
        ))
    }

    pub async fn client(&self) -> Client {
        SessionStoreClient::connect(format!("http://{}", self.addr()))
            .await
            .expect("connect to cookieless-sessiond")
    }

    pub async fn health(&self, service: &str) -> ServingStatus {
        let channel = Channel::from_shared(format!("http://{}", self.addr()))
            .expect("uri")
            .connect()
            .await
            .expect("connect to health service");
        let mut h = HealthClient::new(channel);
        let resp = tokio::time::timeout(
            CALL_LIMIT,
            h.check(HealthCheckRequest {
                service: service.to_owned(),
            }),
        )
        .await
        .expect("health check hung")
        .expect("health check failed");
        ServingStatus::try_from(resp.into_inner().status).expect("known status")
    }
}

// ---- calls, each bounded so that a hang fails the test ----

pub async fn get(c: &mut Client, id: &str) -> Result<GetResponse, tonic::Status> {
    let req = GetRequest {
        session_id: id.to_owned(),
    };
    tokio::time::timeout(CALL_LIMIT, c.get(req))
        .await
        .expect("Get hung")
        .map(tonic::Response::into_inner)
}

pub async fn put(
    c: &mut Client,
    id: &str,
    jar: &[u8],
    idle: u32,
    expected: u64,
) -> Result<PutResponse, tonic::Status> {
    let req = PutRequest {
        session_id: id.to_owned(),
        jar: jar.to_vec(),
        idle_timeout_seconds: idle,
        expected_version: expected,
    };
    tokio::time::timeout(CALL_LIMIT, c.put(req))
        .await
        .expect("Put hung")
        .map(tonic::Response::into_inner)
}

pub async fn delete(c: &mut Client, id: &str) -> Result<(), tonic::Status> {
    let req = DeleteRequest {
        session_id: id.to_owned(),
    };
    tokio::time::timeout(CALL_LIMIT, c.delete(req))
        .await
        .expect("Delete hung")
        .map(|_| ())
}

/// Put that must store; returns the new version.
pub async fn put_ok(c: &mut Client, id: &str, jar: &[u8], idle: u32) -> u64 {
    let r = put(c, id, jar, idle, 0).await.expect("Put");
    assert!(r.stored, "unconditional Put must store");
    assert_ne!(r.version, 0);
    r.version
}

// ---- the behaviour suite both backends pass ----

pub async fn suite_get_put_delete(c: &mut Client) {
    let id = new_id();
    let missing = get(c, &id).await.expect("Get");
    assert_eq!(missing, GetResponse::default(), "absent session");

    let jar: Vec<u8> = (0..=255u8).chain(0..=255u8).collect(); // every byte value: opaque bytes
    let v1 = put_ok(c, &id, &jar, 60).await;
    let r = get(c, &id).await.expect("Get");
    assert!(r.found);
    assert_eq!(r.jar, jar);
    assert_eq!(r.version, v1);

    let v2 = put_ok(c, &id, b"second", 60).await;
    assert_ne!(v2, v1);
    let r = get(c, &id).await.expect("Get");
    assert_eq!(
        (r.found, r.jar.as_slice(), r.version),
        (true, &b"second"[..], v2)
    );

    // An empty jar is a jar.
    let v3 = put_ok(c, &id, b"", 60).await;
    let r = get(c, &id).await.expect("Get");
    assert_eq!((r.found, r.jar.len(), r.version), (true, 0, v3));

    delete(c, &id).await.expect("Delete");
    assert!(!get(c, &id).await.expect("Get").found);
    delete(c, &id)
        .await
        .expect("Delete of an absent session is fine");

    // Sessions are independent.
    let (a, b) = (new_id(), new_id());
    put_ok(c, &a, b"A", 60).await;
    put_ok(c, &b, b"B", 60).await;
    delete(c, &a).await.expect("Delete");
    assert_eq!(get(c, &b).await.expect("Get").jar, b"B");

    // Longest id accepted.
    let long = "f".repeat(64);
    put_ok(c, &long, b"x", 60).await;
    assert!(get(c, &long).await.expect("Get").found);
    delete(c, &long).await.expect("Delete");
}

pub async fn suite_compare_and_set(c: &mut Client) {
    let id = new_id();
    // CAS on an absent session: conflict, version 0, nothing created.
    let r = put(c, &id, b"x", 60, 12345).await.expect("Put");
    assert_eq!((r.stored, r.version), (false, 0));
    assert!(!get(c, &id).await.expect("Get").found);

    let v1 = put_ok(c, &id, b"one", 60).await;
    let r = put(c, &id, b"two", 60, v1).await.expect("Put");
    assert!(r.stored, "CAS with the current version stores");
    let v2 = r.version;
    assert_ne!(v2, v1);

    // A writer still holding v1 loses and learns the current version.
    let r = put(c, &id, b"stale", 60, v1).await.expect("Put");
    assert_eq!((r.stored, r.version), (false, v2));
    assert_eq!(get(c, &id).await.expect("Get").jar, b"two");

    // Deleted and written again: the old version does not match the new incarnation (no ABA).
    delete(c, &id).await.expect("Delete");
    let r = put(c, &id, b"x", 60, v2).await.expect("Put");
    assert_eq!((r.stored, r.version), (false, 0));
    let v3 = put_ok(c, &id, b"three", 60).await;
    assert!(v3 != v1 && v3 != v2);
    for old in [v1, v2] {
        assert!(!put(c, &id, b"stale", 60, old).await.expect("Put").stored);
    }
}

/// Writers racing with read-modify-write CAS loops lose no update.
pub async fn suite_concurrent_cas(c: &Client) {
    let id = new_id();
    let mut c0 = c.clone();
    put_ok(&mut c0, &id, b"0", 60).await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let mut c = c.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for _ in 0..20 {
                loop {
                    let r = get(&mut c, &id).await.expect("Get");
                    let n: u64 = std::str::from_utf8(&r.jar).unwrap().parse().unwrap();
                    let w = put(&mut c, &id, (n + 1).to_string().as_bytes(), 60, r.version)
                        .await
                        .expect("Put");
                    if w.stored {
                        break;
                    }
                    conflicts += 1;
                }
            }
            conflicts
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(get(&mut c0, &id).await.expect("Get").jar, b"120");
}

/// Sessions idle for their timeout expire; each Get or Put restarts the clock.
pub async fn suite_idle_expiry(c: &mut Client) {
    // Margins of 0.8 s or more either way, so a loaded CI machine cannot flip the outcome.
    let id = new_id();
    put_ok(c, &id, b"short", 2).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(get(c, &id).await.expect("Get").found, "alive after 1.2 s");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        get(c, &id).await.expect("Get").found,
        "alive 2.4 s after the Put: the Get at 1.2 s restarted the 2 s idle clock"
    );
    tokio::time::sleep(Duration::from_millis(2800)).await;
    let r = get(c, &id).await.expect("Get");
    assert!(!r.found, "gone after 2.8 s idle");
    assert!(r.jar.is_empty());
    // A CAS against the expired session conflicts.
    assert!(!put(c, &id, b"x", 1, 1).await.expect("Put").stored);
}

pub async fn suite_invalid_arguments(c: &mut Client) {
    let id = new_id();
    let too_big = vec![7u8; 64 * 1024 + 1];
    let e = put(c, &id, &too_big, 60, 0)
        .await
        .expect_err("oversized jar");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        !get(c, &id).await.expect("Get").found,
        "an oversized jar is never stored"
    );

    // An existing session is left as it was.
    let v = put_ok(c, &id, b"kept", 60).await;
    let e = put(c, &id, &too_big, 60, 0)
        .await
        .expect_err("oversized jar");
    assert_eq!(e.code(), Code::InvalidArgument);
    let r = get(c, &id).await.expect("Get");
    assert_eq!((r.jar.as_slice(), r.version), (&b"kept"[..], v));

    // Exactly 64 KiB is fine.
    let max = vec![9u8; 64 * 1024];
    put_ok(c, &id, &max, 60).await;
    assert_eq!(get(c, &id).await.expect("Get").jar, max);

    // Far past the limit: refused by gRPC's message size limit before it is even read.
    let huge = vec![1u8; 1024 * 1024];
    let e = put(c, &id, &huge, 60, 0).await.expect_err("huge jar");
    assert!(e.code() == Code::OutOfRange, "{e:?}");

    let bad_ids = [
        String::new(),
        "a".repeat(65),
        "ABCDEF".to_owned(),
        "abc:def".to_owned(),
        "../etc".to_owned(),
        "0123456789abcdeg".to_owned(),
        "*".to_owned(),
    ];
    for bad in &bad_ids {
        let e = get(c, bad).await.expect_err("bad id Get");
        assert_eq!(e.code(), Code::InvalidArgument, "Get {bad:?}");
        let e = put(c, bad, b"x", 60, 0).await.expect_err("bad id Put");
        assert_eq!(e.code(), Code::InvalidArgument, "Put {bad:?}");
        let e = delete(c, bad).await.expect_err("bad id Delete");
        assert_eq!(e.code(), Code::InvalidArgument, "Delete {bad:?}");
        if bad.len() > 3 {
            assert!(!e.message().contains(bad.as_str()), "the id is not echoed");
        }
    }
}

pub async fn suite_health(d: &Sessiond) {
    assert_eq!(d.health("").await, ServingStatus::Serving);
    assert_eq!(d.health(SERVICE).await, ServingStatus::Serving);
}

/// Every suite above, in order.
pub async fn full_suite(d: &Sessiond) {
    let mut c = d.client().await;
    suite_health(d).await;
    suite_get_put_delete(&mut c).await;
    suite_compare_and_set(&mut c).await;
    suite_concurrent_cas(&c).await;
    suite_invalid_arguments(&mut c).await;
    suite_idle_expiry(&mut c).await;
}
