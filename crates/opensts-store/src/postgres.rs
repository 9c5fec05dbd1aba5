//! The PostgreSQL backend: one database shared by every node of a deployment.
//!
//! # Portability
//! The schema and queries stay within SQL that CockroachDB and YugabyteDB also speak: `BIGINT`,
//! `TEXT`, `BYTEA`; JSON documents are stored as text; `INSERT ... ON CONFLICT`, `RETURNING`;
//! no extensions, no expression indexes, no server-side collation dependence (lists are ordered
//! in Rust, byte-wise, like SQLite does). The only PostgreSQL-specific call is the advisory
//! lock that serialises migrations (skipped with a warning where the engine has none).
//!
//! # Concurrency
//! Transactions run at the default isolation (READ COMMITTED on PostgreSQL). Every write
//! transaction (`apply`, `create_account`, key-ring changes) first increments the single
//! change-counter row, which row-locks it until commit: such transactions are serialised, their
//! commit order is their counter order, and each statement after that lock sees everything
//! committed before. Preconditions are additionally enforced in the `UPDATE`/`DELETE` itself
//! (`... AND version = $n`, rows affected checked), and inserts use `ON CONFLICT DO NOTHING`.
//! Serialisation failures and deadlocks (SQLSTATE 40001, 40P01 — e.g. on CockroachDB, which runs
//! SERIALIZABLE) are retried a few times.
//!
//! `claim_once` is a single `INSERT ... ON CONFLICT ... DO UPDATE ... WHERE expires_at <= now`
//! statement; PostgreSQL resolves concurrent attempts on the same key so that exactly one of
//! them inserts or takes over the row.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};

use crate::common::{
    AccessKeyRow, EntityRow, Failure, KeyringRow, TxResult, access_key_from_row, check_expect,
    check_record_account, conflict, doc_to_db, entity_from_row, keyring_from_row,
    map_migrate_error, map_sqlx_error, name_key,
};
use crate::{
    AccessKeyRecord, Account, Entity, KeyringRecord, Result, Store, StoreError, UnixTime, Write,
};

/// Default maximum number of pooled connections per store (per process).
pub const POOL_SIZE: u32 = 10;

/// How long a caller waits for a pooled connection (or a new one) before the store reports
/// [`StoreError::Unavailable`].
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a transaction is tried when it hits a serialisation failure or deadlock.
const MAX_TX_ATTEMPTS: u32 = 5;

/// Expired one-time claims are purged on every this-many-th `claim_once` call of a store.
const CLAIM_PURGE_INTERVAL: u64 = 1024;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// A [`Store`] in a PostgreSQL database (optionally confined to one schema).
///
/// Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    claim_calls: Arc<AtomicU64>,
}

fn map_err(e: sqlx::Error) -> StoreError {
    map_sqlx_error(e, unavailable_db_error)
}

/// SQLSTATEs that mean "the database cannot serve us right now": connection exceptions (08),
/// operator intervention / shutdown (57P01-57P03), insufficient resources (53: too many
/// connections, disk full, out of memory), read-only transaction (25006: a standby after a
/// failover), and serialisation failures / deadlocks that survived the retries (40001, 40P01).
fn unavailable_db_error(e: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = e.code() else {
        return false;
    };
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code.as_ref(),
            "57P01" | "57P02" | "57P03" | "25006" | "40001" | "40P01"
        )
}

fn is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("40001") | Some("40P01"))
        }
        _ => false,
    }
}

/// 64-bit FNV-1a, used to derive stable advisory-lock keys from names.
fn lock_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// A schema name this crate accepts: `[a-z_][a-z0-9_]*`, at most 63 bytes, so it never needs
/// quoting (in SQL or in `search_path`).
fn check_schema_name(schema: &str) -> Result<()> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && schema.len() <= 63 {
        Ok(())
    } else {
        Err(StoreError::Other(format!(
            "invalid schema name {schema:?}: use [a-z_][a-z0-9_]*, at most 63 characters"
        )))
    }
}

fn parse_url(url: &str) -> Result<PgConnectOptions> {
    // The message of a parse error does not include the URL (which may hold a password).
    PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))
}

/// Runs `$body` (an expression that may use `$conn: &mut PgConnection` and evaluates to a
/// future of `TxResult<T>`) in a transaction, committing on success and retrying serialisation
/// failures and deadlocks. Evaluates to `Result<T>`.
macro_rules! in_tx {
    ($self:ident, |$conn:ident| $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut tx = $self.pool.begin().await.map_err(map_err)?;
            let result: TxResult<_> = {
                let $conn: &mut PgConnection = &mut tx;
                $body.await
            };
            let result = match result {
                Ok(value) => tx.commit().await.map(|()| value).map_err(Failure::Db),
                Err(failure) => {
                    if let Err(e) = tx.rollback().await {
                        tracing::warn!(error = %e, "PostgreSQL rollback failed");
                    }
                    Err(failure)
                }
            };
            match result {
                Ok(value) => break Ok(value),
                Err(Failure::Db(e)) if is_retryable(&e) && attempt < MAX_TX_ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "retrying transaction");
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                }
                Err(failure) => break Err(failure.into_store(map_err)),
            }
        }
    }};
}

impl PostgresStore {
    /// Connects to `url` (`postgres://` or `postgresql://`), with a pool of [`POOL_SIZE`]
    /// connections. Tables live in the first schema of the connection's `search_path`.
    /// Does not run migrations: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(parse_url(url)?).await
    }

    /// Like [`connect`](Self::connect), but confines the store to `schema`: the schema is
    /// created if missing and every connection's `search_path` is pinned to it. Several stores
    /// (test runs, tenants) can so share one database. `schema` must match `[a-z_][a-z0-9_]*`.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self> {
        check_schema_name(schema)?;
        let options = parse_url(url)?;
        create_schema_if_missing(&options, schema).await?;
        Self::connect_with(options.options([("search_path", schema)])).await
    }

    /// Connects with explicit options and the default pool settings.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool (its connections decide database, schema and limits).
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            claim_calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Closes all connections (waits for checked-out ones to come back). Later calls fail
    /// with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Deletes the one-time claims that expired at `now` (`expires_at <= now`); returns how
    /// many. `claim_once` also does this every so often by itself.
    pub async fn purge_expired_claims(&self, now: UnixTime) -> Result<u64> {
        let done = sqlx::query("DELETE FROM one_time_claims WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

/// Creates `schema` unless it exists. Two `CREATE SCHEMA IF NOT EXISTS` racing each other can
/// fail with a unique violation (23505) or `duplicate_schema` (42P06); either means another
/// node created it, which is all we want.
async fn create_schema_if_missing(options: &PgConnectOptions, schema: &str) -> Result<()> {
    let mut conn = PgConnection::connect_with(options).await.map_err(map_err)?;
    let result = async {
        let exists =
            sqlx::query("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1")
                .bind(schema)
                .fetch_optional(&mut conn)
                .await?
                .is_some();
        if !exists {
            // `schema` was checked by `check_schema_name`: nothing to quote or inject.
            let created = sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&mut conn)
            .await;
            if let Err(e) = created
                && !has_code(&e, &["23505", "42P06"])
            {
                return Err(e);
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = conn.close().await {
        tracing::debug!(error = %e, "closing the schema-creation connection failed");
    }
    result.map_err(map_err)
}

fn has_code(e: &sqlx::Error, codes: &[&str]) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| codes.contains(&c.as_ref())),
        _ => false,
    }
}

/// Increments the change counter and records it as `account_id`'s generation. Called first in
/// every write transaction: the counter row lock serialises them (see the module docs).
async fn bump(conn: &mut PgConnection, account_id: &str) -> TxResult<i64> {
    let counter: i64 = sqlx::query_scalar(
        "UPDATE change_counter SET value = value + 1 WHERE id = 1 RETURNING value",
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO account_generations (account_id, generation) VALUES ($1, $2) \
         ON CONFLICT (account_id) DO UPDATE SET generation = excluded.generation",
    )
    .bind(account_id)
    .bind(counter)
    .execute(&mut *conn)
    .await?;
    Ok(counter)
}

async fn insert_access_key(
    conn: &mut PgConnection,
    index: usize,
    key: &AccessKeyRecord,
) -> TxResult<()> {
    let done = sqlx::query(
        "INSERT INTO access_keys \
         (access_key_id, account_id, user_name, user_name_key, secret_sealed, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(&key.access_key_id)
    .bind(&key.account_id)
    .bind(key.user_name.as_deref())
    .bind(key.user_name.as_deref().map(name_key))
    .bind(&key.secret_sealed)
    .bind(key.status.as_str())
    .bind(key.created_at)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(conflict(
            index,
            format!("access key {} already exists", key.access_key_id),
        )
        .into());
    }
    Ok(())
}

async fn apply_writes(
    conn: &mut PgConnection,
    account_id: &str,
    writes: &[Write],
    now: UnixTime,
) -> TxResult<()> {
    bump(conn, account_id).await?;
    let account = sqlx::query("SELECT 1 FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_optional(&mut *conn)
        .await?;
    if account.is_none() {
        return Err(StoreError::NotFound(format!("account {account_id}")).into());
    }
    for (index, write) in writes.iter().enumerate() {
        match write {
            Write::PutEntity {
                kind,
                name,
                doc,
                expect,
            } => {
                let key = name_key(name);
                let current = entity_version(conn, account_id, kind, &key).await?;
                check_expect(*expect, current, index, kind, name)?;
                let doc = doc_to_db(doc)?;
                let done = match current {
                    Some(version) => {
                        sqlx::query(
                            "UPDATE entities SET doc = $1, version = version + 1, updated_at = $2 \
                             WHERE account_id = $3 AND kind = $4 AND name_key = $5 AND version = $6",
                        )
                        .bind(&doc)
                        .bind(now)
                        .bind(account_id)
                        .bind(kind)
                        .bind(&key)
                        .bind(version)
                        .execute(&mut *conn)
                        .await?
                    }
                    None => {
                        sqlx::query(
                            "INSERT INTO entities \
                             (account_id, kind, name_key, name, doc, version, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, 1, $6, $6) ON CONFLICT DO NOTHING",
                        )
                        .bind(account_id)
                        .bind(kind)
                        .bind(&key)
                        .bind(name)
                        .bind(&doc)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?
                    }
                };
                if done.rows_affected() != 1 {
                    return Err(
                        conflict(index, format!("{kind} '{name}' changed concurrently")).into(),
                    );
                }
            }
            Write::DeleteEntity { kind, name, expect } => {
                let key = name_key(name);
                let current = entity_version(conn, account_id, kind, &key).await?;
                check_expect(*expect, current, index, kind, name)?;
                if let Some(version) = current {
                    let done = sqlx::query(
                        "DELETE FROM entities \
                         WHERE account_id = $1 AND kind = $2 AND name_key = $3 AND version = $4",
                    )
                    .bind(account_id)
                    .bind(kind)
                    .bind(&key)
                    .bind(version)
                    .execute(&mut *conn)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(conflict(
                            index,
                            format!("{kind} '{name}' changed concurrently"),
                        )
                        .into());
                    }
                }
            }
            Write::InsertAccessKey(key) => {
                check_record_account(index, account_id, &key.account_id)?;
                insert_access_key(conn, index, key).await?;
            }
            Write::UpdateAccessKeyStatus {
                access_key_id,
                status,
            } => {
                let done = sqlx::query(
                    "UPDATE access_keys SET status = $1 WHERE access_key_id = $2 AND account_id = $3",
                )
                .bind(status.as_str())
                .bind(access_key_id)
                .bind(account_id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(missing_key(index, access_key_id, account_id).into());
                }
            }
            Write::DeleteAccessKey { access_key_id } => {
                let done = sqlx::query(
                    "DELETE FROM access_keys WHERE access_key_id = $1 AND account_id = $2",
                )
                .bind(access_key_id)
                .bind(account_id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(missing_key(index, access_key_id, account_id).into());
                }
            }
        }
    }
    Ok(())
}

fn missing_key(index: usize, access_key_id: &str, account_id: &str) -> StoreError {
    conflict(
        index,
        format!("access key {access_key_id} does not exist in account {account_id}"),
    )
}

fn missing_ring_key(purpose: &str, key_id: u32) -> StoreError {
    StoreError::NotFound(format!("key {key_id} of purpose {purpose}"))
}

async fn entity_version(
    conn: &mut PgConnection,
    account_id: &str,
    kind: &str,
    key: &str,
) -> TxResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT version FROM entities WHERE account_id = $1 AND kind = $2 AND name_key = $3",
    )
    .bind(account_id)
    .bind(kind)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?)
}

async fn create_account_tx(
    conn: &mut PgConnection,
    account: &Account,
    root_key: &AccessKeyRecord,
) -> TxResult<()> {
    bump(conn, &account.id).await?;
    let done = sqlx::query(
        "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&account.id)
    .bind(&account.name)
    .bind(account.created_at)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(conflict(0, format!("account {} already exists", account.id)).into());
    }
    insert_access_key(conn, 0, root_key).await
}

async fn keyring_insert_tx(conn: &mut PgConnection, record: &KeyringRecord) -> TxResult<()> {
    bump(conn, "").await?;
    let done = sqlx::query(
        "INSERT INTO keyring (purpose, key_id, material_sealed, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&record.purpose)
    .bind(i64::from(record.key_id))
    .bind(&record.material_sealed)
    .bind(record.created_at)
    .bind(record.retired_at)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(conflict(
            0,
            format!(
                "key {} of purpose {} already exists",
                record.key_id, record.purpose
            ),
        )
        .into());
    }
    Ok(())
}

async fn keyring_retire_tx(
    conn: &mut PgConnection,
    purpose: &str,
    key_id: u32,
    retired_at: UnixTime,
) -> TxResult<()> {
    bump(conn, "").await?;
    let done = sqlx::query("UPDATE keyring SET retired_at = $1 WHERE purpose = $2 AND key_id = $3")
        .bind(retired_at)
        .bind(purpose)
        .bind(i64::from(key_id))
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(missing_ring_key(purpose, key_id).into());
    }
    Ok(())
}

async fn keyring_delete_tx(conn: &mut PgConnection, purpose: &str, key_id: u32) -> TxResult<()> {
    bump(conn, "").await?;
    let done = sqlx::query("DELETE FROM keyring WHERE purpose = $1 AND key_id = $2")
        .bind(purpose)
        .bind(i64::from(key_id))
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(missing_ring_key(purpose, key_id).into());
    }
    Ok(())
}

/// The embedded migrations, with sqlx's own locking turned off: [`Store::migrate`] takes the
/// advisory lock itself so that it can release it reliably when a migration fails.
fn migrator() -> Migrator {
    let mut migrator = Migrator::with_migrations(MIGRATOR.iter().cloned().collect());
    migrator.set_locking(false);
    migrator
}

macro_rules! entity_columns {
    () => {
        "account_id, kind, name, doc, version, created_at, updated_at"
    };
}
macro_rules! access_key_columns {
    () => {
        "access_key_id, account_id, user_name, secret_sealed, status, created_at"
    };
}

#[async_trait]
impl Store for PostgresStore {
    /// Applies pending migrations while holding a session-level `pg_advisory_lock` derived from
    /// the target schema, so nodes starting at once run them one after the other (the later
    /// ones find nothing to do). On failure the connection is closed rather than returned to
    /// the pool, which releases the lock even if unlocking cannot be sent.
    async fn migrate(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        let outcome: std::result::Result<(), StoreError> = async {
            let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
                .fetch_one(&mut *conn)
                .await
                .map_err(map_err)?;
            let Some(schema) = schema else {
                return Err(StoreError::Other(
                    "no schema of the search_path exists to hold the tables".into(),
                ));
            };
            let key = lock_key(&format!("opensts:migrate:{schema}"));
            let locked = match sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await
            {
                Ok(_) => true,
                // No advisory locks on this engine (e.g. CockroachDB): run unguarded, as sqlx
                // itself does there; start such nodes one at a time on a new database.
                Err(e) if has_code(&e, &["42883", "0A000"]) => {
                    tracing::warn!(error = %e, "advisory locks unsupported; migrating unguarded");
                    false
                }
                Err(e) => return Err(map_err(e)),
            };
            migrator()
                .run_direct(None, &mut *conn, false)
                .await
                .map_err(|e| map_migrate_error(e, map_err))?;
            if locked {
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(key)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
            }
            Ok(())
        }
        .await;
        if outcome.is_err() {
            // Ends the session: PostgreSQL drops its advisory locks with it.
            if let Err(e) = conn.close().await {
                tracing::debug!(error = %e, "closing the migration connection failed");
            }
        }
        outcome
    }

    async fn create_account(&self, account: &Account, root_key: &AccessKeyRecord) -> Result<()> {
        check_record_account(0, &account.id, &root_key.account_id)?;
        in_tx!(self, |conn| create_account_tx(conn, account, root_key))
    }

    async fn get_account(&self, account_id: &str) -> Result<Option<Account>> {
        let row: Option<(String, String, i64)> =
            sqlx::query_as("SELECT id, name, created_at FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(row.map(|(id, name, created_at)| Account {
            id,
            name,
            created_at,
        }))
    }

    async fn list_accounts(&self) -> Result<Vec<Account>> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT id, name, created_at FROM accounts")
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        let mut accounts: Vec<Account> = rows
            .into_iter()
            .map(|(id, name, created_at)| Account {
                id,
                name,
                created_at,
            })
            .collect();
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(accounts)
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        let row: Option<AccessKeyRow> = sqlx::query_as(concat!(
            "SELECT ",
            access_key_columns!(),
            " FROM access_keys WHERE access_key_id = $1"
        ))
        .bind(access_key_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(access_key_from_row).transpose()
    }

    async fn list_access_keys(
        &self,
        account_id: &str,
        user_name: Option<&str>,
    ) -> Result<Vec<AccessKeyRecord>> {
        let rows: Vec<AccessKeyRow> = match user_name {
            None => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    access_key_columns!(),
                    " FROM access_keys WHERE account_id = $1 AND user_name IS NULL"
                ))
                .bind(account_id)
                .fetch_all(&self.pool)
                .await
            }
            Some(user) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    access_key_columns!(),
                    " FROM access_keys WHERE account_id = $1 AND user_name_key = $2"
                ))
                .bind(account_id)
                .bind(name_key(user))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(map_err)?;
        let mut keys = rows
            .into_iter()
            .map(access_key_from_row)
            .collect::<Result<Vec<_>>>()?;
        keys.sort_by(|a, b| {
            (a.created_at, &a.access_key_id).cmp(&(b.created_at, &b.access_key_id))
        });
        Ok(keys)
    }

    async fn get_entity(&self, account_id: &str, kind: &str, name: &str) -> Result<Option<Entity>> {
        let row: Option<EntityRow> = sqlx::query_as(concat!(
            "SELECT ",
            entity_columns!(),
            " FROM entities WHERE account_id = $1 AND kind = $2 AND name_key = $3"
        ))
        .bind(account_id)
        .bind(kind)
        .bind(name_key(name))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(entity_from_row).transpose()
    }

    async fn list_entities(&self, account_id: &str, kind: &str) -> Result<Vec<Entity>> {
        let rows = sqlx::query(concat!(
            "SELECT name_key, ",
            entity_columns!(),
            " FROM entities WHERE account_id = $1 AND kind = $2"
        ))
        .bind(account_id)
        .bind(kind)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut keyed = Vec::with_capacity(rows.len());
        for row in rows {
            let key: String = row.try_get("name_key").map_err(map_err)?;
            let entity: EntityRow = (
                row.try_get("account_id").map_err(map_err)?,
                row.try_get("kind").map_err(map_err)?,
                row.try_get("name").map_err(map_err)?,
                row.try_get("doc").map_err(map_err)?,
                row.try_get("version").map_err(map_err)?,
                row.try_get("created_at").map_err(map_err)?,
                row.try_get("updated_at").map_err(map_err)?,
            );
            keyed.push((key, entity));
        }
        // Byte-wise order, whatever the database's collation.
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed
            .into_iter()
            .map(|(_, row)| entity_from_row(row))
            .collect()
    }

    async fn apply(&self, account_id: &str, writes: &[Write], now: UnixTime) -> Result<()> {
        in_tx!(self, |conn| apply_writes(conn, account_id, writes, now))
    }

    async fn change_counter(&self) -> Result<i64> {
        let value: Option<i64> =
            sqlx::query_scalar("SELECT value FROM change_counter WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(value.unwrap_or(0))
    }

    async fn changes_since(&self, counter: i64) -> Result<(i64, Vec<(String, i64)>)> {
        // Counter first: a change committed between the two reads then shows up in the list
        // (and again next time, harmlessly) instead of being skipped.
        let current = self.change_counter().await?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT account_id, generation FROM account_generations \
             WHERE generation > $1 ORDER BY generation",
        )
        .bind(counter)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok((current, rows))
    }

    async fn keyring_list(&self, purpose: &str) -> Result<Vec<KeyringRecord>> {
        let rows: Vec<KeyringRow> = sqlx::query_as(
            "SELECT purpose, key_id, material_sealed, created_at, retired_at FROM keyring \
             WHERE purpose = $1 ORDER BY key_id",
        )
        .bind(purpose)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(keyring_from_row).collect()
    }

    async fn keyring_insert(&self, record: &KeyringRecord) -> Result<()> {
        in_tx!(self, |conn| keyring_insert_tx(conn, record))
    }

    async fn keyring_retire(&self, purpose: &str, key_id: u32, retired_at: UnixTime) -> Result<()> {
        in_tx!(self, |conn| keyring_retire_tx(
            conn, purpose, key_id, retired_at
        ))
    }

    async fn keyring_delete(&self, purpose: &str, key_id: u32) -> Result<()> {
        in_tx!(self, |conn| keyring_delete_tx(conn, purpose, key_id))
    }

    async fn claim_once(
        &self,
        scope: &str,
        id: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool> {
        let calls = self.claim_calls.fetch_add(1, Ordering::Relaxed);
        if calls.is_multiple_of(CLAIM_PURGE_INTERVAL)
            && let Err(e) = self.purge_expired_claims(now).await
        {
            tracing::warn!(error = %e, "purging expired one-time claims failed");
        }
        let done = sqlx::query(
            "INSERT INTO one_time_claims (scope, id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, id) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE one_time_claims.expires_at <= $4",
        )
        .bind(scope)
        .bind(id)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) {
        PostgresStore::close(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        assert!(check_schema_name("opensts").is_ok());
        assert!(check_schema_name("_t1_x").is_ok());
        assert!(check_schema_name("").is_err());
        assert!(check_schema_name("1abc").is_err());
        assert!(check_schema_name("Abc").is_err());
        assert!(check_schema_name("a;drop").is_err());
        assert!(check_schema_name("a\"b").is_err());
        assert!(check_schema_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(
            lock_key("opensts:migrate:public"),
            lock_key("opensts:migrate:public")
        );
        assert_ne!(lock_key("opensts:migrate:a"), lock_key("opensts:migrate:b"));
    }
}
