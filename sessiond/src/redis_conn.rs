//! How the Redis backend reaches Redis: one server (`--backend redis`), a Redis Cluster
//! (`redis-cluster`) or the primary that Sentinel names (`redis-sentinel`). All three are one
//! [`Conn`], a `redis::aio::ConnectionLike`, so the store runs the very same scripts on each.
//!
//! * One server: a `ConnectionManager` (one multiplexed connection, re-established in the
//!   background after an I/O error).
//! * Cluster: the crate's cluster-async client. It routes each script by the slot of its one key,
//!   follows `MOVED`/`ASK`, and refreshes its slot map when a node fails or moves slots, so a
//!   replica promoted by a failover is found without help.
//! * Sentinel: [`SentinelConn`] (crate::sentinel), which asks the sentinels for the primary and
//!   asks again when the one it had stops answering or turns read-only.
//!
//! Every connection attempt and every reply is bounded by `--redis-timeout-ms`; the store bounds
//! the whole call by it too. No TLS in this build: `rediss://` is refused with a clear message.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::{Cmd, ConnectionAddr, RedisError, RedisFuture, RedisResult, RetryMethod, Value};

use crate::config::RedisTarget;
use crate::sentinel::SentinelConn;

/// Credentials of the data nodes (cluster nodes, the primary Sentinel names) and of the sentinels.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub sentinel_password: Option<String>,
}

/// A connection to whichever Redis deployment the flags name. Cheap to clone: clones share the
/// underlying connections.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(SentinelConn),
}

impl Conn {
    /// Prepares the client without connecting: the service starts (and answers UNAVAILABLE) even
    /// while Redis is down. Fails only on flags the client refuses (one line naming the flag).
    pub fn open(target: &RedisTarget, auth: &Auth, timeout: Duration) -> Result<Conn, String> {
        match target {
            RedisTarget::Single { url } => single(url, timeout),
            RedisTarget::Cluster { nodes } => cluster(nodes, auth, timeout),
            RedisTarget::Sentinel { sentinels, master } => sentinel(sentinels, master, auth, timeout),
        }
    }

    /// Redis `WAIT replicas timeout` on the primary that holds `key`: how many of its replicas
    /// have every write this connection made there.
    pub async fn wait(&mut self, key: &str, replicas: u32, timeout: Duration) -> RedisResult<i64> {
        let mut wait = redis::cmd("WAIT");
        wait.arg(replicas).arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        match self {
            // The cluster client would send WAIT to every primary; only the key's own counts.
            Conn::Cluster(c) => {
                let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                let reply = c
                    .route_command(wait, RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)))
                    .await?;
                redis::from_redis_value(reply).map_err(RedisError::from)
            }
            other => wait.query_async(other).await,
        }
    }
}

impl Conn {
    /// Whether Redis answers: the server, the primary Sentinel names, or on a Cluster every
    /// primary the slot map names (the cluster client's own PING would skip one it lost).
    pub async fn ping(&mut self) -> RedisResult<()> {
        let Conn::Cluster(cluster) = self else {
            let _: String = redis::cmd("PING").query_async(self).await?;
            return Ok(());
        };
        let slots: Vec<Vec<Value>> = redis::cmd("CLUSTER").arg("SLOTS").query_async(cluster).await?;
        for range in &slots {
            // [first slot, last slot, [primary host, port, id, ...], replicas...]
            let primary: Vec<Value> = range.get(2).map(redis::from_redis_value_ref).transpose()?.unwrap_or_default();
            let (Some(host), Some(port)) = (primary.first(), primary.get(1)) else {
                return Err(RedisError::from((redis::ErrorKind::Parse, "CLUSTER SLOTS: a range without its primary")));
            };
            let routing = SingleNodeRoutingInfo::ByAddress {
                host: redis::from_redis_value_ref(host)?,
                port: redis::from_redis_value_ref(port)?,
            };
            cluster.route_command(redis::cmd("PING"), RoutingInfo::SingleNode(routing)).await?;
        }
        Ok(())
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

/// Transient failures (connection, timeout, Redis loading, failover in progress, a primary that
/// turned replica) are worth retrying later: UNAVAILABLE, and for Sentinel a reason to ask again
/// which server is the primary.
pub fn transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || !matches!(e.retry_method(), RetryMethod::NoRetry)
}

fn single(url: &str, timeout: Duration) -> Result<Conn, String> {
    let client = redis::Client::open(url).map_err(|e| format!("invalid --redis-url: {e}"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        // Retry a failed (re)connection a few times, quickly; after that the next call starts
        // a new attempt, so recovery never waits on a long backoff.
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(20))
        .set_max_delay(timeout.max(Duration::from_millis(50)));
    let conn = ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| format!("cannot set up the Redis client: {e}"))?;
    Ok(Conn::Single(conn))
}

fn cluster(nodes: &[(String, u16)], auth: &Auth, timeout: Duration) -> Result<Conn, String> {
    let addrs = nodes.iter().map(|(host, port)| ConnectionAddr::Tcp(host.clone(), *port));
    let mut builder = ClusterClientBuilder::new(addrs)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        // A few quick retries (a MOVED during resharding, a node that just failed over); the
        // store's deadline cuts them short anyway.
        .retries(3)
        .min_retry_wait(10)
        .max_retry_wait(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(20));
    if let Some(user) = &auth.username {
        builder = builder.username(user);
    }
    if let Some(password) = &auth.password {
        builder = builder.password(password);
    }
    let client = builder
        .build()
        .map_err(|e| format!("--redis-nodes: cannot set up the cluster client: {e}"))?;
    let config = redis::cluster::ClusterConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout);
    Ok(Conn::Cluster(client.get_pending_async_connection_with_config(config)))
}

fn sentinel(sentinels: &[(String, u16)], master: &str, auth: &Auth, timeout: Duration) -> Result<Conn, String> {
    let addrs = sentinels.iter().map(|(host, port)| ConnectionAddr::Tcp(host.clone(), *port));
    let mut builder = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)
        .map_err(|e| format!("--sentinels: cannot set up the sentinel client: {e}"))?;
    if let Some(user) = &auth.username {
        builder = builder.set_client_to_redis_username(user);
    }
    if let Some(password) = &auth.password {
        builder = builder.set_client_to_redis_password(password);
    }
    if let Some(password) = &auth.sentinel_password {
        builder = builder.set_client_to_sentinel_password(password);
    }
    let client = builder
        .build()
        .map_err(|e| format!("--sentinels: cannot set up the sentinel client: {e}"))?;
    Ok(Conn::Sentinel(SentinelConn::new(client, timeout)))
}
