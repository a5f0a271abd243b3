//! Session jars in Envoy's shared data, visible to every worker of the process.
//!
//! Shared data has no TTL, no eviction and no key listing, so memory is bounded by design: a fixed
//! table of buckets (one shared-data key each, created on first use) of at most [`BUCKET_SLOTS`]
//! sessions each, whose sizes add up to `max_sessions` exactly. A session lives in the bucket its
//! (random) id hashes to. Writes use compare-and-set and retry, so concurrent workers never lose
//! an update; every decision below is made on one bucket inside one such write, so it is atomic
//! across workers without any other shared structure (and evictions are counted only once the
//! write went through).
//!
//! Eviction is a segmented LRU per bucket, so that a flood of one-shot sessions (one anonymous
//! request each to an app that sets a cookie on the first visit) cannot push out the sessions
//! users come back to:
//! - a session starts on *probation*: created by an update, never resumed since. A session that
//!   stays there is a one-shot session;
//! - its first resume (a load that finds it) *promotes* it to the *protected* segment, which holds
//!   at most [`PROTECTED_SLOTS`] of a full-sized bucket's entries (three quarters of a smaller
//!   one's, and always at least one slot less than the bucket). When the segment is over that,
//!   its least recently used entry is *demoted* back to probation, marked as resumed before;
//! - making room evicts idle sessions first (not counted: they are expired), then the least
//!   recently used session on probation. As the protected segment is never the whole bucket,
//!   there always is one: a new session never evicts a protected one. A resumed session leaves
//!   only after a demotion, that is when more sessions of its bucket are resumed than the segment
//!   holds. Evictions are counted in total and by kind: never resumed (`..._one_shot`) or resumed
//!   before (`..._resumed`).
//!
//! Why not TinyLFU's admission filter: its frequency sketch is one more structure that every
//! request of every worker would have to write with compare-and-set. A segment flag in the
//! bucket costs one byte per entry and no extra read or write.
//!
//! Sizes: 8 slots a bucket, 6 of them protected, 2 or more on probation (SLRU's usual 80/20,
//! rounded to slots). The protected share is per bucket, so it holds for as many resumed sessions
//! as the least lucky bucket can take: with random ids, 20 resumed sessions in 50 buckets
//! (`max_sessions: 400`) put 7 into one bucket about once in 250,000 tables; with a quarter of
//! `max_sessions` resumed, 3 in 1,000 of them are over their bucket's share (1 in 100 at a third,
//! 5 in 100 at a half), which is why `max_sessions` should be about four times the sessions in
//! use. Larger buckets would spread that better but cost more per request: a load reads and
//! decodes the whole bucket and a write writes it whole (up to 8 jars of at most 16 KiB). The
//! probation share is what a new session gets under a flood: it survives until two more new
//! sessions land in its bucket.
//!
//! The table is that of this `max_sessions`: another one (a configuration update that changed it)
//! is another table, which `tables` keeps track of, so that the sessions in it move over when they
//! are next used and the table goes once none of them can be.

mod tables;

use super::{Loaded, StoreError};
use crate::cookies::JarChange;
use crate::host::{Host, SharedDataError};
use crate::jar::Jar;
use crate::metrics::Metric;
use crate::token::SessionId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tables::Table;

pub const BUCKET_SLOTS: usize = 8;
/// At most this many entries of a full-sized bucket are protected; the rest is probation.
pub const PROTECTED_SLOTS: usize = 6;
const MAX_CAS_ATTEMPTS: usize = 16;
/// The compare-and-set value a write to a key that was absent carries. Envoy writes an absent key
/// whatever the value, but checks any value other than 0 against a key that exists, and hands
/// out its values counting up from 1: so if another worker created the key in between, this
/// write fails and is retried from a fresh read, instead of overwriting that worker's session
/// (0 would write unconditionally: two workers creating one bucket lost one session uncounted).
const ABSENT_CAS: u32 = u32::MAX;

pub struct SharedDataStore {
    table: Table,
    max_sessions: u64,
    buckets: u64,
    idle_timeout_seconds: u64,
    /// A changed `max_sessions` means another table layout: keep it apart.
    key_prefix: String,
    /// When this store next renews its table in the registry (0: at its first call).
    next_renewal: AtomicU64,
    /// The other tables in use at the last renewal, where a session missing here may be.
    others: Mutex<Vec<Table>>,
}

/// How many entries one bucket holds, and how many of them may be protected.
#[derive(Debug, Clone, Copy)]
struct Slots {
    total: usize,
    protected: usize,
}

impl Slots {
    fn of(total: usize) -> Slots {
        Slots { total, protected: (total * PROTECTED_SLOTS / BUCKET_SLOTS).min(total.saturating_sub(1)) }
    }
}

/// A bucket as read, while it is changed: its entries, its slots, and the entries evicted to make
/// room. Evictions are counted only once the write went through: a lost compare-and-set evicted
/// nothing, and the retry decides again.
struct Bucket {
    entries: Vec<Entry>,
    slots: Slots,
    evicted: Vec<Segment>,
}

/// Where an entry is in its bucket's segmented LRU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// On probation, never resumed.
    New,
    /// Resumed at least once, in the protected segment.
    Protected,
    /// On probation again: resumed before, demoted by more recently resumed sessions.
    Demoted,
}

impl Segment {
    fn byte(self) -> u8 {
        match self {
            Segment::New => 0,
            Segment::Protected => 1,
            Segment::Demoted => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Segment> {
        [Segment::New, Segment::Protected, Segment::Demoted].into_iter().find(|s| s.byte() == b)
    }

    fn evicted_metric(self) -> Metric {
        match self {
            Segment::New => Metric::StoreEvictionsOneShot,
            Segment::Protected | Segment::Demoted => Metric::StoreEvictionsResumed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    id: [u8; 16],
    last_seen: u64,
    segment: Segment,
    jar: Vec<u8>,
}

/// Unused for `idle_timeout_seconds` at `now`: expired, whichever table it is in.
fn is_idle(entry: &Entry, now: u64, idle_timeout_seconds: u64) -> bool {
    now >= entry.last_seen.saturating_add(idle_timeout_seconds)
}

impl SharedDataStore {
    pub fn new(max_sessions: u32, idle_timeout_seconds: u32) -> SharedDataStore {
        let table = Table { max_sessions, idle_timeout_seconds };
        SharedDataStore {
            table,
            max_sessions: u64::from(max_sessions).max(1),
            buckets: table.buckets(),
            idle_timeout_seconds: u64::from(idle_timeout_seconds),
            // v2: buckets of 8 with a segment byte per entry.
            key_prefix: table.prefix(),
            next_renewal: AtomicU64::new(0),
            others: Mutex::new(Vec::new()),
        }
    }

    /// Renews this store's table in the registry when due, notes the other tables in use, and
    /// drops the unused ones (`tables`). Relaxed ordering: two workers renewing at once cost one
    /// more registry write, nothing else.
    fn renew_table(&self, host: &dyn Host) {
        let now = host.now();
        if now < self.next_renewal.load(Ordering::Relaxed) {
            return;
        }
        self.next_renewal.store(now.saturating_add(self.table.check_interval()), Ordering::Relaxed);
        let Some(renewal) = tables::renew(host, self.table, now) else { return };
        *self.others.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = renewal.in_use;
        for table in renewal.unused {
            if tables::drop_table(host, table, now) {
                host.count(Metric::StoreTablesDropped);
            }
        }
    }

    fn other_tables(&self) -> Vec<Table> {
        self.others.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn bucket(&self, id: &SessionId) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(id.0.get(..8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(first) % self.buckets
    }

    fn bucket_key(&self, id: &SessionId) -> String {
        format!("{}{}", self.key_prefix, self.bucket(id))
    }

    /// `max_sessions` shared out over the buckets: the first `max_sessions % buckets` hold one
    /// more. With `buckets` = `max_sessions / 8` rounded up, none holds more than 8.
    fn slots(&self, bucket: u64) -> Slots {
        let extra = u64::from(bucket < self.max_sessions % self.buckets);
        let total = self.max_sessions / self.buckets + extra;
        Slots::of(usize::try_from(total).unwrap_or(BUCKET_SLOTS).min(BUCKET_SLOTS))
    }

    fn is_idle(&self, entry: &Entry, now: u64) -> bool {
        is_idle(entry, now, self.idle_timeout_seconds)
    }

    /// Reads a bucket, lets `change` edit it, and writes it back with CAS, retrying from a
    /// fresh read when another worker wrote in between.
    fn modify<T>(
        &self,
        host: &dyn Host,
        id: &SessionId,
        mut change: impl FnMut(&mut Bucket) -> Result<(T, bool), StoreError>,
    ) -> Result<T, StoreError> {
        let key = self.bucket_key(id);
        let slots = self.slots(self.bucket(id));
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (bytes, cas) = host.shared_data(&key);
            let entries = bytes.as_deref().map(decode_bucket).unwrap_or_default();
            let mut bucket = Bucket { entries, slots, evicted: Vec::new() };
            let (result, dirty) = change(&mut bucket)?;
            if !dirty {
                return Ok(result);
            }
            match host.set_shared_data(&key, &encode_bucket(&bucket.entries), cas.or(Some(ABSENT_CAS))) {
                Ok(()) => {
                    for segment in bucket.evicted {
                        host.count(Metric::StoreEvictions);
                        host.count(segment.evicted_metric());
                    }
                    return Ok(result);
                }
                Err(SharedDataError::CasMismatch) => continue,
                Err(SharedDataError::Failed) => return Err(StoreError::Unavailable),
            }
        }
        Err(StoreError::Contended)
    }

    /// Makes room for one more entry: idle entries go first, then the least recently used on
    /// probation. Only a bucket that is all protected (never written so) falls back to plain LRU.
    fn make_room(&self, bucket: &mut Bucket, now: u64) {
        let entries = &mut bucket.entries;
        entries.retain(|e| !self.is_idle(e, now));
        while entries.len() >= bucket.slots.total {
            let Some(i) = least_recent(entries, on_probation).or_else(|| least_recent(entries, |_| true)) else {
                break;
            };
            let gone = entries.remove(i);
            bucket.evicted.push(gone.segment);
        }
    }
}

fn on_probation(entry: &Entry) -> bool {
    entry.segment != Segment::Protected
}

fn protected(entry: &Entry) -> bool {
    entry.segment == Segment::Protected
}

/// The least recently used of the entries `eligible` picks (the first of equals).
fn least_recent(entries: &[Entry], eligible: impl Fn(&Entry) -> bool) -> Option<usize> {
    entries.iter().enumerate().filter(|(_, e)| eligible(e)).min_by_key(|(_, e)| e.last_seen).map(|(i, _)| i)
}

/// A resume: the (just touched) entry at `pos` moves into the protected segment; past `cap`, the
/// segment's least recently used entries are demoted (in a bucket too small for any protected
/// entry, that is the resumed one itself). `false` when it was protected already.
fn promote(entries: &mut [Entry], pos: usize, cap: usize) -> bool {
    let Some(entry) = entries.get_mut(pos).filter(|e| !protected(e)) else {
        return false;
    };
    entry.segment = Segment::Protected;
    while entries.iter().filter(|e| protected(e)).count() > cap {
        let Some(oldest) = least_recent(entries, protected).and_then(|i| entries.get_mut(i)) else {
            break;
        };
        oldest.segment = Segment::Demoted;
    }
    true
}

impl SharedDataStore {
    pub fn load(&self, host: &dyn Host, id: SessionId) -> Result<Loaded, StoreError> {
        self.renew_table(host);
        match self.load_here(host, id)? {
            Loaded::Missing => self.load_moved(host, id),
            loaded => Ok(loaded),
        }
    }

    /// A session this table lacks, from another table in use (the one of a `max_sessions` before a
    /// configuration update): taken out of it and into this one, then loaded here.
    fn load_moved(&self, host: &dyn Host, id: SessionId) -> Result<Loaded, StoreError> {
        for table in self.other_tables() {
            let Some(entry) = SharedDataStore::new(table.max_sessions, table.idle_timeout_seconds).take(host, &id)? else {
                continue;
            };
            self.adopt(host, &id, entry)?;
            host.count(Metric::StoreSessionsMoved);
            return self.load_here(host, id);
        }
        Ok(Loaded::Missing)
    }

    /// Removes the session's entry from this table; `None` when it has none (or only an idle one).
    fn take(&self, host: &dyn Host, id: &SessionId) -> Result<Option<Entry>, StoreError> {
        let now = host.now();
        self.modify(host, id, |bucket| {
            let Some(pos) = bucket.entries.iter().position(|e| e.id == id.0) else {
                return Ok((None, false));
            };
            let entry = bucket.entries.remove(pos);
            Ok(((!self.is_idle(&entry, now)).then_some(entry), true))
        })
    }

    /// Puts a session taken from another table into this one, on probation as a new session or
    /// as one resumed before (its next load promotes it), unless this table has it already.
    fn adopt(&self, host: &dyn Host, id: &SessionId, entry: Entry) -> Result<(), StoreError> {
        let now = host.now();
        let segment = if entry.segment == Segment::New { Segment::New } else { Segment::Demoted };
        self.modify(host, id, |bucket| {
            if bucket.entries.iter().any(|e| e.id == id.0 && !self.is_idle(e, now)) {
                return Ok(((), false));
            }
            bucket.entries.retain(|e| e.id != id.0);
            self.make_room(bucket, now);
            bucket.entries.push(Entry { segment, ..entry.clone() });
            Ok(((), true))
        })
    }

    fn load_here(&self, host: &dyn Host, id: SessionId) -> Result<Loaded, StoreError> {
        let now = host.now();
        self.modify(host, &id, |bucket| {
            let entries = &mut bucket.entries;
            let Some(pos) = entries.iter().position(|e| e.id == id.0) else {
                return Ok((Loaded::Missing, false));
            };
            let Some(entry) = entries.get(pos) else {
                return Ok((Loaded::Missing, false));
            };
            if self.is_idle(entry, now) {
                entries.remove(pos);
                return Ok((Loaded::Expired, true));
            }
            let jar = Jar::decode(&entry.jar).ok_or(StoreError::Corrupt)?;
            let Some(entry) = entries.get_mut(pos) else {
                return Ok((Loaded::Missing, false));
            };
            // Touch at most once a second: a read need not be a write. Touched first, so that
            // the promotion below demotes others before this one.
            let touch = entry.last_seen < now;
            entry.last_seen = now;
            let promoted = promote(entries, pos, bucket.slots.protected);
            Ok((Loaded::Found(jar), touch || promoted))
        })
    }

    pub fn update(&self, host: &dyn Host, id: SessionId, changes: &[JarChange]) -> Result<Jar, StoreError> {
        self.renew_table(host);
        let now = host.now();
        self.modify(host, &id, |bucket| {
            let current = bucket.entries.iter().position(|e| e.id == id.0 && !self.is_idle(e, now));
            let entry = current.and_then(|i| bucket.entries.get(i));
            let stored = match entry {
                Some(entry) => Jar::decode(&entry.jar).ok_or(StoreError::Corrupt)?,
                None => Jar::default(),
            };
            let (jar, changed) = Jar::merge(stored, changes);
            // An app that sends the same cookies again on every page changes nothing: no write,
            // unless the entry's last-seen time is due (as in `load`).
            if !changed && entry.is_some_and(|e| e.last_seen >= now) {
                return Ok((jar, false));
            }
            if !jar.fits() {
                return Err(StoreError::TooLarge);
            }
            self.store_jar(bucket, current, id, &jar, now);
            Ok((jar, true))
        })
    }

    /// Writes `jar` into the entry at `current` (keeping its segment), or into a new entry on
    /// probation; an empty jar removes the session.
    fn store_jar(&self, bucket: &mut Bucket, current: Option<usize>, id: SessionId, jar: &Jar, now: u64) {
        match current.filter(|_| !jar.is_empty()).and_then(|i| bucket.entries.get_mut(i)) {
            Some(entry) => {
                entry.jar = jar.encode();
                entry.last_seen = now;
            }
            None => {
                // An idle entry of this id, or the live one of a jar now empty.
                bucket.entries.retain(|e| e.id != id.0);
                if !jar.is_empty() {
                    self.make_room(bucket, now);
                    bucket.entries.push(Entry { id: id.0, last_seen: now, segment: Segment::New, jar: jar.encode() });
                }
            }
        }
    }
}

/// Layout: per entry, 16 bytes id, 8 bytes last-seen (LE), 1 byte segment, 4 bytes jar length
/// (LE), the jar.
fn encode_bucket(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| 29 + e.jar.len()).sum());
    for e in entries {
        out.extend_from_slice(&e.id);
        out.extend_from_slice(&e.last_seen.to_le_bytes());
        out.push(e.segment.byte());
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
    let (segment, rest) = rest.split_first()?;
    let segment = Segment::from_byte(*segment)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    let (jar, rest) = rest.split_at_checked(len)?;
    Some((Entry { id: *id, last_seen: u64::from_le_bytes(*last_seen), segment, jar: jar.to_vec() }, rest))
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
    fn two_workers_creating_one_bucket_lose_no_session() {
        let store = SharedDataStore::new(100, 60);
        let host = host_at(1000);
        let second = (2..=u8::MAX).find(|&n| store.bucket(&id(n)) == store.bucket(&id(1))).unwrap();
        // The registry written first (another key), so that the race below is the bucket's.
        assert_eq!(store.load(&host, id(3)).unwrap(), Loaded::Missing);
        // Both find the bucket absent; the other worker creates it first.
        *host.shared.competing.borrow_mut() = Some(Box::new(move |shared| {
            let other = MockHost { now: 1000, shared: shared.clone(), ..Default::default() };
            SharedDataStore::new(100, 60).update(&other, id(second), &[set("b", "2")]).unwrap();
        }));
        store.update(&host, id(1), &[set("a", "1")]).unwrap();
        assert!(host.shared.competing.borrow().is_none(), "the competing write ran");
        for (n, name) in [(1, "a"), (second, "b")] {
            let Loaded::Found(jar) = store.load(&host, id(n)).unwrap() else { panic!("session {n} lost") };
            assert!(jar.get(name).is_some());
        }
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

    /// A session id of its own for each `n`, in bucket `n % buckets`.
    fn nth(n: u32) -> SessionId {
        let mut raw = [0u8; 16];
        raw[..4].copy_from_slice(&n.to_le_bytes());
        raw[12..].copy_from_slice(&n.to_le_bytes());
        SessionId(raw)
    }

    /// The keys of session buckets (every table's), with their entries.
    fn buckets(host: &MockHost) -> Vec<(String, Vec<Entry>)> {
        let map = host.shared.map.borrow();
        map.iter().filter(|(k, _)| k.as_str() != tables::REGISTRY_KEY).map(|(k, (v, _))| (k.clone(), decode_bucket(v))).collect()
    }

    fn entries(host: &MockHost) -> Vec<Entry> {
        buckets(host).into_iter().flat_map(|(_, entries)| entries).collect()
    }

    fn evictions(host: &MockHost) -> (u64, u64, u64) {
        let m = |metric| host.metric(metric);
        (m(Metric::StoreEvictions), m(Metric::StoreEvictionsOneShot), m(Metric::StoreEvictionsResumed))
    }

    fn found(store: &SharedDataStore, host: &MockHost, id: SessionId) -> bool {
        matches!(store.load(host, id).unwrap(), Loaded::Found(_))
    }

    #[test]
    fn memory_is_bounded_by_max_sessions_and_evictions_are_counted() {
        let store = SharedDataStore::new(16, 3600);
        let mut host = host_at(1000);
        for n in 0..200 {
            host.now = 1000 + u64::from(n);
            store.update(&host, nth(n), &[set("a", "1")]).unwrap();
        }
        assert!(buckets(&host).len() <= 2, "two buckets for 16 sessions");
        let stored = entries(&host).len() as u64;
        assert_eq!(stored, 16);
        assert_eq!(evictions(&host), (200 - stored, 200 - stored, 0), "none was resumed: all one-shot");
        assert!(found(&store, &host, nth(199)), "the newest stays");
        assert!(!found(&store, &host, nth(0)), "the oldest went");
    }

    #[test]
    fn max_sessions_is_the_exact_bound_and_small_buckets_keep_room_on_probation() {
        for max in [1u32, 3, 10, 13, 400] {
            let store = SharedDataStore::new(max, 3600);
            let mut host = host_at(1000);
            // Consecutive ids fill the buckets round-robin; each is resumed once (protected).
            for n in 0..(max * 4) {
                host.now += 1;
                store.update(&host, nth(n), &[set("a", "1")]).unwrap();
                assert!(found(&store, &host, nth(n)), "a session just written, max {max}");
            }
            let kept = entries(&host);
            assert_eq!(kept.len(), max as usize, "max_sessions {max}");
            // Every bucket's protected segment is full and smaller than the bucket.
            let protected = kept.iter().filter(|e| e.segment == Segment::Protected).count();
            let caps: usize = (0..store.buckets).map(|b| store.slots(b).protected).sum();
            assert_eq!(protected, caps, "max {max}");
            assert!((0..store.buckets).all(|b| store.slots(b).protected < store.slots(b).total));
            assert_eq!(evictions(&host).0, u64::from(max) * 3);
        }
    }

    #[test]
    fn an_eviction_whose_write_lost_the_race_is_counted_once() {
        let store = SharedDataStore::new(8, 3600);
        let host = host_at(1000);
        for n in 0..8 {
            store.update(&host, nth(n), &[set("a", "1")]).unwrap();
        }
        *host.shared.conflicts.borrow_mut() = 1;
        store.update(&host, nth(8), &[set("a", "1")]).unwrap();
        assert_eq!(*host.shared.conflicts.borrow(), 0, "the first write lost");
        assert_eq!(evictions(&host), (1, 1, 0));
        assert_eq!(entries(&host).len(), 8);
    }

    #[test]
    fn a_flood_of_new_sessions_never_evicts_a_resumed_one() {
        let store = SharedDataStore::new(8, 3600);
        let mut host = host_at(1000);
        let users: Vec<SessionId> = (0..PROTECTED_SLOTS as u32).map(nth).collect();
        for &user in &users {
            store.update(&host, user, &[set("a", "1")]).unwrap();
            assert!(found(&store, &host, user));
        }
        // Newer than every user's last use, and the users keep using theirs (loads and updates).
        for n in 100..1100 {
            host.now += 1;
            store.update(&host, nth(n), &[set("s", "1")]).unwrap();
            if n % 100 == 0 {
                for &user in &users {
                    assert!(found(&store, &host, user), "user {:?} evicted by one-shot {n}", user.0[0]);
                    store.update(&host, user, &[set("a", &n.to_string())]).unwrap();
                }
            }
            assert!(entries(&host).len() <= BUCKET_SLOTS);
        }
        let kept = entries(&host);
        assert_eq!(kept.iter().filter(|e| e.segment == Segment::Protected).count(), PROTECTED_SLOTS);
        assert_eq!(kept.iter().filter(|e| e.segment == Segment::New).count(), BUCKET_SLOTS - PROTECTED_SLOTS);
        let one_shot = 1000 - (BUCKET_SLOTS - PROTECTED_SLOTS) as u64;
        assert_eq!(evictions(&host), (one_shot, one_shot, 0));
    }

    #[test]
    fn more_resumed_sessions_than_the_protected_segment_holds_demote_the_least_recent() {
        let store = SharedDataStore::new(8, 3600);
        let mut host = host_at(1000);
        let users: Vec<SessionId> = (0..=PROTECTED_SLOTS as u32).map(nth).collect();
        for &user in &users {
            host.now += 1;
            store.update(&host, user, &[set("a", "1")]).unwrap();
            assert!(found(&store, &host, user));
        }
        let first = entries(&host).into_iter().find(|e| e.id == users[0].0).unwrap();
        assert_eq!(first.segment, Segment::Demoted, "the least recently resumed makes room");
        // One free slot, then the demoted session is the oldest on probation: it goes first, and
        // is counted as a resumed session evicted.
        for n in 100..102 {
            host.now += 1;
            store.update(&host, nth(n), &[set("s", "1")]).unwrap();
        }
        assert_eq!(evictions(&host), (1, 0, 1));
        assert!(!found(&store, &host, users[0]));
        assert!(users[1..].iter().all(|&u| found(&store, &host, u)));
    }

    #[test]
    fn a_promotion_and_another_workers_new_session_in_one_bucket_both_land() {
        let store = SharedDataStore::new(8, 3600);
        let host = host_at(1000);
        store.update(&host, nth(1), &[set("a", "1")]).unwrap();
        *host.shared.competing.borrow_mut() = Some(Box::new(|shared| {
            let other = MockHost { now: 1000, shared: shared.clone(), ..Default::default() };
            SharedDataStore::new(8, 3600).update(&other, nth(2), &[set("b", "2")]).unwrap();
        }));
        assert!(found(&store, &host, nth(1)), "the promoting load retried after the competing write");
        assert!(host.shared.competing.borrow().is_none(), "the competing write ran");
        let kept = entries(&host);
        let segment = |n: u32| kept.iter().find(|e| e.id == nth(n).0).map(|e| e.segment);
        assert_eq!((segment(1), segment(2)), (Some(Segment::Protected), Some(Segment::New)));
    }

    /// Sessions `from..from + n`, written through `store` at the host's time.
    fn fill(store: &SharedDataStore, host: &MockHost, from: u32, n: u32) -> Vec<SessionId> {
        let ids: Vec<SessionId> = (from..from + n).map(nth).collect();
        for &s in &ids {
            store.update(host, s, &[set("a", "1")]).unwrap();
        }
        ids
    }

    fn table_entries(host: &MockHost, store: &SharedDataStore) -> usize {
        buckets(host).into_iter().filter(|(k, _)| k.starts_with(&store.key_prefix)).map(|(_, e)| e.len()).sum()
    }

    #[test]
    fn a_reload_that_keeps_max_sessions_keeps_the_table_and_every_session() {
        let mut host = host_at(1000);
        let ids = fill(&SharedDataStore::new(16, 600), &host, 1000, 16);
        let reloaded = SharedDataStore::new(16, 600);
        for (step, &s) in ids.iter().enumerate() {
            host.now = 1000 + 10 * step as u64;
            assert!(found(&reloaded, &host, s), "session {step} lost by a reload");
        }
        assert_eq!(host.metric(Metric::StoreSessionsMoved), 0);
        assert_eq!(host.metric(Metric::StoreTablesDropped), 0);
        assert_eq!(entries(&host).len(), 16);
    }

    #[test]
    fn after_max_sessions_changed_a_session_moves_to_the_new_table_when_next_used() {
        let mut host = host_at(1000);
        let old = SharedDataStore::new(16, 600);
        let ids = fill(&old, &host, 1000, 16);
        let new = SharedDataStore::new(40, 600);
        host.now = 1010;
        for &s in &ids[..10] {
            assert!(found(&new, &host, s), "a session of the old table is lost");
            assert!(found(&new, &host, s), "and found again where it moved");
        }
        assert_eq!(host.metric(Metric::StoreSessionsMoved), 10, "each moved once");
        assert_eq!((table_entries(&host, &old), table_entries(&host, &new)), (6, 10), "moved, not copied");
        // A new session of the new table is that table's only.
        new.update(&host, nth(1), &[set("b", "2")]).unwrap();
        assert_eq!(table_entries(&host, &new), 11);
        // Resumed in the new table, a moved session is protected there like any other.
        let moved = entries(&host).into_iter().find(|e| e.id == ids[0].0).unwrap();
        assert_eq!(moved.segment, Segment::Protected);
    }

    #[test]
    fn the_old_table_is_dropped_once_its_sessions_are_expired_and_the_bound_holds_again() {
        let mut host = host_at(1000);
        let old = SharedDataStore::new(400, 60);
        let ids = fill(&old, &host, 1000, 400);
        let new = SharedDataStore::new(16, 60);
        assert!(found(&new, &host, ids[0]), "moved while the old table may still be in use");
        fill(&new, &host, 5000, 16);
        // Unused for its idle timeout and one interval: every session in it is idle.
        host.now = 1000 + 60 + 59;
        new.update(&host, nth(1), &[set("b", "2")]).unwrap();
        assert_eq!(host.metric(Metric::StoreTablesDropped), 0, "too early");
        host.now = 1000 + 60 + 60 + 60;
        new.update(&host, nth(2), &[set("b", "2")]).unwrap();
        assert_eq!(host.metric(Metric::StoreTablesDropped), 1);
        assert_eq!(table_entries(&host, &old), 0);
        assert!(entries(&host).len() <= 16, "memory is bounded by max_sessions again");
        assert!(!found(&new, &host, ids[1]), "an expired session is not brought back");
    }

    #[test]
    fn a_table_still_in_use_is_never_dropped_and_one_used_again_loses_nothing() {
        let mut host = host_at(1000);
        let a = SharedDataStore::new(16, 60);
        let b = SharedDataStore::new(40, 60);
        // Two configurations in use side by side (two listeners): each renews its own table.
        for t in 0..10 {
            host.now = 1000 + 50 * t;
            a.update(&host, nth(1), &[set("a", &t.to_string())]).unwrap();
            b.update(&host, nth(2), &[set("b", &t.to_string())]).unwrap();
        }
        assert_eq!(host.metric(Metric::StoreTablesDropped), 0);
        assert_eq!((table_entries(&host, &a), table_entries(&host, &b)), (1, 1));
        // A table found unused while a store of it writes again: the bucket it wrote stays.
        let bucket = a.bucket_key(&nth(1));
        host.now += 1000;
        a.update(&host, nth(1), &[set("a", "late")]).unwrap();
        assert!(!tables::drop_table(&host, a.table, host.now), "a live bucket is kept");
        assert!(host.shared.map.borrow().get(&bucket).is_some_and(|(v, _)| !v.is_empty()));
        let Loaded::Found(jar) = a.load(&host, nth(1)).unwrap() else { panic!("lost") };
        assert_eq!(jar.get("a"), Some("late"));
    }

    #[test]
    fn damaged_buckets_decode_to_what_is_intact() {
        let e = Entry { id: [1; 16], last_seen: 5, segment: Segment::Demoted, jar: b"a=1\n".to_vec() };
        let mut bytes = encode_bucket(std::slice::from_ref(&e));
        bytes.extend_from_slice(&[9; 40]);
        assert_eq!(decode_bucket(&bytes), vec![e], "segment byte 9 is no segment");
        assert!(decode_bucket(&[0xff; 3]).is_empty());
    }

    #[test]
    fn a_corrupt_jar_is_an_error_on_load_and_update() {
        let store = SharedDataStore::new(100, 60);
        let host = host_at(1000);
        store.update(&host, id(1), &[set("a", "1")]).unwrap();
        let key = store.bucket_key(&id(1));
        let bad = encode_bucket(&[Entry { id: id(1).0, last_seen: 1000, segment: Segment::New, jar: vec![0xff, 0xfe] }]);
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
