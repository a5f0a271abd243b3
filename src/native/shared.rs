//! The native build's shared data: one process-wide key-value map with compare-and-set versions,
//! what Envoy's shared data is to the Wasm build. `store::shared_data` keeps the session table in
//! it unchanged (its fixed number of buckets bounds the memory, its segmented LRU evicts); this
//! map only holds the buckets and versions them, in shards so that workers writing different
//! buckets do not wait for each other.
//!
//! Two differences from Envoy's shared data, on purpose: a key that is absent reads as version 0,
//! and a write guarded by version 0 succeeds only while the key is still absent, so two workers
//! creating the same bucket cannot overwrite each other either; and an empty value removes the
//! key (the proxy-wasm ABI has no removal: Envoy keeps the key, empty), so that the buckets of a
//! table the store dropped (another `max_sessions`, before a configuration update) leave nothing.
//! The map outlives every filter configuration: it is the module's, for the process's life.

use crate::host::SharedDataError;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{LazyLock, Mutex, MutexGuard};

const SHARDS: usize = 16;

/// A value and its version (1 on first write, then one more on each write).
type Versioned = (Vec<u8>, u32);

pub struct SharedMap {
    shards: [Mutex<HashMap<String, Versioned>>; SHARDS],
    hasher: RandomState,
}

/// The map every worker of this Envoy process shares.
pub static SHARED: LazyLock<SharedMap> = LazyLock::new(SharedMap::new);

impl SharedMap {
    pub fn new() -> SharedMap {
        SharedMap { shards: std::array::from_fn(|_| Mutex::new(HashMap::new())), hasher: RandomState::new() }
    }

    /// The key's shard, locked. A poisoned shard only means a writer panicked mid-insert: its
    /// map is still whole. `None` never happens (the index is below `SHARDS`).
    fn locked(&self, key: &str) -> Option<MutexGuard<'_, HashMap<String, Versioned>>> {
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).ok()?;
        let shard = self.shards.get(index)?;
        Some(shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The value and its version; an absent key is version 0.
    pub fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        let Some(shard) = self.locked(key) else { return (None, None) };
        match shard.get(key) {
            Some((value, version)) => (Some(value.clone()), Some(*version)),
            None => (None, Some(0)),
        }
    }

    /// Writes when `cas` is `None` or still the key's version; an empty value removes the key
    /// (its version is 0 again, so a write guarded by the removed value's version fails).
    pub fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError> {
        let mut shard = self.locked(key).ok_or(SharedDataError::Failed)?;
        let current = shard.get(key).map_or(0, |(_, version)| *version);
        if cas.is_some_and(|expected| expected != current) {
            return Err(SharedDataError::CasMismatch);
        }
        if value.is_empty() {
            shard.remove(key);
        } else {
            shard.insert(key.to_string(), (value.to_vec(), current.wrapping_add(1).max(1)));
        }
        Ok(())
    }
}

impl Default for SharedMap {
    fn default() -> Self {
        SharedMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_guarded_by_a_stale_version_fails_and_changes_nothing() {
        let map = SharedMap::new();
        let (value, version) = map.get("k");
        assert_eq!((value, version), (None, Some(0)));
        map.set("k", b"a", Some(0)).unwrap();
        assert_eq!(map.set("k", b"b", Some(0)), Err(SharedDataError::CasMismatch), "created meanwhile");
        assert_eq!(map.get("k"), (Some(b"a".to_vec()), Some(1)));
        map.set("k", b"c", Some(1)).unwrap();
        assert_eq!(map.set("k", b"d", Some(1)), Err(SharedDataError::CasMismatch));
        map.set("k", b"e", None).unwrap();
        assert_eq!(map.get("k"), (Some(b"e".to_vec()), Some(3)));
    }

    #[test]
    fn an_empty_value_removes_the_key_and_a_write_guarded_by_its_old_version_fails() {
        let map = SharedMap::new();
        map.set("k", b"a", Some(0)).unwrap();
        map.set("k", b"", Some(1)).unwrap();
        assert_eq!(map.get("k"), (None, Some(0)));
        assert_eq!(map.set("k", b"b", Some(1)), Err(SharedDataError::CasMismatch));
        assert!(map.shards.iter().all(|s| s.lock().unwrap().is_empty()), "nothing left of the key");
    }

    #[test]
    fn workers_incrementing_one_key_with_compare_and_set_lose_no_update() {
        let map = std::sync::Arc::new(SharedMap::new());
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let map = std::sync::Arc::clone(&map);
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        loop {
                            let (value, version) = map.get("n");
                            let n = value.map_or(0, |v| u32::from_le_bytes(v.try_into().unwrap()));
                            if map.set("n", &(n + 1).to_le_bytes(), version).is_ok() {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let (value, _) = map.get("n");
        assert_eq!(u32::from_le_bytes(value.unwrap().try_into().unwrap()), 2000);
    }
}
