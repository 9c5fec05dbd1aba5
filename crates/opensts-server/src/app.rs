//! Building and running the server: bootstrap (master key, store, key ring, default account),
//! the listener, the cache-invalidation poller and graceful shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use opensts_core::crypto::MasterKey;
use opensts_core::ids;
use opensts_core::keyring::KeyRing;
use opensts_store::{AccessKeyRecord, Account, KeyStatus, KeyringRecord, Store, StoreError, Write};
use tokio::net::TcpListener;

use crate::audit::AuditLog;
use crate::config::{CACHE_POLL_INTERVAL_MS, Config, TLS_HANDSHAKE_TIMEOUT_SECS};
use crate::keys::KEY_PRUNE_INTERVAL_SECS;
use crate::listen::ConnLimits;
use crate::metrics::{CountingFetcher, Metrics};
use crate::state::{AppState, Cache, Clock, SystemClock, access_key_aad};
use crate::throttle::Throttle;
use crate::tls::{TLS_WATCH_INTERVAL_SECS, TlsReloader};

/// Key-ring purpose of the session-token keys.
pub const SESSION_TOKEN_PURPOSE: &str = "session-token";
/// Key-ring purpose of the encoded authorization message keys.
pub const AUTH_MESSAGE_PURPOSE: &str = "auth-message";
/// Settings key holding the default account id.
const DEFAULT_ACCOUNT_SETTING: &str = "default_account_id";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Root credentials generated on first start (to be shown once).
#[derive(Debug, Clone)]
pub struct GeneratedRoot {
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A built server, bound to its listener(s), not yet serving.
pub struct Application {
    listener: TcpListener,
    /// Separate `/metrics` listener (`--metrics-listen`).
    metrics_listener: Option<TcpListener>,
    tls: Option<Arc<TlsReloader>>,
    /// SIGHUP (reload the TLS certificate, reopen the audit file), registered at build time so
    /// a SIGHUP right after start-up cannot kill the process.
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
    state: Arc<AppState>,
    pub generated_root: Option<GeneratedRoot>,
    /// The store's change counter before the key rings were loaded (where the poller starts).
    start_counter: i64,
}

fn check_account_id(config: &Config) -> Result<(), StartError> {
    if let Some(id) = &config.account_id
        && !ids::is_valid_account_id(id)
    {
        return Err(StartError::Config(format!(
            "OPENSTS_ACCOUNT_ID {id:?} is not 12 digits"
        )));
    }
    Ok(())
}

/// Load the master key from the environment value, or from (or into) the key file.
pub fn load_master_key(config: &Config) -> Result<MasterKey, StartError> {
    if let Some(encoded) = &config.master_key {
        return MasterKey::from_encoded(encoded)
            .map_err(|e| StartError::Config(format!("OPENSTS_MASTER_KEY: {e}")));
    }
    let path = config.master_key_path();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let (key, _created) = MasterKey::load_or_create(&path)
        .map_err(|e| StartError::Config(format!("master key file {}: {e}", path.display())))?;
    Ok(key)
}

/// Open the store named by the configuration and apply migrations.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let store = opensts_store::open_store(&config.database_url()).await?;
    store.migrate().await?;
    Ok(store)
}

/// Load a key ring, creating its first key if the store has none.
pub async fn load_keyring(
    store: &dyn Store,
    master: &MasterKey,
    purpose: &str,
    now: i64,
) -> Result<KeyRing, StartError> {
    let mut records = store.keyring_list(purpose).await?;
    if records.is_empty() {
        let material = KeyRing::new_key_material();
        let record = KeyringRecord {
            purpose: purpose.to_string(),
            key_id: 1,
            material_sealed: master
                .wrap_data_key(1, &material)
                .map_err(|e| StartError::Config(format!("sealing a new key: {e}")))?,
            created_at: now,
            retired_at: None,
        };
        match store.keyring_insert(&record).await {
            // Another node created it first: use theirs.
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        records = store.keyring_list(purpose).await?;
    }
    let mut entries = Vec::with_capacity(records.len());
    for r in &records {
        let key = master
            .unwrap_data_key(r.key_id, &r.material_sealed)
            .map_err(|_| {
                StartError::Config(format!(
                    "cannot unseal key {} of the {purpose} key ring: the master key differs from the one that sealed it",
                    r.key_id
                ))
            })?;
        entries.push((r.key_id, key, r.retired_at.is_some()));
    }
    KeyRing::new(entries).map_err(|e| StartError::Config(format!("key ring {purpose}: {e}")))
}

fn seal_secret(master: &MasterKey, akid: &str, secret: &str) -> Result<Vec<u8>, StartError> {
    master
        .seal(secret.as_bytes(), &access_key_aad(akid))
        .map_err(|e| StartError::Config(format!("sealing a secret: {e}")))
}

/// Create an account with a fresh root access key. Returns the root key's id and secret.
pub async fn create_account(
    store: &dyn Store,
    master: &MasterKey,
    account_id: &str,
    name: &str,
    root_key: Option<(String, String)>,
    now: i64,
) -> Result<(String, String), StartError> {
    if !ids::is_valid_account_id(account_id) {
        return Err(StartError::Config(format!(
            "account id {account_id:?} is not 12 digits"
        )));
    }
    let (akid, secret) = match root_key {
        Some(k) => k,
        None => (
            ids::new_access_key_id_for_account("AKIA", account_id),
            ids::new_secret_access_key(),
        ),
    };
    let account = Account {
        id: account_id.to_string(),
        name: name.to_string(),
        created_at: now,
    };
    let key = AccessKeyRecord {
        access_key_id: akid.clone(),
        account_id: account_id.to_string(),
        user_name: None,
        secret_sealed: seal_secret(master, &akid, &secret)?,
        status: KeyStatus::Active,
        created_at: now,
    };
    store.create_account(&account, &key).await?;
    Ok((akid, secret))
}

/// Name of the inline policy that revokes a role's older sessions (the name AWS's console uses).
pub const REVOKE_POLICY_NAME: &str = "AWSRevokeOlderSessions";

/// Revoke every session of a role issued before `now`, the AWS way: an inline role policy that
/// denies everything when `aws:TokenIssueTime` is older. Sessions stop on their next
/// authorized call; new sessions are unaffected.
pub async fn revoke_role_sessions(
    store: &dyn Store,
    account_id: &str,
    role_name: &str,
    now: i64,
) -> Result<String, StartError> {
    let cutoff = crate::protocol::xml::timestamp(now);
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}
        }]
    })
    .to_string();
    for _ in 0..5 {
        let Some(e) = store
            .get_entity(account_id, crate::iam::model::KIND_ROLE, role_name)
            .await?
        else {
            return Err(StartError::Config(format!(
                "role {role_name} not found in account {account_id}"
            )));
        };
        let mut doc: crate::iam::model::RoleDoc = serde_json::from_value(e.doc)
            .map_err(|err| StartError::Config(format!("corrupt role document: {err}")))?;
        doc.inline_policies
            .insert(REVOKE_POLICY_NAME.to_string(), policy.clone());
        let json = serde_json::to_value(&doc)
            .map_err(|err| StartError::Config(format!("role document: {err}")))?;
        let write = Write::PutEntity {
            kind: crate::iam::model::KIND_ROLE.to_string(),
            name: e.name.clone(),
            doc: json,
            expect: opensts_store::Expect::Version(e.version),
        };
        match store.apply(account_id, &[write], now).await {
            Ok(()) => return Ok(cutoff),
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(StartError::Config(
        "the role kept changing; try again".to_string(),
    ))
}

/// How long one node's claim to create the default account holds. If that node dies before it
/// records the account, another node takes over once the claim has expired.
pub const BOOTSTRAP_LEASE_SECS: i64 = 30;
/// How long a node waits for the default account to appear (a little over two leases).
const BOOTSTRAP_WAIT: Duration = Duration::from_secs(75);

/// Make sure the default account exists; on first start create it (with the configured or
/// generated root credentials).
///
/// Several nodes may start at once on an empty database: exactly one of them wins a leased
/// one-time claim (`claim_once("bootstrap", ...)`) and creates the account; the others wait
/// until the `default_account_id` setting appears. The claim expires after
/// [`BOOTSTRAP_LEASE_SECS`], so a node that dies halfway does not block later starts forever.
async fn ensure_default_account(
    config: &Config,
    store: &dyn Store,
    master: &MasterKey,
    clock: &dyn Clock,
) -> Result<(String, Option<GeneratedRoot>), StartError> {
    let configured_root = match (&config.root_access_key_id, &config.root_secret_access_key) {
        (Some(a), Some(s)) => Some((a.clone(), s.clone())),
        (None, None) => None,
        _ => {
            return Err(StartError::Config(
                "set both OPENSTS_ROOT_ACCESS_KEY_ID and OPENSTS_ROOT_SECRET_ACCESS_KEY, or neither"
                    .into(),
            ));
        }
    };
    if let Some((akid, secret)) = &configured_root
        && (akid.len() < 16 || akid.len() > 128 || secret.len() < 16)
    {
        return Err(StartError::Config(
            "root access key id must be 16-128 characters and the secret at least 16".into(),
        ));
    }
    let deadline = tokio::time::Instant::now() + BOOTSTRAP_WAIT;
    loop {
        let now = clock.now();
        if let Some(existing) = store.get_setting(DEFAULT_ACCOUNT_SETTING).await? {
            if let Some((akid, secret)) = &configured_root {
                add_root_key(store, master, &existing, akid, secret, now).await?;
            }
            return Ok((existing, None));
        }
        // First start. Only one process at a time may create the default account.
        let claimed = store
            .claim_once(
                "bootstrap",
                DEFAULT_ACCOUNT_SETTING,
                now.saturating_add(BOOTSTRAP_LEASE_SECS),
                now,
            )
            .await?;
        if claimed {
            // A previous lease holder may have finished just after its lease ran out.
            if let Some(existing) = store.get_setting(DEFAULT_ACCOUNT_SETTING).await? {
                if let Some((akid, secret)) = &configured_root {
                    add_root_key(store, master, &existing, akid, secret, now).await?;
                }
                return Ok((existing, None));
            }
            return create_default_account(config, store, master, configured_root, now).await;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StartError::Config(
                "another process is creating the default account but did not finish".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Add configured root credentials the store does not know yet to the account's root.
/// Several nodes may do this at once: losing the race is fine.
async fn add_root_key(
    store: &dyn Store,
    master: &MasterKey,
    account_id: &str,
    akid: &str,
    secret: &str,
    now: i64,
) -> Result<(), StartError> {
    if store.get_access_key(akid).await?.is_some() {
        return Ok(());
    }
    let rec = AccessKeyRecord {
        access_key_id: akid.to_string(),
        account_id: account_id.to_string(),
        user_name: None,
        secret_sealed: seal_secret(master, akid, secret)?,
        status: KeyStatus::Active,
        created_at: now,
    };
    match store
        .apply(account_id, &[Write::InsertAccessKey(rec)], now)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict { .. }) if store.get_access_key(akid).await?.is_some() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Create the default account (the caller holds the bootstrap claim) and record it.
async fn create_default_account(
    config: &Config,
    store: &dyn Store,
    master: &MasterKey,
    configured_root: Option<(String, String)>,
    now: i64,
) -> Result<(String, Option<GeneratedRoot>), StartError> {
    let account_id = config
        .account_id
        .clone()
        .unwrap_or_else(ids::new_account_id);
    let generated = configured_root.is_none();
    let created = create_account(
        store,
        master,
        &account_id,
        "default",
        configured_root.clone(),
        now,
    )
    .await;
    let (akid, secret) = match created {
        Ok(key) => key,
        // The configured account exists already: an earlier first start died before it
        // recorded the account. Adopt the account; make sure it has usable root credentials.
        Err(StartError::Store(StoreError::Conflict { .. }))
            if store.get_account(&account_id).await?.is_some() =>
        {
            tracing::warn!(account_id = %account_id, "adopting the default account of an interrupted first start");
            let (akid, secret) = configured_root.unwrap_or_else(|| {
                (
                    ids::new_access_key_id_for_account("AKIA", &account_id),
                    ids::new_secret_access_key(),
                )
            });
            add_root_key(store, master, &account_id, &akid, &secret, now).await?;
            (akid, secret)
        }
        Err(e) => return Err(e),
    };
    store
        .put_setting(DEFAULT_ACCOUNT_SETTING, &account_id)
        .await?;
    let root = generated.then(|| GeneratedRoot {
        account_id: account_id.clone(),
        access_key_id: akid,
        secret_access_key: secret,
    });
    Ok((account_id, root))
}

impl Application {
    /// Bootstrap everything and bind the listener (port 0 picks a free port).
    pub async fn build(config: Config) -> Result<Application, StartError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartError> {
        check_account_id(&config)?;
        // The master key first: a bad key must fail before anything touches the database.
        load_master_key(&config)?;
        let store = open_store(&config).await?;
        Self::build_with_store(config, clock, store).await
    }

    /// Like [`build_with_clock`](Self::build_with_clock), on a store the caller opened and
    /// migrated (tests wrap stores, e.g. to simulate an outage).
    pub async fn build_with_store(
        config: Config,
        clock: Arc<dyn Clock>,
        store: Arc<dyn Store>,
    ) -> Result<Application, StartError> {
        check_account_id(&config)?;
        let master_key = load_master_key(&config)?;
        // Read before the key rings: a ring change made by another node from here on is seen
        // by the change poller, which starts from this counter.
        let start_counter = store.change_counter().await?;
        let now = clock.now();
        let ring = load_keyring(store.as_ref(), &master_key, SESSION_TOKEN_PURPOSE, now).await?;
        let message_ring =
            load_keyring(store.as_ref(), &master_key, AUTH_MESSAGE_PURPOSE, now).await?;
        let (default_account_id, generated_root) =
            ensure_default_account(&config, store.as_ref(), &master_key, clock.as_ref()).await?;
        let metrics = Arc::new(Metrics::new());
        let fetcher = opensts_oidc::HttpFetcher::from_ca_file(config.ca_file.as_deref())
            .map_err(|e| StartError::Config(format!("--ca-file: {}", e.message())))?;
        let fetcher = CountingFetcher::new(Arc::new(fetcher), metrics.clone());
        // Own issuer URLs resolve from the in-memory signing keys (base URL set after bind).
        let oidc_issuer = Arc::new(
            crate::oidc_issuer::OidcIssuer::load(store.as_ref(), &master_key, String::new())
                .await?,
        );
        let fetcher = crate::oidc_issuer::LocalIssuerFetcher::new(
            Arc::new(fetcher),
            oidc_issuer.clone(),
            clock.clone(),
        );
        let jwks = Arc::new(opensts_oidc::JwksCache::new(Arc::new(fetcher)));
        let (tls, audit, throttle) = build_ops(&config, &metrics)?;
        let listener = TcpListener::bind(config.listen).await?;
        oidc_issuer.set_base_url(crate::oidc_issuer::base_url_for(
            &config,
            listener.local_addr()?,
            tls.is_some(),
        )?);
        let metrics_listener = match config.ops.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        #[cfg(unix)]
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let state = Arc::new(AppState {
            config,
            store,
            master_key,
            session_ring: RwLock::new(Arc::new(ring)),
            message_ring: RwLock::new(Arc::new(message_ring)),
            clock,
            default_account_id,
            cache: Cache::default(),
            jwks,
            oidc_issuer,
            metrics,
            throttle,
            audit,
        });
        Ok(Application {
            listener,
            metrics_listener,
            tls,
            #[cfg(unix)]
            hangup,
            state,
            generated_root,
            start_counter,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Address of the separate `/metrics` listener, if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Whether the main listener serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serve until `shutdown` resolves, then stop accepting and drain in-flight requests
    /// (up to `--shutdown-drain-secs`).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state;
        let ops = &state.config.ops;
        let limits = ConnLimits {
            header_read_timeout: Duration::from_secs(ops.header_read_timeout_secs.max(1)),
            max_header_bytes: ops.max_header_bytes,
            tls_handshake_timeout: Duration::from_secs(TLS_HANDSHAKE_TIMEOUT_SECS),
            drain: Duration::from_secs(ops.shutdown_drain_secs),
        };
        let poller = spawn_change_poller_from(state.clone(), Some(self.start_counter));
        let pruner = spawn_key_pruner(state.clone());
        #[cfg(unix)]
        let reloader = spawn_reloader(state.clone(), self.tls.clone(), self.hangup);
        #[cfg(not(unix))]
        let reloader = spawn_reloader(state.clone(), self.tls.clone());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let main = tokio::spawn(crate::listen::serve(
            self.listener,
            crate::http::router(state.clone()),
            self.tls,
            limits,
            stop_rx.clone(),
        ));
        let metrics = self.metrics_listener.map(|l| {
            tokio::spawn(crate::listen::serve(
                l,
                crate::http::metrics_router(state.clone()),
                None,
                limits,
                stop_rx,
            ))
        });
        shutdown.await;
        let _ = stop_tx.send(true);
        let result = main.await;
        if let Some(m) = metrics {
            let _ = m.await;
        }
        poller.abort();
        pruner.abort();
        reloader.abort();
        result.map_err(std::io::Error::other)
    }
}

/// TLS, the audit log and the rate limiters, as [`build_ops`] makes them.
type OpsParts = (Option<Arc<TlsReloader>>, Option<AuditLog>, Throttle);

/// The operational pieces of [`crate::config::OpsConfig`]: TLS (a bad certificate fails the
/// start), the audit log, the rate limiters.
fn build_ops(config: &Config, metrics: &Arc<Metrics>) -> Result<OpsParts, StartError> {
    let ops = &config.ops;
    for (name, rate) in [
        ("--rate-per-account", ops.rate_per_account),
        ("--rate-per-source", ops.rate_per_source),
    ] {
        if !rate.is_finite() || rate < 0.0 {
            return Err(StartError::Config(format!(
                "{name} must be a number of requests per second (0 = no limit)"
            )));
        }
    }
    let tls = match (&ops.tls_cert, &ops.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(
            TlsReloader::load(cert, key, metrics.clone()).map_err(StartError::Config)?,
        )),
        (None, None) => None,
        _ => {
            return Err(StartError::Config(
                "set both --tls-cert and --tls-key, or neither".into(),
            ));
        }
    };
    let audit = match &ops.audit {
        Some(target) => Some(
            AuditLog::open(
                target.clone(),
                ops.audit_max_bytes,
                ops.audit_keep_files,
                metrics.clone(),
            )
            .map_err(|e| StartError::Config(format!("--audit-log: {e}")))?,
        ),
        None => None,
    };
    Ok((tls, audit, Throttle::new(ops)))
}

/// Remove expired retired keys at start and every [`KEY_PRUNE_INTERVAL_SECS`].
fn spawn_key_pruner(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(KEY_PRUNE_INTERVAL_SECS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            crate::keys::prune_all(state.store.as_ref(), state.now()).await;
        }
    })
}

/// On SIGHUP reload the TLS certificate and reopen the audit file; also reload the certificate
/// when its files change.
fn spawn_reloader(
    state: Arc<AppState>,
    tls: Option<Arc<TlsReloader>>,
    #[cfg(unix)] mut hangup: Option<tokio::signal::unix::Signal>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(TLS_WATCH_INTERVAL_SECS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hup = async {
                match hangup.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hup = std::future::pending::<Option<()>>();
            tokio::select! {
                received = hup => {
                    if received.is_none() {
                        return;
                    }
                    tracing::info!("SIGHUP: reloading the TLS certificate and reopening the audit log");
                    if let Some(t) = &tls {
                        let _ = t.reload();
                    }
                    if let Some(a) = &state.audit {
                        a.reopen();
                    }
                }
                _ = tick.tick() => {
                    if let Some(t) = &tls {
                        t.reload_if_changed();
                    }
                }
            }
        }
    })
}

/// Poll the store's change counter and drop the caches of accounts that changed — on any node.
pub fn spawn_change_poller(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    spawn_change_poller_from(state, None)
}

/// [`spawn_change_poller`] starting at a known counter (`None`: the store's current one).
///
/// Every [`CACHE_POLL_INTERVAL_MS`] it asks the store which accounts changed since the last
/// counter it processed (one indexed query; see `Store::changes_since`) and invalidates their
/// cache entries; a key-ring change (`""`) reloads the rings. The counter only advances once
/// the changes are processed, so a failed ring reload is retried on the next tick. While the
/// store is unreachable the caches are kept (and served); the outage and the recovery are
/// logged once each.
pub fn spawn_change_poller_from(
    state: Arc<AppState>,
    start: Option<i64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut counter = match start {
            Some(c) => Some(c),
            None => state.store.change_counter().await.ok(),
        };
        let mut failing_since: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(CACHE_POLL_INTERVAL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Without a starting point (the store was down when the poller started), begin at 0:
            // that invalidates every account ever changed once, which is merely wasteful.
            let from = counter.unwrap_or(0);
            match state.store.changes_since(from).await {
                Ok((now_counter, changed)) => {
                    if let Some(since) = failing_since.take() {
                        tracing::info!(
                            after_secs = since.elapsed().as_secs(),
                            "store reachable again; catching up on changes"
                        );
                    }
                    let mut ring_ok = true;
                    if now_counter < from {
                        // The store was replaced or reset: forget everything.
                        state.cache.invalidate_all();
                        ring_ok = reload_keyring(&state).await;
                    }
                    let accounts: Vec<String> = changed.into_iter().map(|(a, _)| a).collect();
                    if accounts.iter().any(String::is_empty) {
                        ring_ok &= reload_keyring(&state).await;
                    }
                    state.cache.invalidate_accounts(&accounts);
                    if ring_ok {
                        counter = Some(now_counter);
                    }
                }
                Err(e) => {
                    if failing_since.is_none() {
                        failing_since = Some(tokio::time::Instant::now());
                        tracing::warn!(error = %e, "change poll failed; serving from cache until the store is back");
                    } else {
                        tracing::debug!(error = %e, "change poll failed");
                    }
                }
            }
        }
    })
}

/// Least time between two on-demand key-ring reloads of a node.
const RING_REFRESH_MIN_INTERVAL: Duration = Duration::from_millis(100);

/// A session token named a key this node's ring does not have. Right after a key rotation
/// another node may already seal with the new key while this node's poller has not loaded it
/// yet (up to one poll interval): reload the rings now instead of refusing the token. At most
/// one reload per [`RING_REFRESH_MIN_INTERVAL`] (tokens naming made-up key ids cannot make a
/// node hammer the store); concurrent callers wait for the one reload in progress.
pub async fn refresh_rings_for_unknown_key(state: &AppState) {
    let mut last = state.cache.ring_refresh.lock().await;
    if last.is_some_and(|t| t.elapsed() < RING_REFRESH_MIN_INTERVAL) {
        return;
    }
    reload_keyring(state).await;
    *last = Some(std::time::Instant::now());
}

/// Reload both key rings from the store. `false` if one of them could not be loaded (the old
/// ring stays in use).
async fn reload_keyring(state: &AppState) -> bool {
    let mut ok = true;
    for (purpose, slot) in [
        (SESSION_TOKEN_PURPOSE, &state.session_ring),
        (AUTH_MESSAGE_PURPOSE, &state.message_ring),
    ] {
        match load_keyring(
            state.store.as_ref(),
            &state.master_key,
            purpose,
            state.now(),
        )
        .await
        {
            Ok(ring) => {
                if let Ok(mut r) = slot.write() {
                    *r = Arc::new(ring);
                }
            }
            Err(e) => {
                ok = false;
                tracing::error!(error = %e, purpose, "cannot reload a key ring");
            }
        }
    }
    if let Err(e) = state
        .oidc_issuer
        .reload(state.store.as_ref(), &state.master_key)
        .await
    {
        ok = false;
        tracing::error!(error = %e, "cannot reload the JWKS signing keys");
    }
    ok
}
