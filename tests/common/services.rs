//! Back-end services for the gRPC session store tests: a real `redis-server` and the real
//! `cookieless-sessiond` binary, each on a loopback port it keeps across restarts (so an Envoy
//! cluster pointed at it finds it again). Every process is stopped by its PID when its guard
//! drops, also when a test fails or panics; a frozen (SIGSTOPped) one is thawed first.

use super::{free_port, target_dir, Client, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn sessiond_bin() -> PathBuf {
    let bin = target_dir().join("release/cookieless-sessiond");
    assert!(bin.exists(), "no session service at {} (run `make build`)", bin.display());
    bin
}

/// A client like `Client::new()` whose every request gives up after `limit`: a hang shows up as
/// status 0 after `limit` instead of stalling the test run.
pub fn client_with_timeout(limit: Duration) -> Client {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(limit))
        .build()
        .into();
    Client { agent, user_agent: "cookieless-test/1".into(), client_ip: None }
}

/// Sends a signal to one process of ours, by PID (`kill -STOP 1234`).
fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{sig} {pid} failed");
}

/// A restart on the port just released: binding it again can fail for a moment.
fn retry(what: &str, mut start: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match start() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("restart of {what} failed: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// One child process that can be killed, frozen, thawed and started again.
struct Guarded {
    child: Option<Child>,
    frozen: bool,
}

impl Guarded {
    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_else(|| panic!("the process is not running"))
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Runs `child` and waits until `ready` holds. If it exits first, `Err` has its status; if
    /// `within` passes first, it is killed and `Err` says so.
    fn start(&mut self, child: Child, within: Duration, ready: impl Fn() -> bool) -> Result<(), NotReady> {
        self.child = Some(child);
        let deadline = Instant::now() + within;
        while !ready() {
            if let Some(status) = self.exited() {
                self.child = None;
                return Err(NotReady::Exited(status));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(NotReady::TimedOut);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.frozen {
                signal(child.id(), "CONT");
                self.frozen = false;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn freeze(&mut self) {
        signal(self.pid(), "STOP");
        self.frozen = true;
    }

    fn thaw(&mut self) {
        signal(self.pid(), "CONT");
        self.frozen = false;
    }
}

enum NotReady {
    Exited(String),
    TimedOut,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `redis-server` without persistence on a fixed loopback port.
pub struct Redis {
    // Fields drop in order: the process before its directory.
    proc: Guarded,
    pub port: u16,
    dir: TempDir,
}

impl Redis {
    /// Fails the test (never skips it) when redis-server is not installed.
    pub fn start() -> Redis {
        let mut redis = Redis { proc: Guarded { child: None, frozen: false }, port: free_port(), dir: TempDir::new("redis") };
        if let Err(e) = redis.try_spawn() {
            panic!("{e}");
        }
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}): these tests need it (Debian: apt-get install -y redis-server)")
            });
        let port = self.port;
        self.proc.start(child, Duration::from_secs(10), || ping(port)).map_err(|e| match e {
            NotReady::Exited(status) => format!("redis-server exited at start ({status}) on port {port}"),
            NotReady::TimedOut => format!("redis-server did not answer PING on port {port}"),
        })
    }

    /// SIGKILL, by PID: the sessions it held are gone.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.proc.kill();
        retry("redis-server", || self.try_spawn());
    }
}

fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// What `cookieless-sessiond` keeps its sessions in.
#[derive(Clone)]
pub enum Backend {
    Memory,
    /// Redis at this URL, each call bounded by this many milliseconds.
    Redis { url: String, timeout_ms: u32 },
}

/// The real `cookieless-sessiond` on a fixed loopback port (kept across restarts).
pub struct Sessiond {
    // Fields drop in order: the process before its directory.
    proc: Guarded,
    pub port: u16,
    backend: Backend,
    dir: TempDir,
    starts: u32,
}

impl Sessiond {
    pub fn start(backend: Backend) -> Sessiond {
        let mut sessiond = Sessiond {
            proc: Guarded { child: None, frozen: false },
            port: free_port(),
            backend,
            dir: TempDir::new("sessiond"),
            starts: 0,
        };
        if let Err(e) = sessiond.try_spawn() {
            panic!("{e}");
        }
        sessiond
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log = self.dir.path().join(format!("sessiond-{}.log", self.starts));
        let mut cmd = Command::new(sessiond_bin());
        cmd.args(["--listen", &format!("127.0.0.1:{}", self.port)]);
        match &self.backend {
            Backend::Memory => cmd.args(["--backend", "memory"]),
            Backend::Redis { url, timeout_ms } => cmd.args([
                "--backend",
                "redis",
                "--redis-url",
                url,
                "--redis-timeout-ms",
                &timeout_ms.to_string(),
            ]),
        };
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("COOKIELESS_SESSIOND_") {
                cmd.env_remove(name);
            }
        }
        let child = cmd
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start cookieless-sessiond: {e}"));
        let port = self.port;
        self.proc.start(child, Duration::from_secs(15), || accepts(port)).map_err(|e| match e {
            NotReady::Exited(status) => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                format!("cookieless-sessiond exited at start ({status}):\n{log}")
            }
            NotReady::TimedOut => format!("cookieless-sessiond did not listen on port {port}"),
        })
    }

    /// SIGKILL, by PID: no goodbye to its clients, like a crash.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Starts it again on the same port (a memory backend starts empty).
    pub fn restart(&mut self) {
        self.proc.kill();
        retry("cookieless-sessiond", || self.try_spawn());
    }

    /// SIGSTOP: its sockets stay open (connects succeed) but nothing is answered.
    pub fn freeze(&mut self) {
        self.proc.freeze();
    }

    pub fn thaw(&mut self) {
        self.proc.thaw();
    }

    /// Everything it logged, over all its starts.
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.dir.path().join(format!("sessiond-{n}.log"))).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("--- restarted ---\n")
    }
}
