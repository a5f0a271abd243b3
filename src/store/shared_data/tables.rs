//! Which session tables shared data holds, and which of them are still in use.
//!
//! A table is the set of buckets of one `max_sessions` (its layout: `cookieless/v2/{max_sessions}/
//! {bucket}`). Shared data outlives a configuration: Envoy keeps Wasm shared data per VM id for
//! the life of the process, and the native build's map is the module's own, process-wide. So a
//! configuration update that changes `max_sessions` (a listener updated over LDS, a new filter
//! configuration in the same process) would leave the old table behind, never read nor evicted
//! again, and memory would no longer be bounded by `max_sessions`.
//!
//! So every store says in one more key, [`REGISTRY_KEY`], that its table is in use, at most once
//! per [`Table::check_interval`] (on its first load or update after that), and at the same time:
//! - learns the other tables in use (the configuration being replaced, still serving its
//!   connections, or another listener's): a session missing from its own table is looked for in
//!   those and moved over (`SharedDataStore::load`), so a change of layout loses no session in use;
//! - drops each table no store has said is in use for its idle timeout and one more interval: all
//!   its sessions have been idle that long, so they are expired anyway. A bucket is emptied with
//!   compare-and-set, and only when every entry in it is idle: a store that comes back to a table
//!   found unused loses nothing it wrote since (it says so again on its first call).
//!
//! A reload that keeps `max_sessions` keeps the very same table: nothing moves, nothing is dropped.

use super::{decode_bucket, is_idle, BUCKET_SLOTS, MAX_CAS_ATTEMPTS};
use crate::host::{Host, SharedDataError};

/// The registry: per table, its `max_sessions`, idle timeout and when a store last said it is in
/// use.
pub const REGISTRY_KEY: &str = "cookieless/v2/tables";
/// A store renews its table at least this often, however long its idle timeout.
const MAX_CHECK_SECONDS: u64 = 60;
/// The registry's layout: per table, `max_sessions` (LE u32), idle timeout (LE u32), last used (LE
/// u64).
const RECORD_BYTES: usize = 16;

/// One bucket layout, and how long its sessions live unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub max_sessions: u32,
    pub idle_timeout_seconds: u32,
}

impl Table {
    /// A changed `max_sessions` is another layout: its buckets are keys of their own.
    pub fn prefix(self) -> String {
        format!("cookieless/v2/{}/", self.max_sessions)
    }

    pub fn buckets(self) -> u64 {
        u64::from(self.max_sessions).div_ceil(BUCKET_SLOTS as u64).max(1)
    }

    /// How often a store of this table renews it: within its idle timeout, so that a table that
    /// is not renewed for twice that long (at most the timeout plus a minute) is unused.
    pub fn check_interval(self) -> u64 {
        u64::from(self.idle_timeout_seconds).clamp(1, MAX_CHECK_SECONDS)
    }

    /// Unused at `now` when last renewed at `last_used`: every session of it idle since.
    fn unused(self, last_used: u64, now: u64) -> bool {
        now >= last_used.saturating_add(u64::from(self.idle_timeout_seconds)).saturating_add(self.check_interval())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    table: Table,
    last_used: u64,
}

/// What a renewal found: the other tables in use, and those it took out of the registry, to drop.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Renewal {
    pub in_use: Vec<Table>,
    pub unused: Vec<Table>,
}

/// Says that `own` is in use at `now`; `None` when the registry could not be written (tried again
/// at the next interval).
pub fn renew(host: &dyn Host, own: Table, now: u64) -> Option<Renewal> {
    for _ in 0..MAX_CAS_ATTEMPTS {
        let (bytes, cas) = host.shared_data(REGISTRY_KEY);
        let (records, renewal) = renewed(bytes.as_deref().map(decode).unwrap_or_default(), own, now);
        match host.set_shared_data(REGISTRY_KEY, &encode(&records), cas.or(Some(super::ABSENT_CAS))) {
            Ok(()) => return Some(renewal),
            Err(SharedDataError::CasMismatch) => continue,
            Err(SharedDataError::Failed) => return None,
        }
    }
    None
}

/// The registry with `own` renewed (two stores of one table with different idle timeouts keep the
/// longer), without the unused tables.
fn renewed(records: Vec<Record>, own: Table, now: u64) -> (Vec<Record>, Renewal) {
    let mut kept = Vec::with_capacity(records.len() + 1);
    let mut renewal = Renewal::default();
    let mut own = Record { table: own, last_used: now };
    for record in records {
        if record.table.max_sessions == own.table.max_sessions {
            own.table.idle_timeout_seconds = own.table.idle_timeout_seconds.max(record.table.idle_timeout_seconds);
        } else if record.table.unused(record.last_used, now) {
            renewal.unused.push(record.table);
        } else {
            renewal.in_use.push(record.table);
            kept.push(record);
        }
    }
    kept.push(own);
    (kept, renewal)
}

/// Empties every bucket of `table` whose entries are all idle; `true` when none was left with a
/// live one.
pub fn drop_table(host: &dyn Host, table: Table, now: u64) -> bool {
    let prefix = table.prefix();
    // Every bucket is tried, whatever the ones before it held: no short circuit.
    let kept = (0..table.buckets()).filter(|bucket| !drop_bucket(host, &format!("{prefix}{bucket}"), table, now)).count();
    kept == 0
}

/// `false` when the bucket holds a live entry (kept) or could not be written.
fn drop_bucket(host: &dyn Host, key: &str, table: Table, now: u64) -> bool {
    let idle = u64::from(table.idle_timeout_seconds);
    for _ in 0..MAX_CAS_ATTEMPTS {
        let (Some(bytes), cas) = host.shared_data(key) else { return true };
        if bytes.is_empty() {
            return true;
        }
        if !decode_bucket(&bytes).iter().all(|e| is_idle(e, now, idle)) {
            return false;
        }
        // An empty value: the native map removes the key; Envoy's shared data, which the
        // proxy-wasm ABI cannot remove keys from, keeps it with nothing in it.
        match host.set_shared_data(key, &[], cas) {
            Ok(()) => return true,
            Err(SharedDataError::CasMismatch) => continue,
            Err(SharedDataError::Failed) => return false,
        }
    }
    false
}

fn encode(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * RECORD_BYTES);
    for r in records {
        out.extend_from_slice(&r.table.max_sessions.to_le_bytes());
        out.extend_from_slice(&r.table.idle_timeout_seconds.to_le_bytes());
        out.extend_from_slice(&r.last_used.to_le_bytes());
    }
    out
}

/// A damaged registry decodes to the records before the damage (the tables after it are found
/// unused no more; their stores add them again).
fn decode(bytes: &[u8]) -> Vec<Record> {
    bytes.chunks_exact(RECORD_BYTES).map_while(decode_record).collect()
}

fn decode_record(bytes: &[u8]) -> Option<Record> {
    let (max_sessions, rest) = bytes.split_first_chunk::<4>()?;
    let (idle, rest) = rest.split_first_chunk::<4>()?;
    let (last_used, _) = rest.split_first_chunk::<8>()?;
    let table = Table { max_sessions: u32::from_le_bytes(*max_sessions), idle_timeout_seconds: u32::from_le_bytes(*idle) };
    Some(Record { table, last_used: u64::from_le_bytes(*last_used) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Table = Table { max_sessions: 16, idle_timeout_seconds: 600 };
    const B: Table = Table { max_sessions: 40, idle_timeout_seconds: 30 };

    #[test]
    fn a_table_is_unused_once_its_idle_timeout_and_one_interval_passed_unrenewed() {
        let (records, renewal) = renewed(vec![Record { table: A, last_used: 1000 }], B, 1000 + 600 + 59);
        assert_eq!(renewal, Renewal { in_use: vec![A], unused: vec![] });
        assert_eq!(records.len(), 2);
        let (records, renewal) = renewed(records, B, 1000 + 600 + 60);
        assert_eq!(renewal, Renewal { in_use: vec![], unused: vec![A] });
        assert_eq!(records, vec![Record { table: B, last_used: 1660 }]);
        assert_eq!(B.check_interval(), 30, "a short idle timeout is checked within it");
    }

    #[test]
    fn one_table_is_one_record_and_keeps_the_longest_idle_timeout() {
        let short = Table { idle_timeout_seconds: 5, ..A };
        let (records, renewal) = renewed(vec![Record { table: A, last_used: 1 }], short, 5000);
        assert_eq!(renewal, Renewal::default(), "its own table is never unused");
        assert_eq!(records, vec![Record { table: A, last_used: 5000 }]);
    }

    #[test]
    fn the_registry_round_trips_and_a_damaged_one_keeps_what_is_intact() {
        let records = vec![Record { table: A, last_used: 7 }, Record { table: B, last_used: u64::MAX }];
        let mut bytes = encode(&records);
        assert_eq!(decode(&bytes), records);
        bytes.truncate(RECORD_BYTES + 3);
        assert_eq!(decode(&bytes), records[..1]);
    }
}
