//! In-process backend: a map bounded by `--max-sessions`, evicting as a segmented LRU.
//!
//! The same policy as the filter's shared-data store, over the whole map instead of per bucket:
//! - a session starts on *probation* (written by a `Put`, never found by a `Get` since). The filter
//!   reads before it writes, so a one-shot session (one anonymous request that got a cookie) is a
//!   `Get` that finds nothing and one `Put`: it never leaves probation;
//! - a `Get` that finds a session on probation *promotes* it to the *protected* segment, which holds
//!   at most four fifths of `--max-sessions` (SLRU's usual 80/20). When that is exceeded, the
//!   protected session closest to expiry is *demoted* back to probation;
//! - a new session in a full store evicts the session on probation closest to expiry (expired ones
//!   were purged first). Protected sessions are never evicted by new ones: they leave probation
//!   only as demoted, when more sessions are in use than the protected segment holds. Evictions are
//!   counted by kind: one-shot (never resumed) and resumed (demoted first).
//!
//! Each segment is an ordered index keyed by (expiry instant, touch sequence), so purging expired
//! sessions, evicting, promoting and demoting are all O(log n). With equal idle timeouts, "closest
//! to expiry" is "least recently used".

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::{next_version, PutOutcome, Stored};

/// Where a session is in the segmented LRU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// On probation, never found by a `Get`.
    New,
    /// Found by a `Get` at least once, in the protected segment.
    Protected,
    /// On probation again: resumed before, demoted by more recently resumed sessions.
    Demoted,
}

struct Entry {
    jar: Vec<u8>,
    version: u64,
    idle: Duration,
    segment: Segment,
    /// Key of this entry in its segment's index.
    slot: (Instant, u64),
}

/// Sessions evicted because the store was full, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evictions {
    /// Never resumed: one-shot sessions.
    pub one_shot: u64,
    /// Resumed at least once, then demoted by more recently resumed sessions.
    pub resumed: u64,
}

impl Evictions {
    pub fn total(&self) -> u64 {
        self.one_shot.saturating_add(self.resumed)
    }
}

type Index = BTreeMap<(Instant, u64), String>;

#[derive(Default)]
struct Inner {
    map: HashMap<String, Entry>,
    probation: Index,
    protected: Index,
    next_seq: u64,
    evictions: Evictions,
}

impl Inner {
    fn slot(&mut self, now: Instant, idle: Duration) -> (Instant, u64) {
        self.next_seq = self.next_seq.wrapping_add(1);
        // An unrepresentable expiry (absurd idle timeout) expires at once rather than panicking.
        (now.checked_add(idle).unwrap_or(now), self.next_seq)
    }

    fn index(&mut self, segment: Segment) -> &mut Index {
        match segment {
            Segment::Protected => &mut self.protected,
            Segment::New | Segment::Demoted => &mut self.probation,
        }
    }

    /// Drops every session whose expiry is not after `now`. Returns how many.
    fn purge_expired(&mut self, now: Instant) -> usize {
        let mut n = 0;
        for segment in [Segment::New, Segment::Protected] {
            while let Some(entry) = self.index(segment).first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let id = entry.remove();
                self.map.remove(&id);
                n += 1;
            }
        }
        n
    }

    /// Moves the session `id` to a new slot in `segment` (its index entry follows it).
    fn place(&mut self, id: &str, segment: Segment, slot: (Instant, u64)) {
        let Some(entry) = self.map.get_mut(id) else {
            return;
        };
        let (old_segment, old_slot) = (entry.segment, entry.slot);
        entry.segment = segment;
        entry.slot = slot;
        self.index(old_segment).remove(&old_slot);
        self.index(segment).insert(slot, id.to_owned());
    }

    /// A resume: a session on probation becomes protected; past `protected_cap`, the protected
    /// sessions closest to expiry go back to probation.
    fn promote(&mut self, id: &str, protected_cap: usize) {
        let Some(slot) = self.map.get(id).filter(|e| e.segment != Segment::Protected).map(|e| e.slot) else {
            return;
        };
        self.place(id, Segment::Protected, slot);
        while self.protected.len() > protected_cap {
            let Some((slot, demoted)) = self.protected.first_key_value().map(|(k, v)| (*k, v.clone())) else {
                break;
            };
            self.place(&demoted, Segment::Demoted, slot);
        }
    }

    /// Evicts sessions until there is room for one more: the probation one closest to expiry,
    /// a protected one only if probation is empty (never, with the cap below the bound).
    fn make_room(&mut self, max_sessions: usize) {
        while self.map.len() >= max_sessions {
            let Some((_, victim)) = self.probation.pop_first().or_else(|| self.protected.pop_first()) else {
                break;
            };
            match self.map.remove(&victim).map(|e| e.segment) {
                Some(Segment::New) => self.evictions.one_shot += 1,
                Some(Segment::Protected | Segment::Demoted) => self.evictions.resumed += 1,
                None => {}
            }
        }
    }
}

/// Sessions in this process.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_sessions: usize,
    /// At most this many sessions are protected: four fifths of the bound, and always at least
    /// one place less than it, so that a new session can always evict one on probation.
    protected_cap: usize,
}

impl MemoryStore {
    pub fn new(max_sessions: usize) -> Self {
        let max_sessions = max_sessions.max(1);
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            max_sessions,
            protected_cap: (max_sessions.saturating_mul(4) / 5).min(max_sessions - 1),
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
        let entry = inner.map.get(session_id)?;
        let (idle, segment) = (entry.idle, entry.segment);
        let out = Stored {
            jar: entry.jar.clone(),
            version: entry.version,
        };
        let slot = inner.slot(now, idle);
        inner.place(session_id, segment, slot);
        inner.promote(session_id, self.protected_cap);
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
            // A write keeps the session in its segment: only a Get is a resume.
            entry.jar = jar;
            entry.version = version;
            entry.idle = idle;
            let segment = entry.segment;
            inner.place(session_id, segment, slot);
        } else {
            inner.make_room(self.max_sessions);
            let segment = Segment::New;
            let entry = Entry { jar, version, idle, segment, slot };
            inner.map.insert(session_id.to_owned(), entry);
            inner.probation.insert(slot, session_id.to_owned());
        }
        PutOutcome::Stored(version)
    }

    pub fn delete(&self, session_id: &str) {
        let mut g = self.lock();
        if let Some(entry) = g.map.remove(session_id) {
            g.index(entry.segment).remove(&entry.slot);
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
    pub fn evictions(&self) -> Evictions {
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
        assert_eq!(m.evictions().total(), 1);
        assert!(m.get_at("02", t0 + S * 3).is_none());
        assert!(m.get_at("01", t0 + S * 3).is_some());
        assert!(m.get_at("03", t0 + S * 3).is_some());
        // Overwriting an existing session never evicts.
        stored(m.put_at("03", vec![1], S * 10, 0, t0 + S * 4));
        assert_eq!(m.evictions().total(), 1);
    }

    /// The filter's one-shot session: a Get that finds nothing, then an unconditional Put.
    fn one_shot(m: &MemoryStore, id: &str, at: Instant) {
        assert!(m.get_at(id, at).is_none());
        stored(m.put_at(id, b"s=1".to_vec(), S * 3600, 0, at));
    }

    #[test]
    fn a_flood_of_one_shot_sessions_never_evicts_a_resumed_one() {
        let m = MemoryStore::new(400);
        let t0 = Instant::now();
        let users: Vec<String> = (0..20).map(|n| format!("{n:04x}")).collect();
        for user in &users {
            stored(m.put_at(user, b"a=1".to_vec(), S * 3600, 0, t0));
            assert!(m.get_at(user, t0).is_some());
        }
        // Every one-shot is newer than every user's last use; the users keep reading and writing.
        for n in 0..20_000u32 {
            let at = t0 + Duration::from_millis(u64::from(n) + 1);
            one_shot(&m, &format!("f{n:08x}"), at);
            if n % 1000 == 999 {
                for user in &users {
                    let found = m.get_at(user, at).unwrap_or_else(|| panic!("{user} evicted by one-shot {n}"));
                    stored(m.put_at(user, b"a=2".to_vec(), S * 3600, found.version, at));
                }
                assert_eq!(m.len(), 400);
            }
        }
        let expected = Evictions { one_shot: 20_020 - 400, resumed: 0 };
        assert_eq!(m.evictions(), expected);
        assert_eq!(m.evictions().total(), 19_620);
    }

    #[test]
    fn resumed_sessions_past_the_protected_share_are_demoted_then_evicted_as_resumed() {
        // Five places, four of them protected at most.
        let m = MemoryStore::new(5);
        let t0 = Instant::now();
        for n in 0..5u32 {
            let (id, at) = (format!("0{n}"), t0 + S * n);
            stored(m.put_at(&id, vec![], S * 60, 0, at));
            assert!(m.get_at(&id, at).is_some());
        }
        // 00 was demoted when 04 was promoted: it is the only one on probation, so it goes.
        one_shot(&m, "10", t0 + S * 6);
        assert_eq!(m.evictions(), Evictions { one_shot: 0, resumed: 1 });
        assert!(m.get_at("00", t0 + S * 7).is_none());
        // The next new session evicts the one-shot on probation, not a protected session.
        one_shot(&m, "11", t0 + S * 8);
        assert_eq!(m.evictions(), Evictions { one_shot: 1, resumed: 1 });
        assert!(m.get_at("10", t0 + S * 9).is_none());
        for n in 1..5 {
            assert!(m.get_at(&format!("0{n}"), t0 + S * 9).is_some());
        }
    }

    #[test]
    fn expired_sessions_free_room_before_eviction() {
        let m = MemoryStore::new(1);
        let t0 = Instant::now();
        stored(m.put_at("01", vec![], S, 0, t0));
        stored(m.put_at("02", vec![], S, 0, t0 + S * 5));
        assert_eq!(m.evictions().total(), 0);
    }
}
