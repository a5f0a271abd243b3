//! A real `redis-server` without persistence on a loopback port it keeps across restarts, so a
//! client pointed at it finds it again. It can be killed, frozen and started again (empty).
//! Built from it: a six-node Redis Cluster ([`RedisCluster`]) and a primary, a replica and three
//! sentinels ([`SentinelGroup`]), for failovers.

use crate::{free_port, retry, NotReady, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

pub struct Redis {
    // Fields drop in order: the process before its directory.
    proc: Option<Proc>,
    port: u16,
    /// Arguments before the standard ones (a config file, `--sentinel`) and after them.
    leading: Vec<String>,
    extra: Vec<String>,
    dir: TempDir,
}

/// The arguments of a plain server: no persistence; a new replica is sent the data at once
/// (Redis waits 5 s by default for more replicas to share the transfer).
const SERVER: [&str; 6] = ["--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"];

impl Redis {
    /// On a free port. Fails the test (never skips it) when redis-server is not installed.
    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// On a free port, with these extra server arguments (e.g. `--replicaof`, cluster mode).
    pub fn start_with(extra: &[&str]) -> Redis {
        let args: Vec<String> = SERVER.iter().chain(extra).map(|a| a.to_string()).collect();
        Redis::start_args(|_| (Vec::new(), args.clone()))
    }

    /// A sentinel on a free port, from this configuration (its `sentinel monitor ...` lines).
    pub fn start_sentinel(conf: &str) -> Redis {
        Redis::start_args(|dir| {
            let path = dir.join("sentinel.conf");
            std::fs::write(&path, conf).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            (vec![path.display().to_string(), "--sentinel".into()], Vec::new())
        })
    }

    fn start_args(args: impl Fn(&std::path::Path) -> (Vec<String>, Vec<String>)) -> Redis {
        let mut last = String::new();
        for _ in 0..5 {
            let dir = TempDir::new("redis");
            let (leading, extra) = args(dir.path());
            let mut redis = Redis { proc: None, port: free_port(), leading, extra, dir };
            match redis.try_spawn() {
                Ok(()) => return redis,
                Err(e) => last = e,
            }
        }
        panic!("could not start redis-server: {last}");
    }

    /// On this port (one a client was already told about).
    pub fn start_on(port: u16) -> Redis {
        let extra = SERVER.iter().map(|a| a.to_string()).collect();
        let mut redis = Redis { proc: None, port, leading: Vec::new(), extra, dir: TempDir::new("redis") };
        retry("redis-server", || redis.try_spawn());
        redis
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What `redis-cli` prints for this command (empty when the server does not answer).
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let mut proc = Proc::try_spawn(
            "redis-server",
            Command::new("redis-server")
                .args(&self.leading)
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .arg("--dir")
                .arg(self.dir.path())
                .args(&self.extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .unwrap_or_else(|e| {
            panic!("cannot run redis-server ({e}): these tests need it (Debian: apt-get install -y redis-server)")
        });
        let port = self.port;
        match proc.wait_ready(Duration::from_secs(10), || ping(port)) {
            Ok(()) => {
                self.proc = Some(proc);
                Ok(())
            }
            Err(NotReady::Exited(status)) => Err(format!("redis-server exited at start ({status}) on port {port}")),
            Err(NotReady::TimedOut) => Err(format!("redis-server did not answer PING on port {port}")),
        }
    }

    fn running(&mut self) -> &mut Proc {
        self.proc.as_mut().unwrap_or_else(|| panic!("redis-server is not running"))
    }

    pub fn pid(&mut self) -> u32 {
        self.running().pid()
    }

    /// SIGKILL, by PID: the sessions it held are gone.
    pub fn kill(&mut self) {
        self.proc = None;
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        retry("redis-server", || self.try_spawn());
    }

    /// SIGSTOP: its sockets stay open but nothing is answered.
    pub fn freeze(&mut self) {
        self.running().freeze();
    }

    pub fn thaw(&mut self) {
        self.running().thaw();
    }
}

/// `PING` answered with `+PONG` on this port.
pub fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// What `redis-cli -p PORT ARGS...` prints, empty when it fails (a killed server).
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): Debian: apt-get install -y redis-tools"));
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        String::new()
    }
}

/// The value of `field:` in an `INFO`-style reply (`field:value` lines).
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')).map(|v| v.trim().to_string())
}

/// A Redis Cluster of six nodes on loopback, created by `redis-cli --cluster create`: three
/// primaries, each with one replica, all slots assigned. A node can be killed (SIGKILL, by PID);
/// its replica takes over after `cluster-node-timeout`.
pub struct RedisCluster {
    pub nodes: Vec<Redis>,
}

impl RedisCluster {
    /// `node_timeout_ms`: how long a node may be silent before the others fail it over.
    pub fn start(node_timeout_ms: u32) -> RedisCluster {
        let timeout = node_timeout_ms.to_string();
        let args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", &timeout];
        let nodes: Vec<Redis> = (0..6).map(|_| Redis::start_with(&args)).collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create").args(nodes.iter().map(Redis::addr));
        let out = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli --cluster create: {e}"));
        assert!(out.status.success(), "redis-cli --cluster create failed:\n{}", String::from_utf8_lossy(&out.stdout));
        let cluster = RedisCluster { nodes };
        crate::wait_until("a healthy cluster of 3 primaries and 3 replicas", Duration::from_secs(30), || cluster.healthy());
        cluster
    }

    /// Every running node says `cluster_state:ok`, and three of them are primaries with a replica
    /// in sync.
    pub fn healthy(&self) -> bool {
        let running: Vec<&Redis> = self.nodes.iter().filter(|n| n.proc.is_some()).collect();
        let ok = running.iter().all(|n| info_field(&n.cli(&["CLUSTER", "INFO"]), "cluster_state").as_deref() == Some("ok"));
        let primaries_with_replica = running
            .iter()
            .filter(|n| {
                let info = n.cli(&["INFO", "replication"]);
                info_field(&info, "role").as_deref() == Some("master")
                    && info_field(&info, "slave0").is_some_and(|r| r.contains("state=online"))
            })
            .count();
        ok && primaries_with_replica == 3
    }

    /// `HOST:PORT,...` of every node, for `--redis-nodes`.
    pub fn addrs(&self) -> String {
        self.nodes.iter().map(Redis::addr).collect::<Vec<_>>().join(",")
    }

    /// The indexes of the running nodes that are primaries now.
    pub fn primaries(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                let node = &self.nodes[i];
                node.proc.is_some() && info_field(&node.cli(&["INFO", "replication"]), "role").as_deref() == Some("master")
            })
            .collect()
    }

    /// The keys each running primary holds (`DBSIZE`), by node index.
    pub fn keys_per_primary(&self) -> Vec<(usize, u64)> {
        self.primaries().into_iter().map(|i| (i, self.nodes[i].cli(&["DBSIZE"]).trim().parse().unwrap_or(0))).collect()
    }
}

/// A primary, one replica of it and three sentinels watching it under one name, on loopback.
/// Killing the primary (SIGKILL, by PID) makes the sentinels promote the replica after
/// `down-after-milliseconds`.
pub struct SentinelGroup {
    pub primary: Redis,
    pub replica: Redis,
    pub sentinels: Vec<Redis>,
    pub name: String,
}

impl SentinelGroup {
    pub fn start(name: &str, down_after_ms: u32) -> SentinelGroup {
        let primary = Redis::start();
        let replica = Redis::start_with(&["--replicaof", "127.0.0.1", &primary.port().to_string()]);
        crate::wait_until("the replica in sync", Duration::from_secs(20), || {
            info_field(&replica.cli(&["INFO", "replication"]), "master_link_status").as_deref() == Some("up")
        });
        let conf = format!(
            "sentinel monitor {name} 127.0.0.1 {port} 2\n\
             sentinel down-after-milliseconds {name} {down_after_ms}\n\
             sentinel failover-timeout {name} {failover}\n\
             sentinel parallel-syncs {name} 1\n",
            port = primary.port(),
            failover = down_after_ms * 4,
        );
        let sentinels: Vec<Redis> = (0..3).map(|_| Redis::start_sentinel(&conf)).collect();
        let group = SentinelGroup { primary, replica, sentinels, name: name.to_string() };
        // Sentinels find each other and the replica through the primary, every 2 s or so; a
        // failover needs both.
        crate::wait_until("three sentinels that know each other and the replica", Duration::from_secs(30), || {
            group.sentinels.iter().all(|s| {
                let master = s.cli(&["SENTINEL", "MASTER", name]);
                let fields: Vec<&str> = master.lines().collect();
                let value = |key: &str| fields.iter().position(|l| *l == key).and_then(|i| fields.get(i + 1)).copied();
                value("num-other-sentinels") == Some("2") && value("num-slaves") == Some("1")
            })
        });
        group
    }

    /// `HOST:PORT,...` of the sentinels, for `--sentinels`.
    pub fn addrs(&self) -> String {
        self.sentinels.iter().map(Redis::addr).collect::<Vec<_>>().join(",")
    }

    /// The port of the primary the sentinels name now (asked of the first one that answers).
    pub fn primary_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let reply = s.cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &self.name]);
            reply.lines().nth(1).and_then(|p| p.trim().parse().ok())
        })
    }
}
