//! The test kit of the cookieless workspace (dev-only, never published): what the integration
//! tests of the root crate and of `cookieless-sessiond`, and the Envoy benchmark, run.
//!
//! Every process is started on free loopback ports and stopped by its PID when its guard drops,
//! which also happens when a test fails or panics.
//!
//! * here: the workspace paths, the rewriter's [`corpus`], [`free_port`], the process guard [`Proc`], waiting
//!   ([`wait_until`], [`accepts`]), [`TempDir`];
//! * [`redis`]: a real `redis-server` that can be killed, frozen and restarted; a Redis Cluster
//!   and a Sentinel group of them, for failovers;
//! * [`sessiond`]: the real `cookieless-sessiond` binary;
//! * [`envoy`]: Envoy with the filter from a generated bootstrap, and `envoy --mode validate`;
//! * [`demo`]: the demo app binary; [`http`]: an HTTP client that keeps no cookies;
//! * feature `upstream`: a scriptable in-process upstream; feature `browser`: headless Chromium
//!   driven over WebDriver.

pub mod demo;
pub mod envoy;
pub mod http;
pub mod redis;
pub mod sessiond;

#[cfg(feature = "browser")]
pub mod browser;
#[cfg(feature = "upstream")]
pub mod upstream;

pub use demo::{demo_bin, Demo};
pub use envoy::{
    bootstrap, build, envoy_bin, envoy_command, filter_config, native_path, validate_config, wasm_path, Build, Envoy,
    EnvoyOptions, KEY, OTHER_KEY,
};
pub use http::{hidden_field, token_in, Client, Reply};
pub use redis::{Redis, RedisCluster, SentinelGroup};
pub use sessiond::{sessiond_bin, Backend, Sessiond};

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// The workspace root (the kit lives in its `testkit/` folder): where Envoy runs, and the base of
/// the paths the tests read.
pub fn root() -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent().unwrap_or(kit).to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// The pages of the rewriter's corpus (`tests/corpus/*.html`, without the `.expected.html`
/// files), sorted; fails the test when the folder is missing or nearly empty.
pub fn corpus() -> Vec<PathBuf> {
    let dir = root().join("tests/corpus");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.ends_with(".html") && !name.ends_with(".expected.html")
        })
        .collect();
    pages.sort();
    assert!(pages.len() >= 8, "corpus missing in {}", dir.display());
    pages
}

/// A built artefact under the target directory, e.g. `release/demo`; fails the test when missing.
pub fn artefact(relative: &str, what: &str) -> PathBuf {
    let path = target_dir().join(relative);
    assert!(path.exists(), "no {what} at {} (run `make build`)", path.display());
    path
}

/// The ports [`free_port`] hands out: below Linux's ephemeral range (32768-60999 by default).
/// A port the kernel picks (a `bind(0)`, the local end of every outgoing connection) is never one
/// of these, so a port handed out here cannot be taken by such a socket before its server binds
/// it: CI once lost a test to exactly that race, when ports came from `bind(0)`.
const PORTS: std::ops::Range<u16> = 20000..32000;

/// The next candidate in [`PORTS`]: one counter for the test process, so its parallel tests never
/// get the same port; it starts at an offset from the PID, so processes run one after the other
/// (cargo's test binaries) do not walk the same ports while a stopped server's port may linger.
fn next_candidate() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = u32::from(PORTS.end - PORTS.start);
    let start = std::process::id().wrapping_mul(7919) % span;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % span;
    PORTS.start + u16::try_from(n).unwrap_or(0)
}

/// A loopback port nobody listens on right now, and that this process has not handed out before
/// (see [`PORTS`]).
pub fn free_port() -> u16 {
    for _ in PORTS {
        let port = next_candidate();
        if TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {PORTS:?}")
}

/// Something accepts TCP connections on this loopback port.
pub fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Polls `ready` every 50 ms; fails the test after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// Runs `start` until it succeeds, for at most 10 s: a restart on the port just released can fail
/// to bind it for a moment.
pub fn retry(what: &str, mut start: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match start() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("restart of {what} failed: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A child process stopped (SIGKILL, by its PID) when dropped, also when the test panics. It can
/// be frozen (SIGSTOP) and thawed; a frozen one is thawed before it is stopped.
pub struct Proc {
    child: Child,
    pub name: &'static str,
    frozen: bool,
}

/// Why a process did not get ready.
#[derive(Debug)]
pub enum NotReady {
    /// It exited first, with this status.
    Exited(ExitStatus),
    /// The time ran out first; it was stopped.
    TimedOut,
}

impl Proc {
    /// Starts `cmd`; fails the test when it cannot.
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
        Proc::try_spawn(name, cmd).unwrap_or_else(|e| panic!("cannot start {name}: {e}"))
    }

    pub fn try_spawn(name: &'static str, cmd: &mut Command) -> std::io::Result<Proc> {
        Ok(Proc { child: cmd.spawn()?, name, frozen: false })
    }

    /// Waits until `ready` holds, polling every 20 ms. When the process exits first, or `within`
    /// passes first (then it is stopped), `Err` says which.
    pub fn wait_ready(&mut self, within: Duration, mut ready: impl FnMut() -> bool) -> Result<(), NotReady> {
        let deadline = Instant::now() + within;
        while !ready() {
            if let Some(status) = self.exit_status() {
                return Err(NotReady::Exited(status));
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(NotReady::TimedOut);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its exit status once it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for it to exit, for at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL (thawed first if frozen), and reaped.
    pub fn stop(&mut self) {
        if self.frozen && self.is_running() {
            self.signal(libc::SIGCONT);
        }
        self.frozen = false;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: asks it to shut down.
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// SIGSTOP: its sockets stay open (connects succeed) but nothing is answered. Returns once
    /// every thread is stopped: kill(2) only queues the signal, and on a loaded machine a thread
    /// of the process could otherwise still answer a request sent right after this call.
    pub fn freeze(&mut self) {
        self.signal(libc::SIGSTOP);
        self.frozen = true;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.all_threads_stopped() {
            assert!(Instant::now() < deadline, "{}: not stopped 5 s after SIGSTOP", self.name);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Every thread of the process in state `T` (stopped), by /proc/PID/task/*/stat.
    fn all_threads_stopped(&self) -> bool {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else {
            return false;
        };
        tasks.flatten().all(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // The state follows the command name, which is in parentheses and may hold spaces.
            stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T'))
        })
    }

    /// SIGCONT after [`Proc::freeze`].
    pub fn thaw(&mut self) {
        self.signal(libc::SIGCONT);
        self.frozen = false;
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap_or_else(|_| panic!("{}: PID out of range", self.name));
        // SAFETY: kill(2) on the PID of our own child, not reaped yet (the `Child` is reaped only
        // by `stop`, which needs `&mut self`), so the PID is still this process.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill(-{signal}) of {} ({pid}) failed", self.name);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A temporary directory, removed when dropped (kept when the test panics, for a look).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("cookieless-{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
