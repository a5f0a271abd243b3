//! Command line flags and their environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Where jars are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// In this process: fast, lost on restart, not shared between replicas of the service.
    Memory,
    /// In one Redis server (--redis-url): shared by every replica of the service, expired by Redis
    /// itself.
    Redis,
    /// In a Redis Cluster (--redis-nodes): the same, sharded over its primaries, each with
    /// replicas that take over when it fails.
    RedisCluster,
    /// In the Redis primary that Sentinel names (--sentinels, --sentinel-master): the same, and
    /// the service follows Sentinel to the new primary after a failover.
    RedisSentinel,
}

/// Which Redis deployment the Redis backends reach, checked from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server, by URL (which may carry the password).
    Single { url: String },
    /// Some nodes of a Redis Cluster (the client discovers the others).
    Cluster { nodes: Vec<(String, u16)> },
    /// Sentinels, and the name of the primary they watch.
    Sentinel { sentinels: Vec<(String, u16)>, master: String },
}

/// The flags of `cookieless-sessiond`. Every flag can also be set by the environment variable named
/// in `--help`; a flag on the command line wins.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "cookieless-sessiond",
    version,
    about = "gRPC session service for the cookieless Envoy filter (service cookieless.session.v1.SessionStore)",
    long_about = "gRPC session service for the cookieless Envoy filter.\n\n\
        Keeps each browser session's cookie jar (opaque bytes) keyed by session id, in memory or in \
        Redis, and serves cookieless.session.v1.SessionStore (Get, Put, Delete) plus the standard \
        grpc.health.v1.Health service over plain HTTP/2 (put it behind an Envoy cluster with \
        http2_protocol_options). Sessions expire after an idle timeout that every Get and Put \
        restarts. Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) to change the level. \
        Jars and session ids are never logged. SIGINT or SIGTERM stops it gracefully."
)]
pub struct Args {
    /// Address and port to serve gRPC on (plain HTTP/2, no TLS). Port 0 picks a free port; the
    /// log says which.
    #[arg(
        long,
        env = "COOKIELESS_SESSIOND_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    pub listen: SocketAddr,

    /// Where jars are kept: `memory` (this process only; lost on restart), `redis` (one Redis
    /// server, shared by all replicas; see --redis-url), `redis-cluster` (see --redis-nodes) or
    /// `redis-sentinel` (see --sentinels, --sentinel-master).
    #[arg(
        long,
        value_enum,
        env = "COOKIELESS_SESSIOND_BACKEND",
        default_value = "memory"
    )]
    pub backend: BackendKind,

    /// Redis to use with --backend redis: redis://[[USER]:PASSWORD@]HOST:PORT[/DB] (this build has
    /// no TLS: rediss:// is refused). Never logged (it may hold a password).
    #[arg(
        long,
        env = "COOKIELESS_SESSIOND_REDIS_URL",
        default_value = "redis://127.0.0.1:6379/",
        hide_env_values = true
    )]
    pub redis_url: String,

    /// Redis Cluster nodes to start from with --backend redis-cluster, as HOST:PORT,HOST:PORT,...
    /// (a few are enough: the client discovers the rest and follows failovers). No TLS in this
    /// build.
    #[arg(long, env = "COOKIELESS_SESSIOND_REDIS_NODES", value_delimiter = ',')]
    pub redis_nodes: Vec<String>,

    /// Sentinels to ask for the primary with --backend redis-sentinel, as HOST:PORT,HOST:PORT,...
    #[arg(long, env = "COOKIELESS_SESSIOND_SENTINELS", value_delimiter = ',')]
    pub sentinels: Vec<String>,

    /// The name the sentinels know the primary by (their `sentinel monitor NAME ...`).
    #[arg(long, env = "COOKIELESS_SESSIOND_SENTINEL_MASTER")]
    pub sentinel_master: Option<String>,

    /// Username (Redis ACL) for the data nodes of --backend redis-cluster and redis-sentinel
    /// (--backend redis takes it from --redis-url).
    #[arg(long, env = "COOKIELESS_SESSIOND_REDIS_USERNAME")]
    pub redis_username: Option<String>,

    /// Password for the data nodes of --backend redis-cluster and redis-sentinel. Never logged.
    #[arg(long, env = "COOKIELESS_SESSIOND_REDIS_PASSWORD", hide_env_values = true)]
    pub redis_password: Option<String>,

    /// Password of the sentinels themselves (their `requirepass`), when they have one. Never
    /// logged.
    #[arg(long, env = "COOKIELESS_SESSIOND_SENTINEL_PASSWORD", hide_env_values = true)]
    pub sentinel_password: Option<String>,

    /// Redis backends: after each write, wait (Redis WAIT, within --redis-timeout-ms) until this
    /// many replicas of the primary have it; if fewer confirm in time, the Put answers
    /// UNAVAILABLE (the write may still be on the primary). 0: answer as soon as the primary has
    /// it (a failover can then lose the last writes; see sessiond/README.md).
    #[arg(long, env = "COOKIELESS_SESSIOND_REDIS_WAIT_REPLICAS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=16))]
    pub redis_wait_replicas: u32,

    /// Prefix of every Redis key this service writes (key = prefix + session id). Lets several
    /// deployments share one Redis.
    #[arg(
        long,
        env = "COOKIELESS_SESSIOND_KEY_PREFIX",
        default_value = "cookieless:"
    )]
    pub key_prefix: String,

    /// Memory backend only: at most this many sessions are kept. When full, a new session evicts
    /// the one closest to expiry (the least recently used, at equal idle timeouts) among those
    /// never resumed since they were written: sessions a Get found are protected (up to 80%).
    #[arg(long, env = "COOKIELESS_SESSIOND_MAX_SESSIONS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_sessions: u64,

    /// Redis backend only: each call gets this long (milliseconds) to reach Redis and get its
    /// answer; past it the call fails with UNAVAILABLE. Also bounds each connection attempt.
    #[arg(long, env = "COOKIELESS_SESSIOND_REDIS_TIMEOUT_MS", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub redis_timeout_ms: u64,

    /// Idle timeout (seconds) of a session whose Put says idle_timeout_seconds = 0.
    #[arg(long, env = "COOKIELESS_SESSIOND_DEFAULT_IDLE_TIMEOUT_SECONDS", default_value_t = 1800,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub default_idle_timeout_seconds: u32,

    /// Largest idle timeout (seconds) a Put may ask for; larger requests are lowered to it.
    #[arg(long, env = "COOKIELESS_SESSIOND_MAX_IDLE_TIMEOUT_SECONDS", default_value_t = 604_800,
          value_parser = clap::value_parser!(u32).range(1..=315_360_000))]
    pub max_idle_timeout_seconds: u32,

    /// On SIGINT/SIGTERM, wait at most this long (milliseconds) for calls in flight before exiting.
    #[arg(
        long,
        env = "COOKIELESS_SESSIOND_SHUTDOWN_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub shutdown_timeout_ms: u64,
}

impl Args {
    /// Checks what clap cannot check flag by flag.
    pub fn validate(&self) -> Result<(), String> {
        if self.default_idle_timeout_seconds > self.max_idle_timeout_seconds {
            return Err(format!(
                "--default-idle-timeout-seconds ({}) is larger than --max-idle-timeout-seconds ({})",
                self.default_idle_timeout_seconds, self.max_idle_timeout_seconds
            ));
        }
        self.redis_target().map(|_| ())
    }

    /// The Redis deployment the flags name; `None` for the memory backend.
    pub fn redis_target(&self) -> Result<Option<RedisTarget>, String> {
        Ok(Some(match self.backend {
            BackendKind::Memory => return Ok(None),
            BackendKind::Redis => RedisTarget::Single { url: self.redis_url.clone() },
            BackendKind::RedisCluster => RedisTarget::Cluster {
                nodes: host_ports("--redis-nodes", &self.redis_nodes)?,
            },
            BackendKind::RedisSentinel => RedisTarget::Sentinel {
                sentinels: host_ports("--sentinels", &self.sentinels)?,
                master: match self.sentinel_master.as_deref() {
                    Some(name) if !name.is_empty() => name.to_owned(),
                    _ => return Err("--sentinel-master: missing (the name the sentinels monitor)".into()),
                },
            },
        }))
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }

    /// The idle timeout a Put asking for `requested` seconds gets.
    pub fn effective_idle_timeout(&self, requested: u32) -> Duration {
        let secs = match requested {
            0 => self.default_idle_timeout_seconds,
            n => n.min(self.max_idle_timeout_seconds),
        };
        Duration::from_secs(u64::from(secs))
    }
}

/// A non-empty list of HOST:PORT, for the flag `flag`.
fn host_ports(flag: &str, items: &[String]) -> Result<Vec<(String, u16)>, String> {
    if items.iter().all(|i| i.trim().is_empty()) {
        return Err(format!("{flag}: missing (HOST:PORT,HOST:PORT,...)"));
    }
    items
        .iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty())
        .map(|item| host_port(item).map_err(|why| format!("{flag}: {why}")))
        .collect()
}

fn host_port(item: &str) -> Result<(String, u16), String> {
    if item.starts_with("rediss://") {
        return Err("this build has no TLS (rediss://); give HOST:PORT of a plain-TCP port".into());
    }
    let (host, port) = item
        .rsplit_once(':')
        .ok_or_else(|| format!("`{item}` is not HOST:PORT"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match port.parse::<u16>() {
        Ok(port) if port > 0 && !host.is_empty() && !host.contains('/') => Ok((host.to_owned(), port)),
        _ => Err(format!("`{item}` is not HOST:PORT")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn idle_timeout_defaults_and_clamps() {
        let a = Args::parse_from([
            "x",
            "--default-idle-timeout-seconds",
            "60",
            "--max-idle-timeout-seconds",
            "100",
        ]);
        assert_eq!(a.effective_idle_timeout(0), Duration::from_secs(60));
        assert_eq!(a.effective_idle_timeout(5), Duration::from_secs(5));
        assert_eq!(a.effective_idle_timeout(1000), Duration::from_secs(100));
        assert!(a.validate().is_ok());
        let b = Args::parse_from([
            "x",
            "--default-idle-timeout-seconds",
            "200",
            "--max-idle-timeout-seconds",
            "100",
        ]);
        assert!(b.validate().is_err());
    }

    #[test]
    fn cluster_and_sentinel_flags() {
        let c = Args::parse_from(["x", "--backend", "redis-cluster", "--redis-nodes", "10.0.0.1:7000, node-b:7001"]);
        let nodes = vec![("10.0.0.1".to_owned(), 7000), ("node-b".to_owned(), 7001)];
        assert_eq!(c.redis_target(), Ok(Some(RedisTarget::Cluster { nodes })));
        let s = Args::parse_from(["x", "--backend", "redis-sentinel", "--sentinels", "[::1]:26379", "--sentinel-master", "m"]);
        let sentinels = vec![("::1".to_owned(), 26379)];
        assert_eq!(s.redis_target(), Ok(Some(RedisTarget::Sentinel { sentinels, master: "m".into() })));
        let refused = |args: &[&str], field: &str| {
            let a = Args::parse_from(std::iter::once("x").chain(args.iter().copied()));
            let e = a.validate().unwrap_err();
            assert!(e.starts_with(field), "{args:?}: {e}");
        };
        refused(&["--backend", "redis-cluster"], "--redis-nodes: missing");
        refused(&["--backend", "redis-cluster", "--redis-nodes", "host"], "--redis-nodes: `host` is not");
        refused(&["--backend", "redis-cluster", "--redis-nodes", "h:0"], "--redis-nodes: `h:0` is not");
        refused(&["--backend", "redis-cluster", "--redis-nodes", "rediss://h:7000"], "--redis-nodes: this build has no TLS");
        refused(&["--backend", "redis-sentinel", "--sentinels", "h:1"], "--sentinel-master: missing");
        refused(&["--backend", "redis-sentinel", "--sentinel-master", "m"], "--sentinels: missing");
        assert_eq!(Args::parse_from(["x"]).redis_target(), Ok(None));
    }
}
