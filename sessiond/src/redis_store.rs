//! Redis backend.
//!
//! Layout: one hash per session at `<key prefix><session id>` with fields `v` (version, decimal),
//! `j` (the jar bytes) and `t` (idle timeout, seconds). The key's Redis TTL is the idle timeout, so
//! Redis itself drops idle sessions; Get and Put reset the TTL (sliding expiry). Get and Put are
//! small Lua scripts so that read-and-refresh and compare-and-set are atomic. Each script touches
//! exactly one key, passed in KEYS, so the layout also works on Redis Cluster.
//!
//! Connections: a [`Conn`] (crate::redis_conn) to one server, a Redis Cluster or the primary
//! Sentinel names; the scripts are the same on each. Every call is bounded by
//! `--redis-timeout-ms`: when Redis is down, slow or failing over, the call fails with UNAVAILABLE
//! instead of waiting, and the next calls find the new connection (or the new primary) once one
//! answers.
//!
//! Durability: Redis replicates asynchronously, so a primary that dies can take its last
//! acknowledged writes with it. With `--redis-wait-replicas N` a Put is acknowledged only once
//! `WAIT` says N replicas have it (within the same deadline); see sessiond/README.md.

use std::time::Duration;

use redis::{RedisError, Script};

use crate::redis_conn::{transient, Conn};
use crate::store::{clock_micros, PutOutcome, StoreError, Stored};

/// KEYS[1] = session key. Returns nil when absent, else {version, jar}; refreshes the TTL.
const GET_SCRIPT: &str = r#"
local r = redis.call('HMGET', KEYS[1], 'v', 'j', 't')
if not r[1] then
  return false
end
local ttl = tonumber(r[3])
if ttl and ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
end
return {r[1], r[2] or ''}
"#;

/// KEYS[1] = session key; ARGV = jar, idle seconds, expected version (decimal, "0" =
/// unconditional), clock in microseconds. Returns {1, new version} or {0, current version or 0}.
const PUT_SCRIPT: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[3] ~= '0' and cur ~= ARGV[3] then
  if cur then
    return {0, tonumber(cur)}
  end
  return {0, 0}
end
local nv = tonumber(ARGV[4])
if cur and tonumber(cur) + 1 > nv then
  nv = tonumber(cur) + 1
end
local nvs = string.format('%d', nv)
redis.call('HSET', KEYS[1], 'v', nvs, 'j', ARGV[1], 't', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {1, nv}
"#;

/// Sessions in Redis.
pub struct RedisStore {
    conn: Conn,
    prefix: String,
    timeout: Duration,
    /// Replicas that must confirm a write before a Put is acknowledged (0: none).
    wait_replicas: u32,
    get_script: Script,
    put_script: Script,
}

impl RedisStore {
    pub fn new(conn: Conn, prefix: &str, timeout: Duration, wait_replicas: u32) -> Self {
        RedisStore {
            conn,
            prefix: prefix.to_owned(),
            timeout,
            wait_replicas,
            get_script: Script::new(GET_SCRIPT),
            put_script: Script::new(PUT_SCRIPT),
        }
    }

    fn key(&self, session_id: &str) -> String {
        format!("{}{}", self.prefix, session_id)
    }

    async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis did not answer within {} ms",
                self.timeout.as_millis()
            ))),
            Ok(Err(e)) => Err(map_error(&e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    pub async fn get(&self, session_id: &str) -> Result<Option<Stored>, StoreError> {
        let key = self.key(session_id);
        let mut conn = self.conn.clone();
        let inv = self.get_script.key(&key);
        let found: Option<(u64, Vec<u8>)> = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(found.map(|(version, jar)| Stored { jar, version }))
    }

    pub async fn put(
        &self,
        session_id: &str,
        jar: Vec<u8>,
        idle: Duration,
        expected_version: u64,
    ) -> Result<PutOutcome, StoreError> {
        let key = self.key(session_id);
        let idle_secs = idle.as_secs().max(1);
        let mut conn = self.conn.clone();
        let mut inv = self.put_script.key(&key);
        inv.arg(jar)
            .arg(idle_secs)
            .arg(expected_version)
            .arg(clock_micros());
        let written = async {
            let (stored, version): (i64, u64) = inv.invoke_async(&mut conn).await?;
            let confirmed = match (stored, self.wait_replicas) {
                // WAIT gets half the deadline, so that it answers (with the count) before the
                // connection's reply timeout takes it for a dead server.
                (1, n) if n > 0 => conn.wait(&key, n, self.timeout / 2).await?,
                _ => 0,
            };
            Ok((stored, version, confirmed))
        };
        let (stored, version, confirmed) = self.bounded(written).await?;
        if stored != 1 {
            return Ok(PutOutcome::Conflict(version));
        }
        if confirmed < i64::from(self.wait_replicas) {
            return Err(StoreError::Unavailable(format!(
                "written on the primary, but {confirmed} of the {} replicas asked for confirmed it within {} ms",
                self.wait_replicas,
                self.timeout.as_millis()
            )));
        }
        Ok(PutOutcome::Stored(version))
    }

    pub async fn delete(&self, session_id: &str) -> Result<(), StoreError> {
        let key = self.key(session_id);
        let mut conn = self.conn.clone();
        let _: i64 = self
            .bounded(redis::cmd("DEL").arg(&key).query_async(&mut conn))
            .await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        self.bounded(conn.ping()).await
    }
}

/// Transient failures (see [`transient`]) are UNAVAILABLE; anything else (a reply this code does not understand, a foreign value at our key) is INTERNAL.
fn map_error(e: &RedisError) -> StoreError {
    // Redis error texts carry no command arguments, so no session id or jar can leak here.
    let msg = format!("redis: {e}");
    if transient(e) {
        StoreError::Unavailable(msg)
    } else {
        StoreError::Internal(msg)
    }
}
