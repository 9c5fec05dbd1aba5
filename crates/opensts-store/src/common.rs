//! Logic shared by the backends: key folding, preconditions, row conversions, error plumbing.

use crate::{Expect, KeyStatus, Result, StoreError, UnixTime};

/// Folds an IAM name to the key it is unique under (IAM names are case-insensitive).
///
/// Every backend folds in Rust with this function (never with SQL `lower()`, whose behaviour
/// differs between SQLite, PostgreSQL locales and other engines).
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// The error of a step inside a transaction: either a decided outcome ([`StoreError`]) or a
/// raw database error that the backend classifies (and may retry) before it reaches callers.
#[derive(Debug)]
pub(crate) enum Failure {
    Store(StoreError),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl Failure {
    pub(crate) fn into_store(self, map: fn(sqlx::Error) -> StoreError) -> StoreError {
        match self {
            Failure::Store(e) => e,
            Failure::Db(e) => map(e),
        }
    }
}

pub(crate) type TxResult<T> = std::result::Result<T, Failure>;

pub(crate) fn conflict(index: usize, reason: impl Into<String>) -> StoreError {
    StoreError::Conflict {
        index,
        reason: reason.into(),
    }
}

/// Checks the precondition of an entity write against the current version (`None` = absent).
pub(crate) fn check_expect(
    expect: Expect,
    current: Option<i64>,
    index: usize,
    kind: &str,
    name: &str,
) -> std::result::Result<(), StoreError> {
    match (expect, current) {
        (Expect::Any, _) | (Expect::Absent, None) | (Expect::Exists, Some(_)) => Ok(()),
        (Expect::Absent, Some(_)) => {
            Err(conflict(index, format!("{kind} '{name}' already exists")))
        }
        (Expect::Exists | Expect::Version(_), None) => {
            Err(conflict(index, format!("{kind} '{name}' does not exist")))
        }
        (Expect::Version(want), Some(have)) if want == have => Ok(()),
        (Expect::Version(want), Some(have)) => Err(conflict(
            index,
            format!("{kind} '{name}' is at version {have}, expected version {want}"),
        )),
    }
}

pub(crate) fn status_from_db(s: &str) -> Result<KeyStatus> {
    match s {
        "Active" => Ok(KeyStatus::Active),
        "Inactive" => Ok(KeyStatus::Inactive),
        other => Err(StoreError::Other(format!(
            "invalid access key status in the database: {other:?}"
        ))),
    }
}

pub(crate) fn key_id_from_db(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Other(format!("invalid key id in the database: {v}")))
}

pub(crate) fn doc_to_db(doc: &serde_json::Value) -> Result<String> {
    serde_json::to_string(doc).map_err(|e| StoreError::Other(format!("encoding a document: {e}")))
}

pub(crate) fn doc_from_db(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Other(format!("invalid JSON document in the database: {e}")))
}

/// `(account_id, kind, name, doc, version, created_at, updated_at)`
pub(crate) type EntityRow = (String, String, String, String, i64, UnixTime, UnixTime);

pub(crate) fn entity_from_row(row: EntityRow) -> Result<crate::Entity> {
    let (account_id, kind, name, doc, version, created_at, updated_at) = row;
    Ok(crate::Entity {
        account_id,
        kind,
        name,
        doc: doc_from_db(&doc)?,
        version,
        created_at,
        updated_at,
    })
}

/// `(access_key_id, account_id, user_name, secret_sealed, status, created_at)`
pub(crate) type AccessKeyRow = (String, String, Option<String>, Vec<u8>, String, UnixTime);

pub(crate) fn access_key_from_row(row: AccessKeyRow) -> Result<crate::AccessKeyRecord> {
    let (access_key_id, account_id, user_name, secret_sealed, status, created_at) = row;
    Ok(crate::AccessKeyRecord {
        access_key_id,
        account_id,
        user_name,
        secret_sealed,
        status: status_from_db(&status)?,
        created_at,
    })
}

/// `(purpose, key_id, material_sealed, created_at, retired_at)`
pub(crate) type KeyringRow = (String, i64, Vec<u8>, UnixTime, Option<UnixTime>);

pub(crate) fn keyring_from_row(row: KeyringRow) -> Result<crate::KeyringRecord> {
    let (purpose, key_id, material_sealed, created_at, retired_at) = row;
    Ok(crate::KeyringRecord {
        purpose,
        key_id: key_id_from_db(key_id)?,
        material_sealed,
        created_at,
        retired_at,
    })
}

/// Maps the errors every driver shares; database errors go to the backend's classifier.
pub(crate) fn map_sqlx_error(
    e: sqlx::Error,
    unavailable_db_error: fn(&dyn sqlx::error::DatabaseError) -> bool,
) -> StoreError {
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(db) if unavailable_db_error(db.as_ref()) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

pub(crate) fn map_migrate_error(
    e: sqlx::migrate::MigrateError,
    map: fn(sqlx::Error) -> StoreError,
) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => map(e),
        sqlx::migrate::MigrateError::ExecuteMigration(e, version) => match map(e) {
            StoreError::Unavailable(m) => StoreError::Unavailable(m),
            other => StoreError::Other(format!("migration {version} failed: {other}")),
        },
        other => StoreError::Other(format!("migration failed: {other}")),
    }
}

pub(crate) fn check_record_account(
    index: usize,
    batch_account: &str,
    record_account: &str,
) -> std::result::Result<(), StoreError> {
    if batch_account == record_account {
        Ok(())
    } else {
        Err(StoreError::Other(format!(
            "write {index}: the access key belongs to account {record_account}, \
             but the batch is for account {batch_account}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expect_matrix() {
        assert!(check_expect(Expect::Any, None, 0, "user", "a").is_ok());
        assert!(check_expect(Expect::Any, Some(3), 0, "user", "a").is_ok());
        assert!(check_expect(Expect::Absent, None, 0, "user", "a").is_ok());
        assert!(check_expect(Expect::Absent, Some(1), 0, "user", "a").is_err());
        assert!(check_expect(Expect::Exists, Some(1), 0, "user", "a").is_ok());
        assert!(check_expect(Expect::Exists, None, 0, "user", "a").is_err());
        assert!(check_expect(Expect::Version(2), Some(2), 0, "user", "a").is_ok());
        assert!(check_expect(Expect::Version(2), Some(3), 0, "user", "a").is_err());
        assert!(check_expect(Expect::Version(2), None, 0, "user", "a").is_err());
        match check_expect(Expect::Absent, Some(1), 7, "user", "a") {
            Err(StoreError::Conflict { index, .. }) => assert_eq!(index, 7),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn name_key_folds_case() {
        assert_eq!(name_key("Alice"), "alice");
        assert_eq!(name_key("ALICE@example.COM"), "alice@example.com");
        assert_eq!(name_key("Ünïcode"), "ünïcode");
    }
}
