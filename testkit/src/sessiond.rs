//! The real `cookieless-sessiond` binary on a loopback port it keeps across restarts (so an Envoy
//! cluster or a gRPC client pointed at it finds it again). It can be killed, frozen, asked to shut
//! down (SIGTERM) and started again; its log covers every start.

use crate::{accepts, artefact, retry, NotReady, Proc, TempDir};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// The release binary (`cargo build --release -p cookieless-sessiond`).
pub fn sessiond_bin() -> PathBuf {
    artefact("release/cookieless-sessiond", "session service")
}

/// What the service keeps its sessions in.
#[derive(Clone)]
pub enum Backend {
    Memory,
    /// Redis at this URL, each call bounded by this many milliseconds.
    Redis { url: String, timeout_ms: u32 },
    /// A Redis Cluster reached through these `HOST:PORT,...` nodes; each write waits for this many
    /// replicas (`--redis-wait-replicas`).
    RedisCluster { nodes: String, timeout_ms: u32, wait_replicas: u32 },
    /// The primary these `HOST:PORT,...` sentinels name `master`.
    RedisSentinel { sentinels: String, master: String, timeout_ms: u32, wait_replicas: u32 },
}

impl Backend {
    /// The command-line arguments that choose it.
    pub fn args(&self) -> Vec<String> {
        let (kind, mut args, timeout_ms, wait_replicas) = match self {
            Backend::Memory => return vec!["--backend".into(), "memory".into()],
            Backend::Redis { url, timeout_ms } => ("redis", vec!["--redis-url", url], timeout_ms, &0),
            Backend::RedisCluster { nodes, timeout_ms, wait_replicas } => {
                ("redis-cluster", vec!["--redis-nodes", nodes], timeout_ms, wait_replicas)
            }
            Backend::RedisSentinel { sentinels, master, timeout_ms, wait_replicas } => (
                "redis-sentinel",
                vec!["--sentinels", sentinels, "--sentinel-master", master],
                timeout_ms,
                wait_replicas,
            ),
        };
        let (timeout, wait) = (timeout_ms.to_string(), wait_replicas.to_string());
        args.extend(["--redis-timeout-ms", &timeout, "--redis-wait-replicas", &wait]);
        ["--backend", kind].into_iter().chain(args).map(str::to_string).collect()
    }
}

pub struct Sessiond {
    // Fields drop in order: the process before its directory.
    proc: Option<Proc>,
    /// 0 until the first start has said where it listens.
    port: u16,
    bin: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: TempDir,
    starts: u32,
}

impl Sessiond {
    /// The release binary with this backend, logging at `info`.
    pub fn release(backend: Backend) -> Sessiond {
        let args = backend.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Sessiond::start(sessiond_bin(), &args, &[("RUST_LOG", "info")])
    }

    /// Starts `bin` with `args` and `env` (and no other `COOKIELESS_SESSIOND_*` variable) on
    /// 127.0.0.1, on a port the OS chooses, and waits until it accepts connections. `env` must
    /// keep `RUST_LOG` at `info` or finer: the log says where it listens.
    pub fn start(bin: impl Into<PathBuf>, args: &[&str], env: &[(&str, &str)]) -> Sessiond {
        let mut sessiond = Sessiond {
            proc: None,
            port: 0,
            bin: bin.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            dir: TempDir::new("sessiond"),
            starts: 0,
        };
        if let Err(e) = sessiond.try_spawn() {
            panic!("{e}");
        }
        sessiond
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn running(&mut self) -> &mut Proc {
        self.proc.as_mut().unwrap_or_else(|| panic!("cookieless-sessiond is not running"))
    }

    pub fn pid(&mut self) -> u32 {
        self.running().pid()
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.dir.path().join(format!("sessiond-{start}.log"))
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log = self.log_path(self.starts);
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--listen", &format!("127.0.0.1:{}", self.port)]).args(&self.args);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("COOKIELESS_SESSIOND_") {
                cmd.env_remove(name);
            }
        }
        let log_file = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut proc = Proc::spawn(
            "cookieless-sessiond",
            cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file),
        );
        let wanted = self.port;
        let mut port = wanted;
        let ready = proc.wait_ready(Duration::from_secs(15), || {
            if port == 0 {
                port = listening_port(&std::fs::read_to_string(&log).unwrap_or_default()).unwrap_or(0);
            }
            port != 0 && accepts(port)
        });
        match ready {
            Ok(()) => {
                self.port = port;
                self.proc = Some(proc);
                Ok(())
            }
            Err(NotReady::Exited(status)) => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                Err(format!("cookieless-sessiond exited at start ({status}):\n{log}"))
            }
            Err(NotReady::TimedOut) => Err(format!("cookieless-sessiond did not listen (port {wanted}, 0: any)")),
        }
    }

    /// SIGKILL, by PID: no goodbye to its clients, like a crash.
    pub fn kill(&mut self) {
        self.proc = None;
    }

    /// Starts it again on the same port (a memory backend starts empty).
    pub fn restart(&mut self) {
        self.kill();
        retry("cookieless-sessiond", || self.try_spawn());
    }

    /// SIGSTOP: its sockets stay open (connects succeed) but nothing is answered.
    pub fn freeze(&mut self) {
        self.running().freeze();
    }

    pub fn thaw(&mut self) {
        self.running().thaw();
    }

    /// SIGTERM: a graceful shutdown.
    pub fn terminate(&mut self) {
        self.running().terminate();
    }

    /// Waits for it to exit, for at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        self.running().wait_exit(within)
    }

    /// Everything it logged, over all its starts.
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("--- restarted ---\n")
    }
}

impl Drop for Sessiond {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- cookieless-sessiond log ---\n{}", self.log());
        }
    }
}

/// The port of the service's "cookieless-sessiond listening addr=…" log line.
fn listening_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("cookieless-sessiond listening"))?;
    let rest = line.split("addr=").nth(1)?;
    rest.split_whitespace().next()?.parse::<SocketAddr>().ok().map(|a| a.port())
}
