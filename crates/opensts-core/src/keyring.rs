//! The session-token key ring: data keys with numeric ids.
//!
//! The newest (highest id) active key seals; every key in the ring opens. Retired keys stay in
//! the ring until the longest session they could have minted has expired — dropping them is
//! the caller's decision (it has the clock and the retire times).

use std::collections::{BTreeMap, BTreeSet};

use zeroize::Zeroizing;

use crate::crypto::{CryptoError, DataKey};

/// Errors of building or using a [`KeyRing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("key ring has no active (non-retired) key")]
    NoActiveKey,
    #[error("key ring has key id {0} twice")]
    DuplicateKeyId(u32),
    #[error("key id {0} is not in the key ring")]
    UnknownKey(u32),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Data keys by id; `current` is the highest non-retired id.
#[derive(Clone, Debug)]
pub struct KeyRing {
    keys: BTreeMap<u32, DataKey>,
    retired: BTreeSet<u32>,
    current: u32,
}

impl KeyRing {
    /// Builds a ring from `(id, key, retired)` entries. The current (sealing) key is the
    /// highest id that is not retired.
    pub fn new(
        entries: impl IntoIterator<Item = (u32, DataKey, bool)>,
    ) -> Result<KeyRing, KeyRingError> {
        let mut keys = BTreeMap::new();
        let mut retired = BTreeSet::new();
        let mut current = None;
        for (id, key, is_retired) in entries {
            if keys.insert(id, key).is_some() {
                return Err(KeyRingError::DuplicateKeyId(id));
            }
            if is_retired {
                retired.insert(id);
            } else if current.is_none_or(|c| id > c) {
                current = Some(id);
            }
        }
        let current = current.ok_or(KeyRingError::NoActiveKey)?;
        Ok(KeyRing {
            keys,
            retired,
            current,
        })
    }

    /// A ring with one active key.
    pub fn single(id: u32, key: DataKey) -> KeyRing {
        KeyRing {
            keys: BTreeMap::from([(id, key)]),
            retired: BTreeSet::new(),
            current: id,
        }
    }

    /// Fresh random key material for a new ring entry.
    pub fn new_key_material() -> DataKey {
        DataKey::generate()
    }

    /// Id of the key that seals.
    pub fn current_id(&self) -> u32 {
        self.current
    }

    /// The key with `id`, active or retired.
    pub fn get(&self, id: u32) -> Option<&DataKey> {
        self.keys.get(&id)
    }

    /// Whether `id` is in the ring and retired.
    pub fn is_retired(&self, id: u32) -> bool {
        self.retired.contains(&id)
    }

    /// All key ids, ascending.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false for a constructed ring (kept for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Seals `plaintext` with the current key; returns the key id to store with the blob.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<(u32, Vec<u8>), KeyRingError> {
        // `current` is always in `keys` (constructor invariant).
        let id = self.current;
        let key = self.get(id).ok_or(KeyRingError::UnknownKey(id))?;
        Ok((id, key.seal(plaintext, aad)?))
    }

    /// Opens a blob sealed under `key_id`.
    pub fn open(
        &self,
        key_id: u32,
        blob: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyRingError> {
        let key = self.get(key_id).ok_or(KeyRingError::UnknownKey(key_id))?;
        Ok(key.open(blob, aad)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_is_highest_active() {
        let ring = KeyRing::new([
            (1, DataKey::generate(), true),
            (3, DataKey::generate(), false),
            (2, DataKey::generate(), false),
            (4, DataKey::generate(), true),
        ])
        .unwrap();
        assert_eq!(ring.current_id(), 3);
        assert_eq!(ring.ids().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert!(ring.is_retired(4));
        assert!(!ring.is_retired(3));
        assert_eq!(ring.len(), 4);
        assert!(!ring.is_empty());
        assert!(ring.get(1).is_some());
        assert!(ring.get(5).is_none());
    }

    #[test]
    fn construction_errors() {
        assert_eq!(
            KeyRing::new(Vec::new()).unwrap_err(),
            KeyRingError::NoActiveKey
        );
        assert_eq!(
            KeyRing::new([(1, DataKey::generate(), true)]).unwrap_err(),
            KeyRingError::NoActiveKey
        );
        assert_eq!(
            KeyRing::new([
                (1, DataKey::generate(), false),
                (1, DataKey::generate(), true)
            ])
            .unwrap_err(),
            KeyRingError::DuplicateKeyId(1)
        );
    }

    #[test]
    fn seal_open_across_rotation() {
        let k1 = KeyRing::new_key_material();
        let k2 = KeyRing::new_key_material();
        let old = KeyRing::single(1, k1.clone());
        let (id, blob) = old.seal(b"hello", b"aad").unwrap();
        assert_eq!(id, 1);
        assert_eq!(old.open(1, &blob, b"aad").unwrap().as_slice(), b"hello");

        // Rotation: key 2 seals, retired key 1 still opens.
        let new = KeyRing::new([(1, k1, true), (2, k2, false)]).unwrap();
        assert_eq!(new.open(1, &blob, b"aad").unwrap().as_slice(), b"hello");
        let (id2, blob2) = new.seal(b"world", b"aad").unwrap();
        assert_eq!(id2, 2);
        assert_eq!(new.open(2, &blob2, b"aad").unwrap().as_slice(), b"world");

        assert_eq!(
            old.open(2, &blob2, b"aad").unwrap_err(),
            KeyRingError::UnknownKey(2)
        );
        assert_eq!(
            new.open(2, &blob, b"aad").unwrap_err(),
            KeyRingError::Crypto(CryptoError::Decrypt)
        );
        assert_eq!(
            new.open(1, &blob, b"other").unwrap_err(),
            KeyRingError::Crypto(CryptoError::Decrypt)
        );
    }
}
