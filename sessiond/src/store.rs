//! The storage interface the gRPC service uses, and what is common to its backends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::memory::MemoryStore;
use crate::pb::MAX_SESSION_ID_BYTES;
use crate::redis_store::RedisStore;

/// A session as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub jar: Vec<u8>,
    pub version: u64,
}

/// What a Put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// Written; the session's new version.
    Stored(u64),
    /// Compare-and-set lost: nothing changed. The session's current version, 0 when absent.
    Conflict(u64),
}

/// Why a backend call failed. The texts never contain a session id or a jar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The backend could not be reached or did not answer in time: worth retrying later.
    Unavailable(String),
    /// The backend answered something unexpected.
    Internal(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(m) => write!(f, "backend unavailable: {m}"),
            StoreError::Internal(m) => write!(f, "backend error: {m}"),
        }
    }
}

impl From<StoreError> for tonic::Status {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => tonic::Status::unavailable(m),
            StoreError::Internal(m) => tonic::Status::internal(m),
        }
    }
}

/// The configured backend.
pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Store {
    /// Reads a session and restarts its idle clock. `None` when absent or expired.
    pub async fn get(&self, session_id: &str) -> Result<Option<Stored>, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.get(session_id)),
            Store::Redis(r) => r.get(session_id).await,
        }
    }

    /// Writes a session (unconditionally when `expected_version` is 0, else compare-and-set) and
    /// restarts its idle clock with `idle`.
    pub async fn put(
        &self,
        session_id: &str,
        jar: Vec<u8>,
        idle: Duration,
        expected_version: u64,
    ) -> Result<PutOutcome, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.put(session_id, jar, idle, expected_version)),
            Store::Redis(r) => r.put(session_id, jar, idle, expected_version).await,
        }
    }

    /// Removes a session; absent is fine.
    pub async fn delete(&self, session_id: &str) -> Result<(), StoreError> {
        match self {
            Store::Memory(m) => {
                m.delete(session_id);
                Ok(())
            }
            Store::Redis(r) => r.delete(session_id).await,
        }
    }

    /// Whether the backend answers now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(r) => r.ping().await,
        }
    }
}

/// The version a write gives a session whose version was `current` (0 when absent):
/// `max(current + 1, now in microseconds since 1970)`.
///
/// Versions only grow, and a session that is deleted (or expires) and written again starts from
/// the clock rather than from 1, so a compare-and-set that read the old incarnation cannot match the
/// new one (no ABA) as long as clocks do not jump back. Values stay below 2^53 (exact in Redis's
/// Lua numbers) until the year 2255.
pub fn next_version(current: u64) -> u64 {
    current.saturating_add(1).max(clock_micros())
}

/// Microseconds since 1970 by the wall clock, at least 1.
pub fn clock_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(1)
        .max(1)
}

/// A session id is 1 to 64 bytes of lowercase hex.
pub fn valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SESSION_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids() {
        assert!(valid_session_id("0123456789abcdef0123456789abcdef"));
        assert!(valid_session_id(&"a".repeat(64)));
        assert!(!valid_session_id(&"a".repeat(65)));
        assert!(!valid_session_id(""));
        assert!(!valid_session_id("ABCDEF"));
        assert!(!valid_session_id("abc:def"));
        assert!(!valid_session_id("abcdeg"));
        assert!(!valid_session_id("é"));
    }

    #[test]
    fn versions_grow() {
        let a = next_version(0);
        assert!(a > 1_600_000_000_000_000);
        assert!(next_version(a) > a);
        assert_eq!(next_version(u64::MAX - 1), u64::MAX);
        assert!(next_version(u64::MAX) == u64::MAX);
    }
}
