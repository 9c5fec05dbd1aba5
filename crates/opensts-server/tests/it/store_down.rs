//! What a node does while its store is unreachable (see docs/deployment.md, "When the database
//! is unreachable"):
//!
//! * everything that can be answered from memory keeps working: long-term keys already in the
//!   cache, every session-token call that needs no store read (GetCallerIdentity, new
//!   GetSessionToken for a cached key);
//! * everything that needs the store is refused with `503 ServiceUnavailable` (Type
//!   `Receiver`) — never with an authentication error, and never served from a guess;
//! * `/readyz` answers 503, `/healthz` 200;
//! * the change poller keeps the caches during the outage and catches up afterwards.
//!
//! The outage is simulated by a [`FlakyStore`] around a SQLite store, injected with
//! [`Application::build_with_store`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use http::HeaderMap;
use opensts_server::state::{Clock, ManualClock};
use opensts_server::{Application, Config};
use opensts_sigv4::{SigningParams, sign_request};
use opensts_store::{
    AccessKeyRecord, Account, Entity, KeyringRecord, Result, Store, StoreError, UnixTime, Write,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Creds, Resp, START, raw_post, session_creds};

/// A store that fails every call with [`StoreError::Unavailable`] while `down` is set.
/// With `hide_changes` set, `changes_since` reports no changes (a node whose change poller
/// has not run yet).
pub struct FlakyStore {
    inner: Arc<dyn Store>,
    down: AtomicBool,
    hide_changes: AtomicBool,
}

impl FlakyStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            down: AtomicBool::new(false),
            hide_changes: AtomicBool::new(false),
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn set_hide_changes(&self, hide: bool) {
        self.hide_changes.store(hide, Ordering::SeqCst);
    }

    fn check(&self) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "simulated outage: connection refused".into(),
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for FlakyStore {
    async fn migrate(&self) -> Result<()> {
        self.check()?;
        self.inner.migrate().await
    }
    async fn create_account(&self, account: &Account, root_key: &AccessKeyRecord) -> Result<()> {
        self.check()?;
        self.inner.create_account(account, root_key).await
    }
    async fn get_account(&self, account_id: &str) -> Result<Option<Account>> {
        self.check()?;
        self.inner.get_account(account_id).await
    }
    async fn list_accounts(&self) -> Result<Vec<Account>> {
        self.check()?;
        self.inner.list_accounts().await
    }
    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        self.check()?;
        self.inner.get_access_key(access_key_id).await
    }
    async fn list_access_keys(
        &self,
        account_id: &str,
        user_name: Option<&str>,
    ) -> Result<Vec<AccessKeyRecord>> {
        self.check()?;
        self.inner.list_access_keys(account_id, user_name).await
    }
    async fn get_entity(&self, account_id: &str, kind: &str, name: &str) -> Result<Option<Entity>> {
        self.check()?;
        self.inner.get_entity(account_id, kind, name).await
    }
    async fn list_entities(&self, account_id: &str, kind: &str) -> Result<Vec<Entity>> {
        self.check()?;
        self.inner.list_entities(account_id, kind).await
    }
    async fn apply(&self, account_id: &str, writes: &[Write], now: UnixTime) -> Result<()> {
        self.check()?;
        self.inner.apply(account_id, writes, now).await
    }
    async fn change_counter(&self) -> Result<i64> {
        self.check()?;
        self.inner.change_counter().await
    }
    async fn changes_since(&self, counter: i64) -> Result<(i64, Vec<(String, i64)>)> {
        self.check()?;
        if self.hide_changes.load(Ordering::SeqCst) {
            return Ok((counter, Vec::new()));
        }
        self.inner.changes_since(counter).await
    }
    async fn keyring_list(&self, purpose: &str) -> Result<Vec<KeyringRecord>> {
        self.check()?;
        self.inner.keyring_list(purpose).await
    }
    async fn keyring_insert(&self, record: &KeyringRecord) -> Result<()> {
        self.check()?;
        self.inner.keyring_insert(record).await
    }
    async fn keyring_retire(&self, purpose: &str, key_id: u32, retired_at: UnixTime) -> Result<()> {
        self.check()?;
        self.inner.keyring_retire(purpose, key_id, retired_at).await
    }
    async fn keyring_delete(&self, purpose: &str, key_id: u32) -> Result<()> {
        self.check()?;
        self.inner.keyring_delete(purpose, key_id).await
    }
    async fn claim_once(
        &self,
        scope: &str,
        id: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool> {
        self.check()?;
        self.inner.claim_once(scope, id, expires_at, now).await
    }
    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        self.check()?;
        self.inner.get_setting(key).await
    }
    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        self.check()?;
        self.inner.put_setting(key, value).await
    }
    fn claims_uncertain_until(&self) -> Option<opensts_store::UnixTime> {
        self.inner.claims_uncertain_until()
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

/// A running server on a [`FlakyStore`].
pub struct Node {
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    pub store: Arc<FlakyStore>,
    pub root: Creds,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The master key of every node in these tests.
pub const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A migrated SQLite store in `dir` (several nodes may open it).
pub async fn sqlite_store(dir: &std::path::Path) -> Arc<dyn Store> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("opensts.db").display());
    let inner = opensts_store::open_store(&url).await.unwrap();
    inner.migrate().await.unwrap();
    inner
}

impl Node {
    /// A node on its own fresh store; it creates the default account.
    pub async fn start() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let inner = sqlite_store(dir.path()).await;
        let node = Node::start_on(dir, Arc::new(FlakyStore::new(inner)), None).await;
        assert!(!node.root.key.is_empty());
        node
    }

    /// A node on `store` (shared with other nodes). `root` is the default account's root when
    /// another node created it.
    pub async fn start_on(
        dir: tempfile::TempDir,
        store: Arc<FlakyStore>,
        root: Option<&Creds>,
    ) -> Node {
        let clock = Arc::new(ManualClock::new(START));
        let mut config = Config::for_data_dir(dir.path());
        config.account_id = Some("111122223333".into());
        config.master_key = Some(MASTER_KEY.into());
        let app = Application::build_with_store(config, clock.clone(), store.clone())
            .await
            .unwrap();
        let addr = app.local_addr().unwrap();
        let root = match (&app.generated_root, root) {
            (Some(g), _) => Creds {
                key: g.access_key_id.clone(),
                secret: g.secret_access_key.clone(),
                token: None,
            },
            (None, Some(r)) => Creds {
                key: r.key.clone(),
                secret: r.secret.clone(),
                token: None,
            },
            (None, None) => panic!("no root credentials for this node"),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Node {
            addr,
            clock,
            store,
            root,
            _dir: dir,
            shutdown: Some(tx),
        }
    }

    pub async fn call(&self, creds: &Creds, service: &str, body: &str) -> Resp {
        let mut headers = HeaderMap::new();
        headers.insert("host", self.addr.to_string().parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        let params = SigningParams {
            access_key_id: &creds.key,
            secret: &creds.secret,
            session_token: creds.token.as_deref(),
            region: "us-east-1",
            service,
            time: self.clock.now(),
        };
        sign_request("POST", "/", "", &mut headers, body.as_bytes(), &params).unwrap();
        raw_post(self.addr, &headers, body).await
    }

    pub async fn sts(&self, creds: &Creds, params: &str) -> Resp {
        self.call(creds, "sts", &format!("Version=2011-06-15&{params}"))
            .await
    }

    pub async fn iam(&self, creds: &Creds, params: &str) -> Resp {
        self.call(creds, "iam", &format!("Version=2010-05-08&{params}"))
            .await
    }

    /// `GET path` → (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
            self.addr
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out).to_string();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// A new IAM user with one access key.
    pub async fn user_with_key(&self, name: &str) -> Creds {
        let r = self
            .iam(&self.root, &format!("Action=CreateUser&UserName={name}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = self
            .iam(
                &self.root,
                &format!("Action=CreateAccessKey&UserName={name}"),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        Creds {
            key: r.field("AccessKeyId").unwrap(),
            secret: r.field("SecretAccessKey").unwrap(),
            token: None,
        }
    }
}

fn assert_service_unavailable(r: &Resp, what: &str) {
    assert_eq!(r.status, 503, "{what}: {}", r.body);
    assert!(r.body.starts_with("<ErrorResponse"), "{what}: {}", r.body);
    assert_eq!(r.code().as_deref(), Some("ServiceUnavailable"), "{what}");
    assert_eq!(r.field("Type").as_deref(), Some("Receiver"), "{what}");
    assert!(
        r.field("RequestId").is_some_and(|id| !id.is_empty()),
        "{what}"
    );
    // No store detail leaks to the client.
    assert!(!r.body.contains("simulated outage"), "{what}: {}", r.body);
}

#[tokio::test]
async fn store_outage_serves_cached_reads_and_refuses_the_rest_with_503() {
    let node = Node::start().await;
    let root = node.root_creds();

    // While the store is up: warm the caches of the root and of one user; make a session.
    let alice = node.user_with_key("alice").await;
    let bob = node.user_with_key("bob").await; // never used before the outage: not cached
    for c in [&root, &alice] {
        let r = node.sts(c, "Action=GetCallerIdentity").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = node.sts(&alice, "Action=GetSessionToken").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let alice_session = session_creds(&r);
    assert_eq!((node.get("/readyz").await).0, 200);

    node.store.set_down(true);
    // Let the change poller fail a few times: it must keep the caches.
    tokio::time::sleep(Duration::from_millis(700)).await;

    // Served from memory.
    let r = node.sts(&root, "Action=GetCallerIdentity").await;
    assert_eq!(r.status, 200, "root GetCallerIdentity: {}", r.body);
    let r = node.sts(&alice, "Action=GetCallerIdentity").await;
    assert_eq!(r.status, 200, "alice GetCallerIdentity: {}", r.body);
    assert!(r.field("Arn").unwrap().ends_with(":user/alice"));
    let r = node.sts(&alice_session, "Action=GetCallerIdentity").await;
    assert_eq!(r.status, 200, "session GetCallerIdentity: {}", r.body);
    let r = node.sts(&root, "Action=GetSessionToken").await;
    assert_eq!(r.status, 200, "root GetSessionToken: {}", r.body);
    let fresh = session_creds(&r);
    let r = node.sts(&fresh, "Action=GetCallerIdentity").await;
    assert_eq!(r.status, 200, "new session GetCallerIdentity: {}", r.body);
    assert_eq!(node.get("/healthz").await.0, 200);

    // Needs the store: a clean 503, never InvalidClientTokenId for a key that exists.
    let r = node.sts(&bob, "Action=GetCallerIdentity").await;
    assert_service_unavailable(&r, "uncached key");
    let r = node.iam(&root, "Action=CreateUser&UserName=carol").await;
    assert_service_unavailable(&r, "CreateUser");
    let r = node.iam(&root, "Action=ListUsers").await;
    assert_service_unavailable(&r, "ListUsers");
    let r = node
        .sts(
            &alice,
            "Action=GetSessionToken&SerialNumber=arn:aws:iam::111122223333:mfa/dev&TokenCode=123456",
        )
        .await;
    assert_service_unavailable(&r, "GetSessionToken with MFA");
    let (status, body) = node.get("/readyz").await;
    assert_eq!(status, 503, "{body}");

    // Back up: everything works again, including what was refused.
    node.store.set_down(false);
    let r = node.iam(&root, "Action=CreateUser&UserName=carol").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = node.sts(&bob, "Action=GetCallerIdentity").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(node.get("/readyz").await.0, 200);
}

#[tokio::test]
async fn changes_made_during_an_outage_of_one_node_are_applied_when_it_reconnects() {
    // The node loses its store while the store itself keeps changing (a network partition):
    // after the outage the poller catches up and the cached key is no longer accepted.
    let node = Node::start().await;
    let root = node.root_creds();
    let alice = node.user_with_key("alice").await;
    assert_eq!(
        node.sts(&alice, "Action=GetCallerIdentity").await.status,
        200
    );
    // Let the poller see the key's creation (it invalidates the account's cache), then warm
    // the cache again, so the outage starts from a settled cache even on a loaded machine.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        node.sts(&alice, "Action=GetCallerIdentity").await.status,
        200
    );

    node.store.set_down(true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another node deactivates alice's key directly in the store.
    node.store
        .inner
        .apply(
            "111122223333",
            &[Write::UpdateAccessKeyStatus {
                access_key_id: alice.key.clone(),
                status: opensts_store::KeyStatus::Inactive,
            }],
            node.clock.now(),
        )
        .await
        .unwrap();
    // During the partition this node still has the old state.
    assert_eq!(
        node.sts(&alice, "Action=GetCallerIdentity").await.status,
        200
    );

    node.store.set_down(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let r = node.sts(&alice, "Action=GetCallerIdentity").await;
        if r.status == 403 {
            assert_eq!(r.code().as_deref(), Some("InvalidClientTokenId"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deactivated key still accepted 1 s after the store came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        node.sts(&root, "Action=GetCallerIdentity").await.status,
        200
    );
}

impl Node {
    pub fn root_creds(&self) -> Creds {
        Creds {
            key: self.root.key.clone(),
            secret: self.root.secret.clone(),
            token: None,
        }
    }
}

#[tokio::test]
async fn a_token_sealed_with_a_just_rotated_key_verifies_on_a_node_that_has_not_polled_yet() {
    // Node Y's poller sees no changes, so only the on-demand reload can teach it the new key.
    let dir = tempfile::tempdir().unwrap();
    let shared = sqlite_store(dir.path()).await;
    let y_store = Arc::new(FlakyStore::new(shared.clone()));
    y_store.set_hide_changes(true);
    let y = Node::start_on(tempfile::tempdir().unwrap(), y_store, None).await;
    let before = y.sts(&y.root, "Action=GetSessionToken").await;
    assert_eq!(before.status, 200, "{}", before.body);
    let old_session = session_creds(&before);

    // `opensts keys rotate` elsewhere: key 2 seals from now on, key 1 is retired.
    let master = opensts_core::crypto::MasterKey::from_encoded(MASTER_KEY).unwrap();
    let report = opensts_server::keys::rotate(
        shared.as_ref(),
        &master,
        opensts_server::app::SESSION_TOKEN_PURPOSE,
        START,
    )
    .await
    .unwrap();
    assert_eq!(report.new_key_id, 2);

    // Node X starts after the rotation and seals with key 2.
    let x = Node::start_on(
        tempfile::tempdir().unwrap(),
        Arc::new(FlakyStore::new(shared.clone())),
        Some(&y.root),
    )
    .await;
    let r = x.sts(&x.root, "Action=GetSessionToken").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new_session = session_creds(&r);

    let r = y.sts(&new_session, "Action=GetCallerIdentity").await;
    assert_eq!(
        r.status, 200,
        "token of the new key on the node that had not polled: {}",
        r.body
    );
    let r = y.sts(&old_session, "Action=GetCallerIdentity").await;
    assert_eq!(r.status, 200, "retired key still opens: {}", r.body);
    // Y now seals with key 2 as well; X opens it.
    let r = y.sts(&y.root, "Action=GetSessionToken").await;
    let from_y = session_creds(&r);
    assert_eq!(x.sts(&from_y, "Action=GetCallerIdentity").await.status, 200);

    // A token naming a key nobody has is still refused (and the reload is rate-limited).
    let mut forged = new_session;
    forged.token = Some(forged_token_with_key_id(
        forged.token.as_deref().unwrap(),
        77,
    ));
    for _ in 0..3 {
        let r = y.sts(&forged, "Action=GetCallerIdentity").await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(r.code().as_deref(), Some("InvalidClientTokenId"));
    }
}

/// The same token with another key id in its header (`version | key_id u32 BE | …`).
fn forged_token_with_key_id(token: &str, key_id: u32) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut raw = URL_SAFE_NO_PAD.decode(token).unwrap();
    raw[1..5].copy_from_slice(&key_id.to_be_bytes());
    URL_SAFE_NO_PAD.encode(raw)
}
