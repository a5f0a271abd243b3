//! In-process backend: a map bounded by `--max-sessions`, ordered by expiry.
//!
//! Each entry sits in a second, ordered index keyed by (expiry instant, touch sequence), so purging
//! expired sessions and evicting the session closest to expiry are both O(log n). With equal idle
//! timeouts, "closest to expiry" is "least recently used".

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::{next_version, PutOutcome, Stored};

struct Entry {
    jar: Vec<u8>,
    version: u64,
    idle: Duration,
    /// Key of this entry in `Inner::by_expiry`.
    slot: (Instant, u64),
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Entry>,
    by_expiry: BTreeMap<(Instant, u64), String>,
    next_seq: u64,
    evictions: u64,
}

impl Inner {
    fn slot(&mut self, now: Instant, idle: Duration) -> (Instant, u64) {
        self.next_seq = self.next_seq.wrapping_add(1);
        // An unrepresentable expiry (absurd idle timeout) expires at once rather than panicking.
        (now.checked_add(idle).unwrap_or(now), self.next_seq)
    }

    /// Drops every session whose expiry is not after `now`. Returns how many.
    fn purge_expired(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let id = entry.remove();
            self.map.remove(&id);
            n += 1;
        }
        n
    }
}

/// Sessions in this process.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_sessions: usize,
}

impl MemoryStore {
    pub fn new(max_sessions: usize) -> Self {
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            max_sessions: max_sessions.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that matters
        // more than refusing service would, so a poisoned lock is used as is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, session_id: &str) -> Option<Stored> {
        self.get_at(session_id, Instant::now())
    }

    fn get_at(&self, session_id: &str, now: Instant) -> Option<Stored> {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.purge_expired(now);
        let idle = inner.map.get(session_id)?.idle;
        let new_slot = inner.slot(now, idle);
        let entry = inner.map.get_mut(session_id)?;
        let old_slot = std::mem::replace(&mut entry.slot, new_slot);
        let out = Stored {
            jar: entry.jar.clone(),
            version: entry.version,
        };
        inner.by_expiry.remove(&old_slot);
        inner.by_expiry.insert(new_slot, session_id.to_owned());
        Some(out)
    }

    pub fn put(
        &self,
        session_id: &str,
        jar: Vec<u8>,
        idle: Duration,
        expected_version: u64,
    ) -> PutOutcome {
        self.put_at(session_id, jar, idle, expected_version, Instant::now())
    }

    fn put_at(
        &self,
        session_id: &str,
        jar: Vec<u8>,
        idle: Duration,
        expected_version: u64,
        now: Instant,
    ) -> PutOutcome {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.purge_expired(now);
        let current = inner.map.get(session_id).map(|e| e.version);
        if expected_version != 0 && current != Some(expected_version) {
            return PutOutcome::Conflict(current.unwrap_or(0));
        }
        let version = next_version(current.unwrap_or(0));
        let slot = inner.slot(now, idle);
        if let Some(entry) = inner.map.get_mut(session_id) {
            let old_slot = std::mem::replace(&mut entry.slot, slot);
            entry.jar = jar;
            entry.version = version;
            entry.idle = idle;
            inner.by_expiry.remove(&old_slot);
        } else {
            while inner.map.len() >= self.max_sessions {
                let Some((_, victim)) = inner.by_expiry.pop_first() else {
                    break;
                };
                inner.map.remove(&victim);
                inner.evictions += 1;
            }
            inner.map.insert(
                session_id.to_owned(),
                Entry {
                    jar,
                    version,
                    idle,
                    slot,
                },
            );
        }
        inner.by_expiry.insert(slot, session_id.to_owned());
        PutOutcome::Stored(version)
    }

    pub fn delete(&self, session_id: &str) {
        let mut g = self.lock();
        if let Some(entry) = g.map.remove(session_id) {
            g.by_expiry.remove(&entry.slot);
        }
    }

    /// Drops expired sessions now (they are also dropped lazily on every call). Returns how many.
    pub fn purge_expired(&self) -> usize {
        self.lock().purge_expired(Instant::now())
    }

    /// Sessions held (expired ones not yet purged included).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sessions evicted so far because the store was full.
    pub fn evictions(&self) -> u64 {
        self.lock().evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn stored(o: PutOutcome) -> u64 {
        match o {
            PutOutcome::Stored(v) => v,
            PutOutcome::Conflict(v) => panic!("conflict at {v}"),
        }
    }

    #[test]
    fn put_get_delete() {
        let m = MemoryStore::new(10);
        assert_eq!(m.get("aa"), None);
        let v1 = stored(m.put("aa", b"jar".to_vec(), S * 60, 0));
        assert_eq!(
            m.get("aa"),
            Some(Stored {
                jar: b"jar".to_vec(),
                version: v1
            })
        );
        let v2 = stored(m.put("aa", b"jar2".to_vec(), S * 60, 0));
        assert!(v2 > v1);
        m.delete("aa");
        m.delete("aa");
        assert_eq!(m.get("aa"), None);
        assert!(m.is_empty());
    }

    #[test]
    fn compare_and_set() {
        let m = MemoryStore::new(10);
        assert_eq!(m.put("aa", vec![], S, 7), PutOutcome::Conflict(0));
        assert!(m.is_empty());
        let v1 = stored(m.put("aa", vec![1], S * 60, 0));
        let v2 = stored(m.put("aa", vec![2], S * 60, v1));
        assert_eq!(m.put("aa", vec![3], S * 60, v1), PutOutcome::Conflict(v2));
        assert_eq!(m.get("aa").map(|s| s.jar), Some(vec![2]));
    }

    #[test]
    fn idle_expiry_slides() {
        let m = MemoryStore::new(10);
        let t0 = Instant::now();
        stored(m.put_at("aa", vec![1], S * 10, 0, t0));
        assert!(m.get_at("aa", t0 + S * 9).is_some());
        // Each Get restarts the clock: alive at t0+18 (9 s after the last touch), gone at t0+29.
        assert!(m.get_at("aa", t0 + S * 18).is_some());
        assert!(m.get_at("aa", t0 + S * 29).is_none());
        assert!(m.is_empty());
    }

    #[test]
    fn full_store_evicts_closest_to_expiry() {
        let m = MemoryStore::new(2);
        let t0 = Instant::now();
        stored(m.put_at("01", vec![], S * 10, 0, t0));
        stored(m.put_at("02", vec![], S * 10, 0, t0 + S));
        // Touch 01: 02 is now the least recently used.
        assert!(m.get_at("01", t0 + S * 2).is_some());
        stored(m.put_at("03", vec![], S * 10, 0, t0 + S * 3));
        assert_eq!(m.len(), 2);
        assert_eq!(m.evictions(), 1);
        assert!(m.get_at("02", t0 + S * 3).is_none());
        assert!(m.get_at("01", t0 + S * 3).is_some());
        assert!(m.get_at("03", t0 + S * 3).is_some());
        // Overwriting an existing session never evicts.
        stored(m.put_at("03", vec![1], S * 10, 0, t0 + S * 4));
        assert_eq!(m.evictions(), 1);
    }

    #[test]
    fn expired_sessions_free_room_before_eviction() {
        let m = MemoryStore::new(1);
        let t0 = Instant::now();
        stored(m.put_at("01", vec![], S, 0, t0));
        stored(m.put_at("02", vec![], S, 0, t0 + S * 5));
        assert_eq!(m.evictions(), 0);
    }
}
