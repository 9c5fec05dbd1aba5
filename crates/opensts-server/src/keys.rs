//! Key-ring management: rotation, listing and removal of expired retired keys.
//!
//! Rotation inserts a fresh key with id `max + 1` (sealed by the master key) and then retires
//! every other active key. Both steps bump the store's change counter (account `""`), so every
//! running node reloads its rings within one poll interval and starts sealing with the new key;
//! retired keys keep opening what they sealed. A retired key is deleted once the longest-lived
//! thing it could have sealed has expired: [`retention_secs`] after its retirement, plus
//! [`RETIRED_KEY_GRACE_SECS`] for clock differences between nodes.

use opensts_core::crypto::MasterKey;
use opensts_core::keyring::KeyRing;
use opensts_store::{KeyringRecord, Store, StoreError};
use serde::Serialize;

use crate::app::{AUTH_MESSAGE_PURPOSE, SESSION_TOKEN_PURPOSE, StartError, load_keyring};
use crate::protocol::xml::timestamp;

/// Longest session a session-token key can have sealed (GetSessionToken / GetFederationToken
/// allow 129600 s; AssumeRole 43200 s).
pub const SESSION_TOKEN_RETENTION_SECS: i64 = 129_600;
/// How long an encoded authorization message can be decoded.
pub const AUTH_MESSAGE_RETENTION_SECS: i64 = opensts_core::authmsg::MESSAGE_LIFETIME_SECS;
/// Extra time a retired key is kept, for clocks that differ between nodes (SigV4's skew).
pub const RETIRED_KEY_GRACE_SECS: i64 = opensts_sigv4::MAX_CLOCK_SKEW_SECS;
/// How often a running server removes expired retired keys.
pub const KEY_PRUNE_INTERVAL_SECS: u64 = 3600;
/// The key rings this server keeps.
pub const PURPOSES: &[&str] = &[
    SESSION_TOKEN_PURPOSE,
    AUTH_MESSAGE_PURPOSE,
    crate::oidc_issuer::JWKS_RS256_PURPOSE,
    crate::oidc_issuer::JWKS_ES384_PURPOSE,
];
/// How long a retired JWKS signing key stays published: the longest GetWebIdentityToken
/// token it can have signed.
pub const JWKS_RETENTION_SECS: i64 = crate::oidc_issuer::MAX_TOKEN_DURATION_SECS;

/// How long after retirement a key of `purpose` must still open what it sealed.
pub fn retention_secs(purpose: &str) -> i64 {
    match purpose {
        AUTH_MESSAGE_PURPOSE => AUTH_MESSAGE_RETENTION_SECS,
        p if crate::oidc_issuer::is_jwks_purpose(p) => JWKS_RETENTION_SECS,
        // Unknown purposes are treated like the longest-lived one.
        _ => SESSION_TOKEN_RETENTION_SECS,
    }
}

/// When a retired key may be removed.
pub fn removable_at(purpose: &str, retired_at: i64) -> i64 {
    retired_at
        .saturating_add(retention_secs(purpose))
        .saturating_add(RETIRED_KEY_GRACE_SECS)
}

/// Resolve a `--purpose` value (`all` = every ring).
pub fn purposes(arg: &str) -> Result<Vec<&'static str>, String> {
    match arg {
        "all" => Ok(PURPOSES.to_vec()),
        crate::oidc_issuer::JWKS_PURPOSE_ALIAS => Ok(crate::oidc_issuer::JWKS_PURPOSES.to_vec()),
        p => PURPOSES
            .iter()
            .find(|x| **x == p)
            .map(|x| vec![*x])
            .ok_or_else(|| {
                format!("unknown key purpose {p:?}: expected session-token, auth-message, jwks-rs256, jwks-es384, jwks or all")
            }),
    }
}

/// One key as `opensts keys list` prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyListing {
    pub purpose: String,
    pub id: u32,
    pub created: String,
    pub retired: Option<String>,
    /// `current` (seals and opens), `active` (opens; a newer key seals), `retired` (opens until
    /// `removable_after`), `expired` (retired long enough; removed at the next prune).
    pub state: &'static str,
    pub removable_after: Option<String>,
}

fn listing(records: &[KeyringRecord], now: i64) -> Vec<KeyListing> {
    let current = records
        .iter()
        .filter(|r| r.retired_at.is_none())
        .map(|r| r.key_id)
        .max();
    records
        .iter()
        .map(|r| {
            let removable = r.retired_at.map(|t| removable_at(&r.purpose, t));
            let state = match (r.retired_at, removable) {
                (None, _) if Some(r.key_id) == current => "current",
                (None, _) => "active",
                (Some(_), Some(at)) if now >= at => "expired",
                (Some(_), _) => "retired",
            };
            KeyListing {
                purpose: r.purpose.clone(),
                id: r.key_id,
                created: timestamp(r.created_at),
                retired: r.retired_at.map(timestamp),
                state,
                removable_after: removable.map(timestamp),
            }
        })
        .collect()
}

/// Every key of every ring.
pub async fn list(store: &dyn Store, now: i64) -> Result<Vec<KeyListing>, StartError> {
    let mut out = Vec::new();
    for purpose in PURPOSES {
        let records = store.keyring_list(purpose).await?;
        out.extend(listing(&records, now));
    }
    Ok(out)
}

/// What a rotation did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RotateReport {
    pub purpose: String,
    pub new_key_id: u32,
    pub retired: Vec<u32>,
    pub removed: Vec<u32>,
}

/// How many times a rotation retries when another process inserts the same key id first.
const ROTATE_ATTEMPTS: usize = 5;

/// Rotate the ring of `purpose`: add key `max + 1`, retire the others, remove expired ones.
pub async fn rotate(
    store: &dyn Store,
    master: &MasterKey,
    purpose: &str,
    now: i64,
) -> Result<RotateReport, StartError> {
    // The JWKS rings hold sealed private keys, not data keys.
    if crate::oidc_issuer::is_jwks_purpose(purpose) {
        return crate::oidc_issuer::rotate_jwks_purpose(store, master, purpose, now).await;
    }
    for _ in 0..ROTATE_ATTEMPTS {
        // Unseals every key first: refuses to add a key under a different master key than the
        // one the ring was sealed with (creates key 1 on an empty ring).
        load_keyring(store, master, purpose, now).await?;
        let records = store.keyring_list(purpose).await?;
        let max = records.iter().map(|r| r.key_id).max().unwrap_or(0);
        let new_id = max
            .checked_add(1)
            .ok_or_else(|| StartError::Config(format!("key ring {purpose}: key ids exhausted")))?;
        let material = KeyRing::new_key_material();
        let record = KeyringRecord {
            purpose: purpose.to_string(),
            key_id: new_id,
            material_sealed: master
                .wrap_data_key(new_id, &material)
                .map_err(|e| StartError::Config(format!("sealing a new key: {e}")))?,
            created_at: now,
            retired_at: None,
        };
        match store.keyring_insert(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
        let mut retired = Vec::new();
        for r in records.iter().filter(|r| r.retired_at.is_none()) {
            match store.keyring_retire(purpose, r.key_id, now).await {
                Ok(()) => retired.push(r.key_id),
                // Removed by a concurrent prune/rotation: nothing to retire.
                Err(StoreError::NotFound(_) | StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let removed = prune(store, purpose, now).await?;
        return Ok(RotateReport {
            purpose: purpose.to_string(),
            new_key_id: new_id,
            retired,
            removed,
        });
    }
    Err(StartError::Config(format!(
        "key ring {purpose} kept changing during rotation; try again"
    )))
}

/// Delete the retired keys of `purpose` whose retention has passed. Returns their ids.
pub async fn prune(store: &dyn Store, purpose: &str, now: i64) -> Result<Vec<u32>, StoreError> {
    let records = store.keyring_list(purpose).await?;
    let mut removed = Vec::new();
    for r in &records {
        let Some(retired_at) = r.retired_at else {
            continue;
        };
        if now < removable_at(purpose, retired_at) {
            continue;
        }
        match store.keyring_delete(purpose, r.key_id).await {
            Ok(()) => removed.push(r.key_id),
            // Another node removed it first.
            Err(StoreError::NotFound(_) | StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Prune every ring (the server runs this periodically).
pub async fn prune_all(store: &dyn Store, now: i64) {
    for purpose in PURPOSES {
        match prune(store, purpose, now).await {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(purpose, ?removed, "removed expired retired keys");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, purpose, "cannot remove expired retired keys"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use opensts_core::principal::Principal;
    use opensts_core::secret::Secret;
    use opensts_core::token::{SessionClaims, SessionKind, open_token, seal_token};

    const T0: i64 = 1_800_000_000;

    async fn store() -> (tempfile::TempDir, std::sync::Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
        let s = opensts_store::open_store(&url).await.unwrap();
        s.migrate().await.unwrap();
        (dir, s)
    }

    fn claims() -> SessionClaims {
        SessionClaims::new(
            Principal::Root {
                account_id: "111122223333".into(),
            },
            Secret::new("x".repeat(40)),
            SessionKind::SessionToken,
            T0,
            T0 + SESSION_TOKEN_RETENTION_SECS,
        )
    }

    #[tokio::test]
    async fn rotate_retire_and_prune_after_the_longest_session() {
        let (_dir, store) = store().await;
        let master = MasterKey::generate();
        let p = SESSION_TOKEN_PURPOSE;
        let ring1 = load_keyring(store.as_ref(), &master, p, T0).await.unwrap();
        assert_eq!(ring1.current_id(), 1);
        let akid = "ASIAEXAMPLEEXAMPLE00";
        let old_token = seal_token(&ring1, akid, &claims()).unwrap();

        let report = rotate(store.as_ref(), &master, p, T0 + 10).await.unwrap();
        assert_eq!(
            report,
            RotateReport {
                purpose: p.into(),
                new_key_id: 2,
                retired: vec![1],
                removed: vec![],
            }
        );
        let ring2 = load_keyring(store.as_ref(), &master, p, T0 + 10)
            .await
            .unwrap();
        assert_eq!(ring2.current_id(), 2);
        assert!(ring2.is_retired(1));
        // The old session still opens; new tokens use key 2.
        assert!(open_token(&ring2, akid, &old_token).is_ok());
        let new_token = seal_token(&ring2, akid, &claims()).unwrap();
        assert!(open_token(&ring2, akid, &new_token).is_ok());

        let listed = list(store.as_ref(), T0 + 10).await.unwrap();
        let sess: Vec<_> = listed.iter().filter(|k| k.purpose == p).collect();
        assert_eq!(sess.len(), 2);
        assert_eq!((sess[0].id, sess[0].state), (1, "retired"));
        assert_eq!((sess[1].id, sess[1].state), (2, "current"));
        assert_eq!(
            sess[0].retired.as_deref(),
            Some(timestamp(T0 + 10).as_str())
        );

        // Not before the longest session it could have sealed has expired (+ grace).
        let due = removable_at(p, T0 + 10);
        assert_eq!(due, T0 + 10 + 129_600 + 900);
        assert!(prune(store.as_ref(), p, due - 1).await.unwrap().is_empty());
        let listed = list(store.as_ref(), due).await.unwrap();
        assert_eq!(
            listed
                .iter()
                .find(|k| k.id == 1 && k.purpose == p)
                .unwrap()
                .state,
            "expired"
        );
        assert_eq!(prune(store.as_ref(), p, due).await.unwrap(), vec![1]);
        let ring3 = load_keyring(store.as_ref(), &master, p, due).await.unwrap();
        assert_eq!(ring3.ids().collect::<Vec<_>>(), vec![2]);
        assert!(open_token(&ring3, akid, &old_token).is_err());

        // A second rotation also prunes what is due.
        let r = rotate(store.as_ref(), &master, p, due).await.unwrap();
        assert_eq!((r.new_key_id, r.retired.clone()), (3, vec![2]));
        let r = rotate(store.as_ref(), &master, p, removable_at(p, due))
            .await
            .unwrap();
        assert_eq!((r.new_key_id, r.retired, r.removed), (4, vec![3], vec![2]));
    }

    #[tokio::test]
    async fn message_keys_have_a_shorter_retention() {
        let (_dir, store) = store().await;
        let master = MasterKey::generate();
        let p = AUTH_MESSAGE_PURPOSE;
        rotate(store.as_ref(), &master, p, T0).await.unwrap();
        assert_eq!(removable_at(p, T0), T0 + 86_400 + 900);
        assert_eq!(
            prune(store.as_ref(), p, T0 + 86_400 + 900).await.unwrap(),
            vec![1]
        );
    }

    #[tokio::test]
    async fn rotation_refuses_a_different_master_key() {
        let (_dir, store) = store().await;
        let master = MasterKey::generate();
        load_keyring(store.as_ref(), &master, SESSION_TOKEN_PURPOSE, T0)
            .await
            .unwrap();
        let other = MasterKey::generate();
        assert!(
            rotate(store.as_ref(), &other, SESSION_TOKEN_PURPOSE, T0)
                .await
                .is_err()
        );
        assert_eq!(
            store
                .keyring_list(SESSION_TOKEN_PURPOSE)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn purpose_argument() {
        assert_eq!(purposes("all").unwrap(), PURPOSES.to_vec());
        assert_eq!(
            purposes("auth-message").unwrap(),
            vec![AUTH_MESSAGE_PURPOSE]
        );
        assert_eq!(
            purposes("jwks").unwrap(),
            crate::oidc_issuer::JWKS_PURPOSES.to_vec()
        );
        assert!(purposes("nope").is_err());
    }
}
