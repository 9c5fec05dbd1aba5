//! The SQLite backend: one database file, for single-node deployments.
//!
//! # Connections and concurrency
//! SQLite lets one writer at a time into a database file. The store keeps two pools:
//! * a **writer pool of exactly one connection**: writes inside this process queue for it in
//!   the pool (never inside SQLite), and every write transaction starts with `BEGIN IMMEDIATE`,
//!   which takes the file's write lock up front. A writer in *another* process (e.g. `opensts
//!   account create` next to a running server) therefore waits in SQLite's busy handler for up
//!   to [`BUSY_TIMEOUT`] instead of failing with `SQLITE_BUSY`: a deferred `BEGIN` could fail
//!   mid-transaction when upgrading from read to write, which the busy handler cannot fix.
//! * a **reader pool** of [`READ_POOL_SIZE`] connections. In WAL mode readers never block the
//!   writer nor each other, and each statement sees the last committed state.
//!
//! # Durability
//! `journal_mode=WAL` with `synchronous=FULL`: every commit fsyncs the WAL before it returns,
//! so an acknowledged write survives `kill -9` of the process *and* an OS crash or power loss.
//! (`synchronous=NORMAL` would survive `kill -9` but could lose the last commits on power
//! loss.) The price is one fsync per write transaction, which is fine for IAM-rate writes;
//! reads are unaffected.
//!
//! `foreign_keys=ON` (SQLite leaves it off by default).
//!
//! # One-time claims: group commit
//! `claim_once` runs on the request path of every `AssumeRoleWithSAML` (the assertion-replay
//! cache), so one fsync per claim would cap that action at the disk's fsync rate. Claims are
//! therefore committed in groups: each call queues its claim, and whoever holds the claim
//! lock next commits every queued claim (at most [`CLAIM_BATCH_MAX`]) in one write
//! transaction, then answers each caller. A caller is answered only after the transaction
//! holding its claim committed; claims that arrive while a commit is in flight share the next
//! commit. The commit runs in its own task, so a caller that goes away (client disconnect)
//! cannot leave other callers' claims half done.
//!
//! # One-time claims: committed without fsync, guarded by the boot id
//! A claim only has to outlive the assertion (or MFA code) it burns, and a lost claim is only
//! a danger if the value it burnt can be used again. So claim groups are committed with
//! `synchronous=NORMAL` (the WAL is written but not fsynced): a claim survives `kill -9` of
//! the process (the page cache holds it) but could vanish in an OS crash or power loss. The
//! store closes that gap instead of paying an fsync per group:
//! * before a process commits its first claim this way, it records itself in `settings` (row
//!   [`CLAIMS_RUN_PREFIX`]`<run id>` = the kernel's boot id, `/proc/sys/kernel/random/boot_id`),
//!   with a full fsync; [`SqliteStore::close`] (graceful shutdown) fsyncs and deletes the row;
//! * [`Store::migrate`] looks for rows left by a **previous boot**: their process neither shut
//!   down cleanly nor had its page cache survive, so some of its claims may be lost. It then
//!   records a durable horizon (row [`CLAIMS_HORIZON_SETTING`], the time of that start) and
//!   deletes the rows. [`Store::claims_uncertain_until`] reports it, and the server refuses
//!   every one-time value issued at or before it (plus clock skew): a SAML assertion or MFA
//!   code from before the crash cannot be replayed, whatever was lost;
//! * any later fsynced commit (an IAM write, the next start) also makes the earlier claims
//!   durable, since the WAL is one file written in order.
//!
//! Without a boot id (not Linux) or for an in-memory database, claims keep `synchronous=FULL`.
//!
//! # The WAL under a steady stream of claims
//! The claim connection never checkpoints by itself (a checkpoint fsyncs, stalling every
//! queued claim); every `CLAIM_PURGE_INTERVAL` claims a background task purges expired claims
//! and checkpoints from a read connection. SQLite restarts the WAL from its beginning only
//! after a checkpoint copied back *every* frame, which a background checkpoint never does while
//! claims keep committing: once the WAL reaches `WAL_RESTART_FRAMES`, the task lets its passes
//! catch up and then runs one short pass on the claim connection itself, between two claim
//! groups, so that the next group restarts the WAL. Every connection sets
//! `journal_size_limit` ([`WAL_SIZE_LIMIT_BYTES`]): a WAL grown larger by a burst is truncated
//! when it restarts.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::common::{
    AccessKeyRow, EntityRow, KeyringRow, TxResult, access_key_from_row, check_expect,
    check_record_account, conflict, doc_to_db, entity_from_row, keyring_from_row,
    map_migrate_error, map_sqlx_error, name_key,
};
use crate::{
    AccessKeyRecord, Account, Entity, KeyringRecord, Result, Store, StoreError, UnixTime, Write,
};

/// How long a statement waits for another process's write lock before giving up with
/// [`StoreError::Unavailable`] (SQLite's `busy_timeout`).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opening: how often, and how long apart, the writer's connection is retried when switching
/// the file to WAL meets another process doing the same (at most about 2 s in all).
const OPEN_BUSY_RETRIES: u32 = 100;
const OPEN_BUSY_BACKOFF: Duration = Duration::from_millis(20);

/// Number of read connections (the writer has exactly one).
pub const READ_POOL_SIZE: u32 = 4;

/// How long a caller waits for a pooled connection (in-process writers queue here).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Expired one-time claims are purged on every this-many-th `claim_once` call of a store.
const CLAIM_PURGE_INTERVAL: u64 = 1024;

/// Size to which the WAL file is truncated when SQLite restarts it from the beginning (after a
/// checkpoint copied every frame back): bounds the disk a burst of writes leaves behind. Above
/// what [`WAL_RESTART_FRAMES`] lets the WAL reach, so that a steady stream of claims reuses the
/// file's pages instead of truncating and regrowing it.
pub const WAL_SIZE_LIMIT_BYTES: u64 = 160 * 1024 * 1024;

/// WAL upkeep (see [`SqliteStore::spawn_claim_upkeep`]): once the WAL holds this many frames
/// (of about 4 KiB each, so about 135 MB), the upkeep restarts it, holding up claims for the
/// last, short checkpoint pass (a millisecond or two): at 18,000 SAML sign-ins per second
/// about every 1.5 s, rarely enough to stay out of the p99 (8,192 frames cost ~0.3 ms of p99
/// in `scripts/bench`). (Unit tests use a smaller value to reach it quickly.)
const WAL_RESTART_FRAMES: i64 = if cfg!(test) { 1024 } else { 32768 };
/// Background checkpoint passes are repeated until one leaves fewer than this many new frames
/// behind it, at most [`WAL_CATCH_UP_PASSES`] passes in all.
const WAL_CATCH_UP_FRAMES: i64 = 32;
const WAL_CATCH_UP_PASSES: usize = 4;

/// Most one-time claims committed in one write transaction (group commit, see the module doc).
pub const CLAIM_BATCH_MAX: usize = 512;

/// `settings` rows `<prefix><run id>` = boot id: processes that may have claims not yet
/// fsynced (see the module doc).
pub const CLAIMS_RUN_PREFIX: &str = "sqlite.unsynced-claims-run.";

/// `settings` row: one-time values issued at or before this Unix time may have lost their
/// claim in an OS crash ([`Store::claims_uncertain_until`]).
pub const CLAIMS_HORIZON_SETTING: &str = "sqlite.claims-uncertain-until";

/// Where Linux publishes the id of the current boot (a new one on every boot).
const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// The kernel's boot id, if this system has one.
fn current_boot_id() -> Option<String> {
    let id = std::fs::read_to_string(BOOT_ID_PATH).ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// Claims committed without fsync: the state of one store (shared by its clones).
#[derive(Debug, Default)]
struct UnsyncedClaims {
    /// Set by `migrate` once the previous boot's leftovers were checked (file-backed stores on
    /// a system with a boot id only): from then on claims may skip the fsync.
    boot_id: OnceLock<String>,
    /// This process's `settings` row, once written (under the claim commit lock).
    run_key: OnceLock<String>,
    /// [`Store::claims_uncertain_until`], read (and maybe raised) by `migrate`.
    horizon: OnceLock<UnixTime>,
}

/// A queued `claim_once` call waiting for the group commit.
#[derive(Debug)]
struct PendingClaim {
    scope: String,
    id: String,
    expires_at: UnixTime,
    now: UnixTime,
    reply: tokio::sync::oneshot::Sender<Result<bool>>,
}

/// The group-commit queue of one-time claims, shared by the clones of a store.
#[derive(Debug, Default)]
struct ClaimQueue {
    pending: Mutex<Vec<PendingClaim>>,
    /// Held by the task committing a group; the next holder commits what queued meanwhile.
    commit: Arc<tokio::sync::Mutex<()>>,
    /// A background upkeep (purge, checkpoint) is running.
    upkeep_running: std::sync::atomic::AtomicBool,
}

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// A [`Store`] in one SQLite database file (or in memory, for tests).
///
/// Cheap to clone: clones share the pools.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    claim_calls: Arc<AtomicU64>,
    claims: Arc<ClaimQueue>,
    /// The connection that commits claims without fsync (`synchronous=NORMAL`, see the
    /// module doc); `None` in memory.
    claim_writer: Option<SqlitePool>,
    unsynced: Arc<UnsyncedClaims>,
}

fn map_err(e: sqlx::Error) -> StoreError {
    map_sqlx_error(e, unavailable_db_error)
}

/// SQLite result codes that mean "the database cannot be used right now" rather than "this
/// request is wrong": BUSY (after the busy timeout), LOCKED, READONLY, IOERR, FULL, CANTOPEN,
/// PROTOCOL. The code sqlx reports is the extended one; the primary code is its low byte.
fn unavailable_db_error(e: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = e.code().and_then(|c| c.parse::<i32>().ok()) else {
        return false;
    };
    matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14 | 15)
}

fn is_memory_url(url: &str) -> bool {
    let rest = url.get("sqlite:".len()..).unwrap_or("");
    rest == ":memory:" || rest.starts_with(":memory:?") || rest.contains("mode=memory")
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `url_or_path`: either a `sqlite:` URL
    /// (`sqlite://<data-dir>/opensts.db?mode=rwc`, `sqlite:relative.db`, `sqlite::memory:`) or a
    /// plain file path. Does not run migrations: call [`Store::migrate`].
    pub async fn open(url_or_path: &str) -> Result<Self> {
        let has_scheme = url_or_path
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("sqlite:"));
        if has_scheme {
            if is_memory_url(url_or_path) {
                return Self::open_in_memory().await;
            }
            let options = SqliteConnectOptions::from_str(url_or_path)
                .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?;
            Self::open_with(options).await
        } else {
            Self::open_path(url_or_path).await
        }
    }

    /// Opens (creating it if missing) the database file at `path`.
    pub async fn open_path(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a database with the given options; the store's own settings (create if missing,
    /// WAL, `synchronous=FULL`, foreign keys, busy timeout) override the corresponding ones.
    pub async fn open_with(options: SqliteConnectOptions) -> Result<Self> {
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Full)
            .pragma("journal_size_limit", WAL_SIZE_LIMIT_BYTES.to_string());
        // The writer connects first and switches the file to WAL (a persistent property of the
        // file); readers then just use it. Switching journal mode needs an exclusive lock that
        // the busy handler does not wait for, so only one connection ever asks for it.
        // Two processes opening a new file at once can meet in that switch: SQLITE_BUSY at
        // once, which the busy handler does not cover; retry for a bounded time.
        let mut attempt = 0;
        let writer = loop {
            let connected = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone().journal_mode(SqliteJournalMode::Wal))
                .await
                .map_err(map_err);
            match connected {
                Err(StoreError::Unavailable(_)) if attempt < OPEN_BUSY_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(OPEN_BUSY_BACKOFF).await;
                }
                other => break other?,
            }
        };
        // Connected on first use, like the readers: connecting runs PRAGMAs, which could meet
        // another process switching the file to WAL (a lock the busy handler does not wait for).
        let claim_writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(
                options
                    .clone()
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("wal_autocheckpoint", "0"),
            );
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        Ok(Self {
            writer,
            reader,
            claim_calls: Arc::new(AtomicU64::new(0)),
            claims: Arc::default(),
            claim_writer: Some(claim_writer),
            unsynced: Arc::default(),
        })
    }

    /// A private in-memory database (for tests). It lives in a single connection that is never
    /// recycled, shared by reads and writes, and disappears with the last clone of the store.
    pub async fn open_in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
            claim_calls: Arc::new(AtomicU64::new(0)),
            claims: Arc::default(),
            claim_writer: None,
            unsynced: Arc::default(),
        })
    }

    /// Shuts down cleanly: if this process committed claims without fsync, fsyncs them and
    /// removes its [`CLAIMS_RUN_PREFIX`] row (so the next boot does not count it as a crash),
    /// then closes all connections (waits for checked-out ones to come back). Later calls fail
    /// with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        // Under the commit lock: no claim group is in flight, and none starts after this.
        let _guard = self.claims.commit.lock().await;
        if let Some(key) = self.unsynced.run_key.get() {
            // A synchronous=FULL commit: fsyncs the WAL, earlier unsynced claims included.
            let deleted = sqlx::query("DELETE FROM settings WHERE name = $1")
                .bind(key)
                .execute(&self.writer)
                .await;
            if let Err(e) = deleted {
                tracing::warn!(error = %e, "could not record the clean shutdown of the one-time claims");
            }
        }
        if let Some(w) = &self.claim_writer {
            w.close().await;
        }
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Called by `migrate`: if a process of an earlier boot may have left claims unsynced,
    /// raise the durable horizon to now; then let this store skip the fsync for claims.
    async fn check_unsynced_claims(&self) -> Result<()> {
        if self.claim_writer.is_none() {
            return Ok(());
        }
        let Some(boot_id) = current_boot_id() else {
            return Ok(());
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let mut tx = self.begin_write().await?;
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT name, value FROM settings WHERE substr(name, 1, $1) = $2")
                .bind(CLAIMS_RUN_PREFIX.len() as i64)
                .bind(CLAIMS_RUN_PREFIX)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(CLAIMS_HORIZON_SETTING)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        let mut horizon = stored.and_then(|v| v.parse::<UnixTime>().ok());
        let crashed: Vec<&String> = rows
            .iter()
            .filter(|(_, boot)| *boot != boot_id)
            .map(|(name, _)| name)
            .collect();
        if !crashed.is_empty() {
            tracing::warn!(
                processes = crashed.len(),
                horizon = now,
                "the machine restarted while a server had one-time claims not yet fsynced: \
                 SAML assertions and MFA codes issued before now (plus clock skew) are refused"
            );
            let raised = horizon.map_or(now, |h| h.max(now));
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(CLAIMS_HORIZON_SETTING)
            .bind(raised.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            for name in crashed {
                sqlx::query("DELETE FROM settings WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            horizon = Some(raised);
        }
        tx.commit().await.map_err(map_err)?;
        if let Some(h) = horizon {
            let _ = self.unsynced.horizon.set(h);
        }
        let _ = self.unsynced.boot_id.set(boot_id);
        Ok(())
    }

    /// Before claims may skip the fsync: records this process's run (with an fsync) if it has
    /// a boot id and has not yet; [`Self::claims_pool`] then picks the unsynced connection.
    /// Called under the claim commit lock.
    async fn record_unsynced_run(&self) {
        let Some(boot_id) = self.unsynced.boot_id.get() else {
            return;
        };
        if self.unsynced.run_key.get().is_some() {
            return;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let key = format!("{CLAIMS_RUN_PREFIX}{}-{nanos}", std::process::id());
        let recorded = sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
            .bind(&key)
            .bind(boot_id)
            .execute(&self.writer)
            .await;
        match recorded {
            Ok(_) => {
                let _ = self.unsynced.run_key.set(key);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not record the unsynced-claims run; claims stay fsynced");
            }
        }
    }

    /// The connection claims are committed on: the unsynced claim connection once this
    /// process recorded its run ([`Self::record_unsynced_run`]), the writer otherwise.
    fn claims_pool(&self) -> &SqlitePool {
        match (&self.claim_writer, self.unsynced.run_key.get()) {
            (Some(unsynced), Some(_)) => unsynced,
            _ => &self.writer,
        }
    }

    /// Deletes the one-time claims that expired at `now` (`expires_at <= now`); returns how
    /// many. `claim_once` also does this every so often by itself.
    pub async fn purge_expired_claims(&self, now: UnixTime) -> Result<u64> {
        purge_claims(&self.writer, now).await
    }

    /// Upkeep every [`CLAIM_PURGE_INTERVAL`] claims, in the background so that no claim waits
    /// for it (at most one at a time): purge the expired claims, then checkpoint the WAL —
    /// the claim connection never checkpoints by itself (`wal_autocheckpoint=0`), since a
    /// checkpoint fsyncs and would stall every claim queued behind it.
    ///
    /// The checkpoint has two steps. A checkpoint on another connection copies most frames
    /// back without holding up claims, but under a steady stream of claims it never catches up
    /// with the last commit, and SQLite only restarts the WAL from its beginning when every
    /// frame has been copied back: the file would grow without bound (about 70 MB/s at
    /// 10,000 claims/s) and every append would land on fresh, zero-filled page-cache pages.
    /// So once the WAL has grown to [`WAL_RESTART_FRAMES`], a last checkpoint pass runs on the
    /// claim connection itself, between two claim groups: it copies back only the frames
    /// written since the previous pass (a millisecond or two), and the next claim group
    /// restarts the WAL (see [`Self::checkpoint_claims_wal`]).
    fn spawn_claim_upkeep(&self, now: UnixTime) {
        if self.claims.upkeep_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            // Through the connection that commits the claims, when they go through the claim
            // connection: a DELETE takes the file's write lock even when it deletes nothing,
            // and a claim group meeting it from another connection would sleep in SQLite's
            // busy handler (1, 2, 5 ms, …) instead of queueing for a moment. A purge lost to
            // an OS crash only brings back claims that had expired.
            if let Err(e) = purge_claims(store.claims_pool(), now).await {
                tracing::warn!(error = %e, "purging expired one-time claims failed");
            }
            if let Some(claims) = &store.claim_writer {
                store.checkpoint_claims_wal(claims).await;
            }
            store.claims.upkeep_running.store(false, Ordering::Release);
        });
    }

    /// The checkpoint of [`Self::spawn_claim_upkeep`]: one pass on a read connection; if the
    /// WAL has reached [`WAL_RESTART_FRAMES`], more passes while each leaves more than
    /// [`WAL_CATCH_UP_FRAMES`] new frames behind it (each copies back the frames written during
    /// the previous one, so they shrink; at most [`WAL_CATCH_UP_PASSES`] in all), then the short
    /// pass on the claim connection after which the next claim group restarts the WAL.
    async fn checkpoint_claims_wal(&self, claims: &SqlitePool) {
        let warn = |e: StoreError| tracing::warn!(error = %e, "checkpointing the WAL failed");
        let mut last_log = match checkpoint_passive(&self.reader).await {
            Ok(log) if log < WAL_RESTART_FRAMES => return,
            Ok(log) => log,
            Err(e) => return warn(e),
        };
        for _ in 1..WAL_CATCH_UP_PASSES {
            match checkpoint_passive(&self.reader).await {
                // Negative: the WAL was restarted meanwhile.
                Ok(log) if log - last_log < WAL_CATCH_UP_FRAMES => break,
                Ok(log) => last_log = log,
                Err(e) => return warn(e),
            }
        }
        if let Err(e) = checkpoint_passive(claims).await {
            warn(e);
        }
    }

    /// Commit the queued claims (up to [`CLAIM_BATCH_MAX`]) in one transaction and answer them.
    async fn commit_queued_claims(&self) {
        let batch: Vec<PendingClaim> = match self.claims.pending.lock() {
            Ok(mut q) => {
                let n = q.len().min(CLAIM_BATCH_MAX);
                q.drain(..n).collect()
            }
            Err(_) => return,
        };
        let Some(first) = batch.first() else {
            return;
        };
        let calls = self
            .claim_calls
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if calls / CLAIM_PURGE_INTERVAL != (calls + batch.len() as u64) / CLAIM_PURGE_INTERVAL {
            self.spawn_claim_upkeep(first.now);
        }
        self.record_unsynced_run().await;
        let outcome = insert_claims(self.claims_pool(), &batch).await;
        match outcome {
            Ok(claimed) => {
                for (c, ok) in batch.into_iter().zip(claimed) {
                    let _ = c.reply.send(Ok(ok));
                }
            }
            Err(e) => {
                let unavailable = matches!(e, StoreError::Unavailable(_));
                let msg = e.to_string();
                for c in batch {
                    let _ = c.reply.send(Err(if unavailable {
                        StoreError::Unavailable(msg.clone())
                    } else {
                        StoreError::Other(msg.clone())
                    }));
                }
            }
        }
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }
}

/// Deletes the one-time claims that expired at `now` through `pool`; how many.
async fn purge_claims(pool: &SqlitePool, now: UnixTime) -> Result<u64> {
    let done = sqlx::query("DELETE FROM one_time_claims WHERE expires_at <= $1")
        .bind(now)
        .execute(pool)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected())
}

/// `PRAGMA wal_checkpoint(PASSIVE)` on a connection of `pool`: the number of frames in the
/// WAL when it started (all of which it copied back unless a reader still needed them).
async fn checkpoint_passive(pool: &SqlitePool) -> Result<i64> {
    let (_busy, log, _copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await
        .map_err(map_err)?;
    Ok(log)
}

/// Inserts a group of claims in one statement (hence one transaction, and one round trip to
/// the connection's thread); whether each was claimed. A claim is made if its row is new or
/// takes over an expired one (`expires_at <=` the group's earliest `now`); within the group,
/// only the first of equal `(scope, id)` can win.
async fn insert_claims(pool: &SqlitePool, batch: &[PendingClaim]) -> Result<Vec<bool>> {
    let mut first_of: HashMap<(&str, &str), usize> = HashMap::with_capacity(batch.len());
    let mut rows: Vec<&PendingClaim> = Vec::with_capacity(batch.len());
    for (i, c) in batch.iter().enumerate() {
        if let std::collections::hash_map::Entry::Vacant(v) =
            first_of.entry((c.scope.as_str(), c.id.as_str()))
        {
            v.insert(i);
            rows.push(c);
        }
    }
    let now = batch.iter().map(|c| c.now).min().unwrap_or(0);
    let mut sql = String::from("INSERT INTO one_time_claims (scope, id, expires_at) VALUES ");
    for n in 0..rows.len() {
        let p = n * 3;
        if n > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("(${}, ${}, ${})", p + 1, p + 2, p + 3));
    }
    sql.push_str(&format!(
        " ON CONFLICT (scope, id) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE one_time_claims.expires_at <= ${} RETURNING scope, id",
        rows.len() * 3 + 1
    ));
    // Only placeholders are formatted into the statement; every value is bound.
    let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
    for c in &rows {
        q = q.bind(&c.scope).bind(&c.id).bind(c.expires_at);
    }
    let won = q.bind(now).fetch_all(pool).await.map_err(map_err)?;
    let mut claimed = vec![false; batch.len()];
    for (scope, id) in &won {
        if let Some(&i) = first_of.get(&(scope.as_str(), id.as_str())) {
            claimed[i] = true;
        }
    }
    Ok(claimed)
}

/// Commits `tx` if `result` is a success, otherwise rolls it back.
async fn finish<T>(tx: Transaction<'static, Sqlite>, result: TxResult<T>) -> Result<T> {
    match result {
        Ok(value) => {
            tx.commit().await.map_err(map_err)?;
            Ok(value)
        }
        Err(failure) => {
            if let Err(e) = tx.rollback().await {
                tracing::warn!(error = %e, "SQLite rollback failed");
            }
            Err(failure.into_store(map_err))
        }
    }
}

/// Increments the change counter and records it as `account_id`'s generation.
async fn bump(conn: &mut SqliteConnection, account_id: &str) -> TxResult<i64> {
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
    conn: &mut SqliteConnection,
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
    conn: &mut SqliteConnection,
    account_id: &str,
    writes: &[Write],
    now: UnixTime,
) -> TxResult<()> {
    let account: Option<i64> = sqlx::query_scalar("SELECT 1 FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_optional(&mut *conn)
        .await?;
    if account.is_none() {
        return Err(StoreError::NotFound(format!("account {account_id}")).into());
    }
    bump(conn, account_id).await?;
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

async fn entity_version(
    conn: &mut SqliteConnection,
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

async fn create_account_tx(
    conn: &mut SqliteConnection,
    account: &Account,
    root_key: &AccessKeyRecord,
) -> TxResult<()> {
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
    insert_access_key(conn, 0, root_key).await?;
    bump(conn, &account.id).await?;
    Ok(())
}

async fn keyring_insert_tx(conn: &mut SqliteConnection, record: &KeyringRecord) -> TxResult<()> {
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
    bump(conn, "").await?;
    Ok(())
}

async fn keyring_retire_tx(
    conn: &mut SqliteConnection,
    purpose: &str,
    key_id: u32,
    retired_at: UnixTime,
) -> TxResult<()> {
    let done = sqlx::query("UPDATE keyring SET retired_at = $1 WHERE purpose = $2 AND key_id = $3")
        .bind(retired_at)
        .bind(purpose)
        .bind(i64::from(key_id))
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(missing_ring_key(purpose, key_id).into());
    }
    bump(conn, "").await?;
    Ok(())
}

async fn keyring_delete_tx(
    conn: &mut SqliteConnection,
    purpose: &str,
    key_id: u32,
) -> TxResult<()> {
    let done = sqlx::query("DELETE FROM keyring WHERE purpose = $1 AND key_id = $2")
        .bind(purpose)
        .bind(i64::from(key_id))
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(missing_ring_key(purpose, key_id).into());
    }
    bump(conn, "").await?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        // The whole run happens under the file's write lock (`BEGIN IMMEDIATE`; sqlx runs each
        // migration in a savepoint inside it), so processes starting at once apply each
        // migration exactly once; the others wait in the busy handler, then find nothing to do.
        let mut tx = self.begin_write().await?;
        // `run_direct` is `run` without the `Acquire` indirection, whose higher-ranked bound
        // does not hold inside an `async_trait` future (sqlx documents it as the workaround).
        MIGRATOR
            .run_direct(None, &mut *tx, false)
            .await
            .map_err(|e| map_migrate_error(e, map_err))?;
        tx.commit().await.map_err(map_err)?;
        self.check_unsynced_claims().await
    }

    fn claims_uncertain_until(&self) -> Option<UnixTime> {
        self.unsynced.horizon.get().copied()
    }

    async fn close(&self) {
        SqliteStore::close(self).await
    }

    async fn create_account(&self, account: &Account, root_key: &AccessKeyRecord) -> Result<()> {
        check_record_account(0, &account.id, &root_key.account_id)?;
        let mut tx = self.begin_write().await?;
        let result = create_account_tx(&mut tx, account, root_key).await;
        finish(tx, result).await
    }

    async fn get_account(&self, account_id: &str) -> Result<Option<Account>> {
        let row: Option<(String, String, i64)> =
            sqlx::query_as("SELECT id, name, created_at FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_optional(&self.reader)
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
            sqlx::query_as("SELECT id, name, created_at FROM accounts ORDER BY id")
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at)| Account {
                id,
                name,
                created_at,
            })
            .collect())
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        let row: Option<AccessKeyRow> = sqlx::query_as(concat!(
            "SELECT ",
            access_key_columns!(),
            " FROM access_keys WHERE access_key_id = $1"
        ))
        .bind(access_key_id)
        .fetch_optional(&self.reader)
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
                    " FROM access_keys \
                     WHERE account_id = $1 AND user_name IS NULL \
                     ORDER BY created_at, access_key_id"
                ))
                .bind(account_id)
                .fetch_all(&self.reader)
                .await
            }
            Some(user) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    access_key_columns!(),
                    " FROM access_keys \
                     WHERE account_id = $1 AND user_name_key = $2 \
                     ORDER BY created_at, access_key_id"
                ))
                .bind(account_id)
                .bind(name_key(user))
                .fetch_all(&self.reader)
                .await
            }
        }
        .map_err(map_err)?;
        rows.into_iter().map(access_key_from_row).collect()
    }

    async fn get_entity(&self, account_id: &str, kind: &str, name: &str) -> Result<Option<Entity>> {
        let row: Option<EntityRow> = sqlx::query_as(concat!(
            "SELECT ",
            entity_columns!(),
            " FROM entities \
             WHERE account_id = $1 AND kind = $2 AND name_key = $3"
        ))
        .bind(account_id)
        .bind(kind)
        .bind(name_key(name))
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?;
        row.map(entity_from_row).transpose()
    }

    async fn list_entities(&self, account_id: &str, kind: &str) -> Result<Vec<Entity>> {
        let rows: Vec<EntityRow> = sqlx::query_as(concat!(
            "SELECT ",
            entity_columns!(),
            " FROM entities \
             WHERE account_id = $1 AND kind = $2 ORDER BY name_key"
        ))
        .bind(account_id)
        .bind(kind)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(entity_from_row).collect()
    }

    async fn apply(&self, account_id: &str, writes: &[Write], now: UnixTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = apply_writes(&mut tx, account_id, writes, now).await;
        finish(tx, result).await
    }

    async fn change_counter(&self) -> Result<i64> {
        let value: Option<i64> =
            sqlx::query_scalar("SELECT value FROM change_counter WHERE id = 1")
                .fetch_optional(&self.reader)
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
        .fetch_all(&self.reader)
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
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(keyring_from_row).collect()
    }

    async fn keyring_insert(&self, record: &KeyringRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = keyring_insert_tx(&mut tx, record).await;
        finish(tx, result).await
    }

    async fn keyring_retire(&self, purpose: &str, key_id: u32, retired_at: UnixTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = keyring_retire_tx(&mut tx, purpose, key_id, retired_at).await;
        finish(tx, result).await
    }

    async fn keyring_delete(&self, purpose: &str, key_id: u32) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = keyring_delete_tx(&mut tx, purpose, key_id).await;
        finish(tx, result).await
    }

    async fn claim_once(
        &self,
        scope: &str,
        id: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.claims
            .pending
            .lock()
            .map_err(|_| StoreError::Other("claim queue poisoned".into()))?
            .push(PendingClaim {
                scope: scope.to_string(),
                id: id.to_string(),
                expires_at,
                now,
                reply,
            });
        let mut answer = answer;
        loop {
            // Our answer (a group that another caller committed held our claim), or the commit
            // lock to commit the queue ourselves. Waiting for the answer too matters: callers
            // answered by a group must not queue for the lock behind later groups' commits.
            let guard = tokio::select! {
                biased;
                r = &mut answer => {
                    return r.unwrap_or_else(|_| Err(StoreError::Other("one-time claim dropped".into())));
                }
                g = self.claims.commit.clone().lock_owned() => g,
            };
            match answer.try_recv() {
                Ok(r) => return r,
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                    return Err(StoreError::Other("one-time claim dropped".into()));
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
            }
            let store = self.clone();
            // Its own task: finishes (and answers every caller in the group) even if this
            // caller goes away. More than CLAIM_BATCH_MAX queued: loop for the next group.
            let _ = tokio::spawn(async move {
                store.commit_queued_claims().await;
                drop(guard);
            })
            .await;
        }
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(key)
            .fetch_optional(&self.reader)
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
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }
}

fn missing_ring_key(purpose: &str, key_id: u32) -> StoreError {
    StoreError::NotFound(format!("key {key_id} of purpose {purpose}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on the file at `path`, migrated (as `opensts serve` starts).
    async fn migrated(path: &Path) -> SqliteStore {
        let store = SqliteStore::open_path(path).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn int_pragma(pool: &SqlitePool, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
    }

    /// Group commit: more concurrent claims than one group holds all get their own answer
    /// (distinct ids all claimed, a shared id claimed exactly once), and they are durable:
    /// a second store on the same file sees every one of them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn claims_group_commit_beyond_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let store = migrated(&path).await;
        let n = CLAIM_BATCH_MAX * 2 + 7;
        let mut tasks = Vec::new();
        for i in 0..n {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                let own = s
                    .claim_once("g", &format!("id-{i}"), 2000, 1000)
                    .await
                    .unwrap();
                let shared = s.claim_once("g", "shared", 2000, 1000).await.unwrap();
                (own, shared)
            }));
        }
        let mut shared_wins = 0;
        for t in tasks {
            let (own, shared) = t.await.unwrap();
            assert!(own);
            shared_wins += usize::from(shared);
        }
        assert_eq!(shared_wins, 1);
        let other = SqliteStore::open_path(&path).await.unwrap();
        assert!(!other.claim_once("g", "id-0", 2000, 1000).await.unwrap());
        assert!(
            !other
                .claim_once("g", &format!("id-{}", n - 1), 2000, 1000)
                .await
                .unwrap()
        );
        assert!(
            other.claim_once("g", "id-0", 4000, 2000).await.unwrap(),
            "expired claim taken over"
        );
    }

    /// A steady stream of claims does not grow the WAL without bound: the upkeep restarts it
    /// (without the last checkpoint pass on the claim connection, the background pass never
    /// catches up with the last commit and the WAL grows by every claim, here to ~100 MB).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steady_claims_keep_the_wal_bounded() {
        if current_boot_id().is_none() {
            eprintln!("SKIPPED: no {BOOT_ID_PATH} on this system (claims stay fsynced)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = migrated(&path).await;
        const TASKS: usize = 16;
        const PER_TASK: usize = 1500;
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..PER_TASK {
                    assert!(
                        s.claim_once("w", &format!("{t}-{i}"), 2000, 1000)
                            .await
                            .unwrap()
                    );
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // The WAL file keeps its largest size until it is restarted beyond the size limit.
        let wal = std::fs::metadata(dir.path().join("w.db-wal"))
            .unwrap()
            .len();
        let frame = 4096 + 24;
        let bound = 8 * WAL_RESTART_FRAMES as u64 * frame;
        assert!(
            wal < bound,
            "WAL {wal} bytes after {} claims, bound {bound}",
            TASKS * PER_TASK
        );
        store.close().await;
    }

    /// The upkeep purges expired claims by itself (through the claim connection when claims
    /// go through it), and only expired ones.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upkeep_purges_expired_claims() {
        let dir = tempfile::tempdir().unwrap();
        let store = migrated(&dir.path().join("p.db")).await;
        assert!(store.claim_once("p", "old", 1500, 1000).await.unwrap());
        assert!(store.claim_once("p", "kept", 9000, 1000).await.unwrap());
        for i in 0..CLAIM_PURGE_INTERVAL {
            assert!(
                store
                    .claim_once("p", &format!("n{i}"), 9000, 2000)
                    .await
                    .unwrap()
            );
        }
        let count = |id: &'static str| {
            let reader = store.reader.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM one_time_claims WHERE id = $1")
                    .bind(id)
                    .fetch_one(&reader)
                    .await
                    .unwrap()
            }
        };
        let mut purged = false;
        for _ in 0..200 {
            if count("old").await == 0 {
                purged = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(purged, "the expired claim was not purged");
        assert_eq!(count("kept").await, 1);
        store.close().await;
    }

    /// Every connection, writer and readers, runs with the documented settings.
    #[tokio::test]
    async fn connections_are_configured() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_path(dir.path().join("p.db"))
            .await
            .unwrap();
        let busy_ms = i64::try_from(BUSY_TIMEOUT.as_millis()).unwrap();
        for pool in [&store.writer, &store.reader] {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            assert_eq!(int_pragma(pool, "PRAGMA synchronous").await, 2, "FULL");
            assert_eq!(int_pragma(pool, "PRAGMA foreign_keys").await, 1);
            assert_eq!(int_pragma(pool, "PRAGMA busy_timeout").await, busy_ms);
            assert_eq!(
                int_pragma(pool, "PRAGMA journal_size_limit").await,
                WAL_SIZE_LIMIT_BYTES as i64
            );
        }
        assert_eq!(store.writer.options().get_max_connections(), 1);
        store.close().await;
    }

    async fn run_rows(store: &SqliteStore) -> Vec<(String, String)> {
        sqlx::query_as("SELECT name, value FROM settings WHERE substr(name, 1, $1) = $2")
            .bind(CLAIMS_RUN_PREFIX.len() as i64)
            .bind(CLAIMS_RUN_PREFIX)
            .fetch_all(&store.reader)
            .await
            .unwrap()
    }

    /// Claims skip the fsync only after the process recorded itself under the current boot
    /// id; the writer is back to FULL after each group; a clean close removes the record; a
    /// second store on the file (another process, same boot) sees every claim; no horizon.
    #[tokio::test]
    async fn unsynced_claims_are_recorded_and_closed_cleanly() {
        let Some(boot) = current_boot_id() else {
            eprintln!("SKIPPED: no {BOOT_ID_PATH} on this system (claims stay fsynced)");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.db");
        let store = migrated(&path).await;
        assert!(
            run_rows(&store).await.is_empty(),
            "nothing before the first claim"
        );
        assert!(store.claim_once("s", "a", 2000, 1000).await.unwrap());
        let rows = run_rows(&store).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1, boot);
        assert_eq!(
            int_pragma(&store.writer, "PRAGMA synchronous").await,
            2,
            "FULL"
        );
        let claims = store.claim_writer.as_ref().unwrap();
        assert_eq!(int_pragma(claims, "PRAGMA synchronous").await, 1, "NORMAL");
        assert_eq!(store.claims_uncertain_until(), None);
        let other = migrated(&path).await;
        assert!(!other.claim_once("s", "a", 2000, 1000).await.unwrap());
        assert_eq!(other.claims_uncertain_until(), None, "same boot: no crash");
        other.close().await;
        store.close().await;
        let again = migrated(&path).await;
        assert!(
            run_rows(&again).await.is_empty(),
            "clean shutdowns leave no record"
        );
        assert_eq!(again.claims_uncertain_until(), None);
        again.close().await;
    }

    /// A record left by a process of an earlier boot (an OS crash or power loss while its
    /// claims were unsynced) raises the durable horizon to the time of the start, removes the
    /// record, and the horizon stays after further clean restarts; an older horizon is kept
    /// only if it is later.
    #[tokio::test]
    async fn a_previous_boot_leaves_a_durable_horizon() {
        if current_boot_id().is_none() {
            eprintln!("SKIPPED: no {BOOT_ID_PATH} on this system");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let store = migrated(&path).await;
        store
            .put_setting(&format!("{CLAIMS_RUN_PREFIX}42-1"), "an-earlier-boot")
            .await
            .unwrap();
        store
            .put_setting(CLAIMS_HORIZON_SETTING, "1000")
            .await
            .unwrap();
        store.close().await;
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let restarted = migrated(&path).await;
        let h = restarted.claims_uncertain_until().unwrap();
        assert!(h >= before && h <= before + 5, "{h} vs {before}");
        assert!(run_rows(&restarted).await.is_empty());
        restarted.close().await;
        let later = migrated(&path).await;
        assert_eq!(later.claims_uncertain_until(), Some(h), "persisted");
        later.close().await;
    }

    /// In memory there is nothing to lose: claims stay fsynced (FULL is moot) and unrecorded.
    #[tokio::test]
    async fn in_memory_stores_never_skip_the_fsync() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        store.migrate().await.unwrap();
        assert!(store.claim_once("s", "a", 2000, 1000).await.unwrap());
        assert!(store.unsynced.run_key.get().is_none());
        assert!(run_rows(&store).await.is_empty());
    }

    #[test]
    fn memory_urls() {
        assert!(is_memory_url("sqlite::memory:"));
        assert!(is_memory_url("sqlite://file.db?mode=memory"));
        assert!(!is_memory_url("sqlite://data/opensts.db?mode=rwc"));
    }
}
