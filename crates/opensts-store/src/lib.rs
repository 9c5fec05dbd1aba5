//! Persistence for OpenSTS: the [`Store`] trait and its backends.
//!
//! * Accounts and access keys are typed rows (access keys are looked up by id across accounts).
//! * Every IAM entity (user, role, group, managed policy, SAML/OIDC provider, MFA device, ...) is
//!   a JSON document in one table, keyed by `(account_id, kind, name_key)` where `name_key` is
//!   the lower-cased name: IAM names are unique case-insensitively, and the original spelling is
//!   kept in [`Entity::name`].
//! * Writes to an account go through [`Store::apply`]: all-or-nothing, with per-write
//!   preconditions. Every successful write (including account creation and key-ring changes)
//!   increases a global change counter and records it as the generation of the account it
//!   touched, so caches on every node can find out what changed ([`Store::changes_since`]).
//! * One-time state (used MFA codes, SAML assertion ids) is claimed with [`Store::claim_once`].
//! * The key ring (session-token keys, message keys, JWKS keys) is stored sealed by the master
//!   key; this crate never sees plaintext key material.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use async_trait::async_trait;

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// An account (the unit of isolation, like an AWS account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// 12 digits.
    pub id: String,
    pub name: String,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

/// A long-term access key (`AKIA...`) of an account's root or of an IAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub account_id: String,
    /// `None` for the account's root credentials; otherwise the IAM user's name as spelled at
    /// creation (lookups by user compare case-insensitively).
    pub user_name: Option<String>,
    /// The secret access key sealed by the master key (never plaintext).
    pub secret_sealed: Vec<u8>,
    pub status: KeyStatus,
    pub created_at: UnixTime,
}

/// One IAM entity as a JSON document.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub account_id: String,
    /// e.g. "user", "role", "group", "policy", "saml-provider", "oidc-provider", "mfa".
    pub kind: String,
    /// The name as spelled at creation.
    pub name: String,
    pub doc: serde_json::Value,
    /// Starts at 1, increases by one on every update.
    pub version: i64,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// Precondition of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No precondition.
    Any,
    /// The entity must not exist (create).
    Absent,
    /// The entity must exist (any version).
    Exists,
    /// The entity must exist with exactly this version (optimistic concurrency).
    Version(i64),
}

/// One write of an [`Store::apply`] batch. All writes of a batch belong to one account.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Insert or replace an entity (`updated_at` = `now`; version 1 on insert, +1 on update;
    /// `created_at` is kept on update).
    PutEntity {
        kind: String,
        name: String,
        doc: serde_json::Value,
        expect: Expect,
    },
    DeleteEntity {
        kind: String,
        name: String,
        expect: Expect,
    },
    /// Insert a new access key; fails with `Conflict` if the id exists.
    InsertAccessKey(AccessKeyRecord),
    /// Fails with `Conflict` if the key does not exist in this account.
    UpdateAccessKeyStatus {
        access_key_id: String,
        status: KeyStatus,
    },
    /// Fails with `Conflict` if the key does not exist in this account.
    DeleteAccessKey { access_key_id: String },
}

/// A key-ring entry (key material sealed by the master key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringRecord {
    /// e.g. "session-token", "auth-message", "jwks".
    pub purpose: String,
    pub key_id: u32,
    pub material_sealed: Vec<u8>,
    pub created_at: UnixTime,
    /// Set when the key stops being used for new seals.
    pub retired_at: Option<UnixTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A precondition failed or a unique key exists; `index` is the position of the failing
    /// write in an `apply` batch (0 for single operations).
    #[error("conflict at write {index}: {reason}")]
    Conflict { index: usize, reason: String },
    #[error("not found: {0}")]
    NotFound(String),
    /// The database cannot be reached (maps to `ServiceUnavailable`).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Apply pending migrations (safe when several processes start at once).
    async fn migrate(&self) -> Result<()>;

    /// Create an account together with its first root access key, atomically.
    /// `Conflict` if the account id or the key id exists.
    async fn create_account(&self, account: &Account, root_key: &AccessKeyRecord) -> Result<()>;
    async fn get_account(&self, account_id: &str) -> Result<Option<Account>>;
    /// Ordered by id.
    async fn list_accounts(&self) -> Result<Vec<Account>>;

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>>;
    /// Keys of one principal: `user_name = None` lists root keys; `Some(name)` matches the user
    /// name case-insensitively. Ordered by `created_at`, then id.
    async fn list_access_keys(
        &self,
        account_id: &str,
        user_name: Option<&str>,
    ) -> Result<Vec<AccessKeyRecord>>;

    /// `name` is matched case-insensitively.
    async fn get_entity(&self, account_id: &str, kind: &str, name: &str) -> Result<Option<Entity>>;
    /// All entities of one kind in an account, ordered by `name_key`.
    async fn list_entities(&self, account_id: &str, kind: &str) -> Result<Vec<Entity>>;

    /// Apply a batch of writes to one account atomically. On success, bumps the global change
    /// counter once and sets the account's generation to it.
    async fn apply(&self, account_id: &str, writes: &[Write], now: UnixTime) -> Result<()>;

    /// The current value of the global change counter (0 on an empty store).
    async fn change_counter(&self) -> Result<i64>;
    /// Accounts whose generation is greater than `counter`, with their generation; plus the
    /// current counter. An account id of `""` means a change that is not account-bound
    /// (the key ring).
    async fn changes_since(&self, counter: i64) -> Result<(i64, Vec<(String, i64)>)>;

    /// Key-ring entries of one purpose, ordered by key id.
    async fn keyring_list(&self, purpose: &str) -> Result<Vec<KeyringRecord>>;
    /// `Conflict` if `(purpose, key_id)` exists.
    async fn keyring_insert(&self, record: &KeyringRecord) -> Result<()>;
    async fn keyring_retire(&self, purpose: &str, key_id: u32, retired_at: UnixTime) -> Result<()>;
    async fn keyring_delete(&self, purpose: &str, key_id: u32) -> Result<()>;

    /// Record a one-time value. Returns `true` if this call claimed it, `false` if it was
    /// already claimed and has not expired (`expires_at > now`). Expired claims may be purged.
    async fn claim_once(
        &self,
        scope: &str,
        id: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool>;

    /// One-time values *issued* at or before this time (Unix seconds) may have been claimed by
    /// a commit that an OS crash or power loss undid, so a second use of them cannot be told
    /// from a first: callers must refuse them (allowing for their own clock skew). `None`
    /// (the default) when every acknowledged claim is durable. The SQLite store commits claims
    /// without an fsync and sets this after an unclean shutdown of the machine (see
    /// [`sqlite`'s module doc](crate::sqlite)).
    fn claims_uncertain_until(&self) -> Option<UnixTime> {
        None
    }

    /// Small server-wide settings (e.g. the default account id).
    async fn get_setting(&self, key: &str) -> Result<Option<String>>;
    /// Insert or replace.
    async fn put_setting(&self, key: &str, value: &str) -> Result<()>;

    /// Shut down cleanly: make every acknowledged write durable and close the connections.
    /// Later calls fail with [`StoreError::Unavailable`]. The server calls it on graceful
    /// shutdown; a store that is just dropped is not corrupted, but may count as an unclean
    /// shutdown (see [`Store::claims_uncertain_until`]).
    async fn close(&self);
}

mod common;
pub mod postgres;
pub mod sqlite;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use common::name_key;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use std::sync::Arc;

/// Opens the store named by `url`, choosing the backend by scheme:
/// * `sqlite:` / `sqlite://` — [`SqliteStore::open`] (the file is created if missing;
///   `sqlite::memory:` is a private in-memory database);
/// * `postgres://` / `postgresql://` — [`PostgresStore::connect`].
///
/// Migrations are not run: call [`Store::migrate`].
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PostgresStore::connect(url).await?)),
        // Never echo the URL: it may hold a password.
        _ => Err(StoreError::Other(format!(
            "unsupported store URL scheme {scheme:?}: expected sqlite: or postgres://"
        ))),
    }
}
