//! Command line flags and their environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Where jars are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// In this process: fast, lost on restart, not shared between replicas of the service.
    Memory,
    /// In Redis: shared by every replica of the service, expired by Redis itself.
    Redis,
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

    /// Where jars are kept: `memory` (this process only; lost on restart) or `redis` (shared by all
    /// replicas; see --redis-url).
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
        Ok(())
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
}
