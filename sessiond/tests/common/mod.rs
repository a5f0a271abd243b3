//! Test harness: starts the real `cookieless-sessiond` binary (and, for the Redis tests, a real
//! `redis-server`) on free loopback ports, and stops them by PID when the guard drops, also when a
//! test fails or panics. Plus the behaviour suite that both backends must pass.
#![allow(dead_code)]

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

fn scratch_dir(what: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cookieless-sessiond-test-{}-{}-{}",
        std::process::id(),
        what,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A fresh session id (32 lowercase hex digits, like the filter's), unique in this test run.
pub fn new_id() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}{:016x}", u64::from(std::process::id()), n)
}

/// The running service. Dropping it kills the process (by PID) if it is still running.
pub struct Sessiond {
    child: Child,
    pub addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
}

impl Sessiond {
    /// Starts the binary on 127.0.0.1 with a port chosen by the OS, plus `args`.
    pub fn start(args: &[&str]) -> Sessiond {
        Self::start_with_env(args, &[("RUST_LOG", "info")])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Sessiond {
        let dir = scratch_dir("sessiond");
        let log = dir.join("sessiond.log");
        let log_file = fs::File::create(&log).expect("create log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cookieless-sessiond"));
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        for var in [
            "COOKIELESS_SESSIOND_LISTEN",
            "COOKIELESS_SESSIOND_BACKEND",
            "COOKIELESS_SESSIOND_REDIS_URL",
            "COOKIELESS_SESSIOND_KEY_PREFIX",
            "COOKIELESS_SESSIOND_MAX_SESSIONS",
            "COOKIELESS_SESSIOND_REDIS_TIMEOUT_MS",
            "COOKIELESS_SESSIOND_DEFAULT_IDLE_TIMEOUT_SECONDS",
            "COOKIELESS_SESSIOND_MAX_IDLE_TIMEOUT_SECONDS",
            "COOKIELESS_SESSIOND_SHUTDOWN_TIMEOUT_MS",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start cookieless-sessiond");
        let mut me = Sessiond {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(addr) = me.listening_addr() {
                me.addr = addr;
                break;
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!(
                    "cookieless-sessiond exited early ({status}):\n{}",
                    me.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "cookieless-sessiond did not start listening:\n{}",
                    me.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&me.addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "port {} never accepted", me.addr);
            std::thread::sleep(Duration::from_millis(20));
        }
        me
    }

    fn listening_addr(&self) -> Option<SocketAddr> {
        let text = self.log_text();
        let line = text
            .lines()
            .find(|l| l.contains("cookieless-sessiond listening"))?;
        let rest = line.split("addr=").nth(1)?;
        rest.split_whitespace().next()?.parse().ok()
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn client(&self) -> Client {
        SessionStoreClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect to cookieless-sessiond")
    }

    pub async fn health(&self, service: &str) -> ServingStatus {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
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

    /// Polls the health service until it reports `want` for `service`, for at most `within`.
    pub async fn wait_health(&self, service: &str, want: ServingStatus, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let got = self.health(service).await;
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

    /// Sends SIGTERM to the process (by PID).
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill(2) with a PID we spawned and have not reaped yet, so it is still ours.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
    }

    /// Waits for the process to exit, for at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sessiond {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- cookieless-sessiond log ---\n{}", self.log_text());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A `redis-server` on a loopback port, without persistence. Dropping it kills it by PID.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts redis-server on a free port. Fails the test (never skips it) when redis-server is
    /// not installed.
    pub fn start() -> RedisServer {
        let dir = scratch_dir("redis");
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut r = RedisServer {
                child: None,
                port,
                dir: dir.clone(),
            };
            match r.spawn() {
                Ok(()) => return r,
                Err(e) => last_err = e,
            }
        }
        panic!("could not start redis-server: {last_err}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed: the Redis backend tests need it \
                 (Debian: apt-get install -y redis-server). CI must install it."
            ),
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.ping() {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    return Err(format!("redis-server exited at start ({status})"));
                }
            }
            if Instant::now() > deadline {
                self.kill();
                return Err("redis-server did not answer PING".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
            return false;
        };
        redis::cmd("PING").query::<String>(&mut c).is_ok()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A plain connection for inspecting what the service stored.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("connect to redis")
    }

    /// Sends `signal` to the server (by PID), e.g. SIGSTOP to freeze it without closing its sockets.
    pub fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("redis-server running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
        // SAFETY: kill(2) with a PID we spawned and have not reaped yet, so it is still ours.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({signal}) failed");
    }

    /// Kills the server (SIGKILL, by PID) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // A frozen (SIGSTOPped) server must be thawed to die promptly.
            if let Ok(pid) = libc::pid_t::try_from(c.id()) {
                // SAFETY: as in `signal`.
                unsafe { libc::kill(pid, libc::SIGCONT) };
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "restart of redis-server failed: {e}"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
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
