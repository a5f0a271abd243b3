//! Session jars in Envoy's shared data, visible to every worker of the process.
//!
//! Shared data has no TTL, no eviction and no key listing, so memory is bounded by design: a fixed
//! table of buckets (one shared-data key each, created on first use), each holding at most
//! `BUCKET_SLOTS` sessions. A session lives in the bucket its (random) id hashes to. A full bucket
//! evicts an idle session first, else the least recently used one. Writes use compare-and-set and
//! retry, so concurrent workers never lose an update.

use super::{Loaded, StoreError};
use crate::cookies::JarChange;
use crate::host::{Host, SharedDataError};
use crate::jar::Jar;
use crate::metrics::Metric;
use crate::token::SessionId;

pub const BUCKET_SLOTS: usize = 4;
const MAX_CAS_ATTEMPTS: usize = 16;

pub struct SharedDataStore {
    buckets: u64,
    idle_timeout_seconds: u64,
    /// A changed `max_sessions` means another table layout: keep it apart.
    key_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    id: [u8; 16],
    last_seen: u64,
    jar: Vec<u8>,
}

impl SharedDataStore {
    pub fn new(max_sessions: u32, idle_timeout_seconds: u32) -> SharedDataStore {
        let buckets = u64::from(max_sessions).div_ceil(BUCKET_SLOTS as u64).max(1);
        SharedDataStore {
            buckets,
            idle_timeout_seconds: u64::from(idle_timeout_seconds),
            key_prefix: format!("cookieless/v1/{max_sessions}/"),
        }
    }

    fn bucket_key(&self, id: &SessionId) -> String {
        let mut first = [0u8; 8];
        first.copy_from_slice(id.0.get(..8).unwrap_or(&[0; 8]));
        format!("{}{}", self.key_prefix, u64::from_le_bytes(first) % self.buckets)
    }

    fn is_idle(&self, entry: &Entry, now: u64) -> bool {
        now >= entry.last_seen.saturating_add(self.idle_timeout_seconds)
    }

    /// Reads a bucket, lets `change` edit its entries, and writes it back with CAS, retrying
    /// from a fresh read when another worker wrote in between.
    fn modify<T>(
        &self,
        host: &dyn Host,
        id: &SessionId,
        mut change: impl FnMut(&mut Vec<Entry>) -> Result<(T, bool), StoreError>,
    ) -> Result<T, StoreError> {
        let key = self.bucket_key(id);
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (bytes, cas) = host.shared_data(&key);
            let mut entries = bytes.as_deref().map(decode_bucket).unwrap_or_default();
            let (result, dirty) = change(&mut entries)?;
            if !dirty {
                return Ok(result);
            }
            match host.set_shared_data(&key, &encode_bucket(&entries), cas) {
                Ok(()) => return Ok(result),
                Err(SharedDataError::CasMismatch) => continue,
                Err(SharedDataError::Failed) => return Err(StoreError::Unavailable),
            }
        }
        Err(StoreError::Contended)
    }

    /// Makes room for one more entry: idle entries go first, then the least recently used.
    fn make_room(&self, host: &dyn Host, entries: &mut Vec<Entry>, now: u64) {
        entries.retain(|e| !self.is_idle(e, now));
        while entries.len() >= BUCKET_SLOTS {
            let oldest = entries.iter().enumerate().min_by_key(|(_, e)| e.last_seen).map(|(i, _)| i);
            if let Some(i) = oldest {
                entries.remove(i);
                host.count(Metric::StoreEvictions);
            }
        }
    }
}

impl SharedDataStore {
    pub fn load(&self, host: &dyn Host, id: SessionId) -> Result<Loaded, StoreError> {
        let now = host.now();
        self.modify(host, &id, |entries| {
            let Some(pos) = entries.iter().position(|e| e.id == id.0) else {
                return Ok((Loaded::Missing, false));
            };
            let Some(entry) = entries.get_mut(pos) else {
                return Ok((Loaded::Missing, false));
            };
            if self.is_idle(entry, now) {
                entries.remove(pos);
                return Ok((Loaded::Expired, true));
            }
            let jar = Jar::decode(&entry.jar).ok_or(StoreError::Corrupt)?;
            // Touch at most once a second: a read need not be a write.
            let touch = entry.last_seen < now;
            entry.last_seen = now;
            Ok((Loaded::Found(jar), touch))
        })
    }

    pub fn update(&self, host: &dyn Host, id: SessionId, changes: &[JarChange]) -> Result<Jar, StoreError> {
        let now = host.now();
        self.modify(host, &id, |entries| {
            let current = entries.iter().find(|e| e.id == id.0 && !self.is_idle(e, now));
            let stored = match current {
                Some(entry) => Jar::decode(&entry.jar).ok_or(StoreError::Corrupt)?,
                None => Jar::default(),
            };
            let (jar, changed) = Jar::merge(stored, changes);
            // An app that sends the same cookies again on every page changes nothing: no write,
            // unless the entry's last-seen time is due (as in `load`).
            if !changed && current.is_some_and(|e| e.last_seen >= now) {
                return Ok((jar, false));
            }
            if !jar.fits() {
                return Err(StoreError::TooLarge);
            }
            entries.retain(|e| e.id != id.0);
            if !jar.is_empty() {
                self.make_room(host, entries, now);
                entries.push(Entry { id: id.0, last_seen: now, jar: jar.encode() });
            }
            Ok((jar, true))
        })
    }
}

/// Layout: per entry, 16 bytes id, 8 bytes last-seen (LE), 4 bytes jar length (LE), the jar.
fn encode_bucket(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| 28 + e.jar.len()).sum());
    for e in entries {
        out.extend_from_slice(&e.id);
        out.extend_from_slice(&e.last_seen.to_le_bytes());
        out.extend_from_slice(&u32::try_from(e.jar.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&e.jar);
    }
    out
}

/// A damaged bucket decodes to the entries before the damage: losing sessions beats a crash.
fn decode_bucket(mut bytes: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    while let Some((entry, rest)) = decode_entry(bytes) {
        entries.push(entry);
        bytes = rest;
    }
    entries
}

fn decode_entry(bytes: &[u8]) -> Option<(Entry, &[u8])> {
    let (id, rest) = bytes.split_first_chunk::<16>()?;
    let (last_seen, rest) = rest.split_first_chunk::<8>()?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    let (jar, rest) = rest.split_at_checked(len)?;
    Some((Entry { id: *id, last_seen: u64::from_le_bytes(*last_seen), jar: jar.to_vec() }, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::mock::MockHost;

    fn id(n: u8) -> SessionId {
        SessionId([n; 16])
    }

    fn set(name: &str, value: &str) -> JarChange {
        JarChange::set(name, value)
    }

    fn host_at(now: u64) -> MockHost {
        MockHost { now, ..Default::default() }
    }

    #[test]
    fn update_then_load_round_trips() {
        let store = SharedDataStore::new(100, 60);
        let host = host_at(1000);
        assert_eq!(store.load(&host, id(1)).unwrap(), Loaded::Missing);
        let jar = store.update(&host, id(1), &[set("sessionid", "s")]).unwrap();
        assert_eq!(jar.get("sessionid"), Some("s"));
        assert_eq!(store.load(&host, id(1)).unwrap(), Loaded::Found(jar));
    }

    #[test]
    fn the_same_cookies_again_are_not_written_again_within_the_second() {
        let store = SharedDataStore::new(100, 60);
        let versions = |host: &MockHost| host.shared.map.borrow().values().map(|(_, v)| *v).sum::<u32>();
        let host = host_at(1000);
        store.update(&host, id(1), &[set("sessionid", "s")]).unwrap();
        let written = versions(&host);
        store.update(&host, id(1), &[set("sessionid", "s")]).unwrap();
        assert_eq!(versions(&host), written, "an unchanged jar was written again");
        store.update(&host, id(1), &[set("sessionid", "t")]).unwrap();
        assert_eq!(versions(&host), written + 1, "a changed jar must be written");
        let later = MockHost { now: 1001, shared: host.shared.clone(), ..Default::default() };
        store.update(&later, id(1), &[set("sessionid", "t")]).unwrap();
        assert_eq!(versions(&later), written + 2, "last-seen is due a second later");
        let Loaded::Found(jar) = store.load(&later, id(1)).unwrap() else { panic!("the session is gone") };
        assert_eq!(jar.get("sessionid"), Some("t"));
    }

    #[test]
    fn deleting_every_cookie_removes_the_session() {
        let store = SharedDataStore::new(100, 60);
        let host = host_at(1000);
        store.update(&host, id(1), &[set("a", "1")]).unwrap();
        store.update(&host, id(1), &[JarChange::delete("a")]).unwrap();
        assert_eq!(store.load(&host, id(1)).unwrap(), Loaded::Missing);
    }

    #[test]
    fn idle_sessions_expire_and_use_keeps_them_alive() {
        let store = SharedDataStore::new(100, 60);
        let mut host = host_at(1000);
        store.update(&host, id(1), &[set("a", "1")]).unwrap();
        host.now = 1050;
        assert!(matches!(store.load(&host, id(1)).unwrap(), Loaded::Found(_)));
        host.now = 1100;
        assert!(matches!(store.load(&host, id(1)).unwrap(), Loaded::Found(_)), "touched at 1050");
        host.now = 1160;
        assert_eq!(store.load(&host, id(1)).unwrap(), Loaded::Expired);
        assert_eq!(store.load(&host, id(1)).unwrap(), Loaded::Missing);
    }

    #[test]
    fn a_concurrent_write_is_retried_and_neither_write_is_lost() {
        let store = SharedDataStore::new(100, 60);
        let host = host_at(1000);
        store.update(&host, id(1), &[set("a", "1")]).unwrap();
        // Another worker adds a cookie to the same session between this update's read and write.
        *host.shared.competing.borrow_mut() = Some(Box::new(|shared| {
            let other = MockHost { now: 1000, shared: shared.clone(), ..Default::default() };
            SharedDataStore::new(100, 60).update(&other, id(1), &[set("c", "3")]).unwrap();
        }));
        store.update(&host, id(1), &[set("b", "2")]).unwrap();
        assert!(host.shared.competing.borrow().is_none(), "the competing write ran");
        let Loaded::Found(jar) = store.load(&host, id(1)).unwrap() else { panic!() };
        assert_eq!((jar.get("a"), jar.get("b"), jar.get("c")), (Some("1"), Some("2"), Some("3")));
    }

    #[test]
    fn endless_contention_gives_up_with_an_error() {
        let store = SharedDataStore::new(100, 60);
        let host = host_at(1000);
        *host.shared.conflicts.borrow_mut() = 1000;
        assert_eq!(store.update(&host, id(1), &[set("a", "1")]), Err(StoreError::Contended));
    }

    #[test]
    fn memory_is_bounded_by_max_sessions_and_evictions_are_counted() {
        let store = SharedDataStore::new(8, 3600);
        let mut host = host_at(1000);
        for n in 0..200u8 {
            host.now = 1000 + u64::from(n);
            let mut raw = [0u8; 16];
            raw[0] = n;
            raw[15] = n;
            store.update(&host, SessionId(raw), &[set("a", "1")]).unwrap();
        }
        let map = host.shared.map.borrow();
        assert!(map.len() <= 2, "two buckets for 8 sessions, got {}", map.len());
        let stored: usize = map.values().map(|(v, _)| decode_bucket(v).len()).sum();
        assert!(stored <= 8);
        assert_eq!(host.metric(Metric::StoreEvictions), 200 - stored as u64);
        drop(map);
        let mut newest = [0u8; 16];
        newest[0] = 199;
        newest[15] = 199;
        assert!(matches!(store.load(&host, SessionId(newest)).unwrap(), Loaded::Found(_)));
    }

    #[test]
    fn damaged_buckets_decode_to_what_is_intact() {
        let e = Entry { id: [1; 16], last_seen: 5, jar: b"a=1\n".to_vec() };
        let mut bytes = encode_bucket(std::slice::from_ref(&e));
        bytes.extend_from_slice(&[9; 20]);
        assert_eq!(decode_bucket(&bytes), vec![e]);
        assert!(decode_bucket(&[0xff; 3]).is_empty());
    }

    #[test]
    fn a_corrupt_jar_is_an_error_on_load_and_update() {
        let store = SharedDataStore::new(100, 60);
        let host = host_at(1000);
        store.update(&host, id(1), &[set("a", "1")]).unwrap();
        let key = store.bucket_key(&id(1));
        let bad = encode_bucket(&[Entry { id: id(1).0, last_seen: 1000, jar: vec![0xff, 0xfe] }]);
        host.shared.map.borrow_mut().insert(key, (bad, 99));
        assert_eq!(store.load(&host, id(1)), Err(StoreError::Corrupt));
        assert_eq!(store.update(&host, id(1), &[set("b", "2")]), Err(StoreError::Corrupt));
    }

    #[test]
    fn oversized_jars_are_refused() {
        let store = SharedDataStore::new(8, 60);
        let host = host_at(1000);
        let big = "x".repeat(crate::jar::MAX_JAR_BYTES + 1);
        assert_eq!(store.update(&host, id(1), &[set("a", &big)]), Err(StoreError::TooLarge));
    }
}
