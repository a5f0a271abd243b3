//! Following the primary that Redis Sentinel names, across failovers, without a restart.
//!
//! The crate's `SentinelClient` answers "which server is the primary now" (it asks the sentinels
//! in turn and checks that the server it names says `ROLE master`); it does not notice when that
//! changes. [`SentinelConn`] keeps one multiplexed connection to the primary it was told about and
//! forgets it on the first transient error (the primary died, froze past the timeout, or came back
//! as a replica and answers `READONLY`); the next call asks the sentinels again. While they still
//! name a dead primary, or none, calls fail (UNAVAILABLE); once they name the promoted replica,
//! calls reach it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, Cmd, RedisFuture, RedisResult, Value};

use crate::redis_conn::transient;

/// A connection to the current primary. Clones share it.
#[derive(Clone)]
pub struct SentinelConn(Arc<Inner>);

struct Inner {
    /// Asking the sentinels takes `&mut`: one lookup at a time, the others wait for its answer.
    sentinel: tokio::sync::Mutex<SentinelClient>,
    primary: Mutex<Option<MultiplexedConnection>>,
    config: AsyncConnectionConfig,
}

impl SentinelConn {
    /// `timeout` is the store's deadline per call. The connection's own timeouts are shorter, so
    /// that a primary that stopped answering fails here (and is forgotten) before the store's
    /// deadline drops the call.
    pub fn new(client: SentinelClient, timeout: Duration) -> SentinelConn {
        let own = timeout.mul_f64(0.75).max(Duration::from_millis(1));
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(own))
            .set_response_timeout(Some(own));
        SentinelConn(Arc::new(Inner {
            sentinel: tokio::sync::Mutex::new(client),
            primary: Mutex::new(None),
            config,
        }))
    }

    fn known(&self) -> Option<MultiplexedConnection> {
        self.0.primary.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn remember(&self, conn: Option<MultiplexedConnection>) {
        *self.0.primary.lock().unwrap_or_else(PoisonError::into_inner) = conn;
    }

    /// The primary's connection: the one known, else a new one to the server the sentinels name.
    async fn primary(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(conn) = self.known() {
            return Ok(conn);
        }
        let mut sentinel = self.0.sentinel.lock().await;
        // Another call may have asked while this one waited for the lock.
        if let Some(conn) = self.known() {
            return Ok(conn);
        }
        let client = sentinel.async_get_client().await?;
        let conn = client.get_multiplexed_async_connection_with_config(&self.0.config).await?;
        self.remember(Some(conn.clone()));
        Ok(conn)
    }

    /// Passes a reply on; after a transient error, the next call asks the sentinels again.
    fn checked<T>(&self, reply: RedisResult<T>) -> RedisResult<T> {
        if let Err(e) = &reply {
            if transient(e) {
                self.remember(None);
            }
        }
        reply
    }
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut conn = self.checked(self.primary().await)?;
            let reply = conn.req_packed_command(cmd).await;
            self.checked(reply)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut conn = self.checked(self.primary().await)?;
            let reply = conn.req_packed_commands(pipeline, offset, count).await;
            self.checked(reply)
        })
    }

    fn get_db(&self) -> i64 {
        self.known().map_or(0, |c| c.get_db())
    }
}
