//! First start of several nodes on one empty database: exactly one default account and one key
//! per key ring, whoever wins; and a first start interrupted halfway does not block later ones.

use std::sync::Arc;

use opensts_server::app::{AUTH_MESSAGE_PURPOSE, BOOTSTRAP_LEASE_SECS, SESSION_TOKEN_PURPOSE};
use opensts_server::state::ManualClock;
use opensts_server::{Application, Config};
use opensts_store::Store;

use crate::helpers::START;

/// Same master key for every node (as a deployment must have).
const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::for_data_dir(dir);
    c.master_key = Some(MASTER_KEY.to_string());
    c
}

/// Starts `n` nodes at once on the stores `open()` returns; checks the outcome in `check`.
async fn start_nodes_at_once(stores: Vec<Arc<dyn Store>>) -> Vec<Application> {
    let dir = tempfile::tempdir().unwrap();
    let mut tasks = Vec::new();
    for store in stores {
        let cfg = config(dir.path());
        tasks.push(tokio::spawn(async move {
            let clock = Arc::new(ManualClock::new(START));
            Application::build_with_store(cfg, clock, store).await
        }));
    }
    let mut apps = Vec::new();
    for t in tasks {
        apps.push(t.await.unwrap().unwrap());
    }
    apps
}

async fn assert_one_of_everything(store: &dyn Store, apps: &[Application]) {
    let accounts = store.list_accounts().await.unwrap();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    let generated: Vec<_> = apps
        .iter()
        .filter_map(|a| a.generated_root.clone())
        .collect();
    assert_eq!(
        generated.len(),
        1,
        "exactly one node creates (and prints) the root key"
    );
    assert_eq!(generated[0].account_id, accounts[0].id);
    for app in apps {
        assert_eq!(app.state().default_account_id, accounts[0].id);
    }
    let roots = store.list_access_keys(&accounts[0].id, None).await.unwrap();
    assert_eq!(roots.len(), 1);
    for purpose in [SESSION_TOKEN_PURPOSE, AUTH_MESSAGE_PURPOSE] {
        let ring = store.keyring_list(purpose).await.unwrap();
        assert_eq!(ring.len(), 1, "{purpose}: {ring:?}");
    }
}

#[tokio::test]
async fn three_nodes_starting_at_once_on_sqlite_make_one_account() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("shared.db").display()
    );
    let mut stores = Vec::new();
    for _ in 0..3 {
        let s = opensts_store::open_store(&url).await.unwrap();
        s.migrate().await.unwrap();
        stores.push(s);
    }
    let check = stores[0].clone();
    let apps = start_nodes_at_once(stores).await;
    assert_one_of_everything(check.as_ref(), &apps).await;
}

#[tokio::test]
async fn three_nodes_starting_at_once_on_postgres_make_one_account() {
    opensts_store::conformance::with_postgres(|schema| async move {
        // Three pools, as three processes would have; migrations race too.
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let schema = schema.clone();
            tasks.push(tokio::spawn(async move {
                let s = schema.connect().await;
                s.migrate().await.unwrap();
                Arc::new(s) as Arc<dyn Store>
            }));
        }
        let mut stores = Vec::new();
        for t in tasks {
            stores.push(t.await.unwrap());
        }
        let check = stores[0].clone();
        let apps = start_nodes_at_once(stores).await;
        assert_one_of_everything(check.as_ref(), &apps).await;
    })
    .await;
}

#[tokio::test]
async fn an_interrupted_first_start_does_not_block_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("opensts.db").display()
    );
    let store = opensts_store::open_store(&url).await.unwrap();
    store.migrate().await.unwrap();
    // A node claimed the bootstrap at START and died before creating anything.
    assert!(
        store
            .claim_once(
                "bootstrap",
                "default_account_id",
                START + BOOTSTRAP_LEASE_SECS,
                START
            )
            .await
            .unwrap()
    );
    // The next start, after the lease ran out, creates the account.
    let clock = Arc::new(ManualClock::new(START + BOOTSTRAP_LEASE_SECS + 1));
    let app = Application::build_with_store(config(dir.path()), clock, store.clone())
        .await
        .unwrap();
    assert!(app.generated_root.is_some());
    assert_eq!(store.list_accounts().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_interrupted_first_start_with_a_configured_account_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("opensts.db").display()
    );
    let store = opensts_store::open_store(&url).await.unwrap();
    store.migrate().await.unwrap();
    let master = opensts_core::crypto::MasterKey::from_encoded(MASTER_KEY).unwrap();
    // A node created the configured account, then died before recording it as the default.
    assert!(
        store
            .claim_once(
                "bootstrap",
                "default_account_id",
                START + BOOTSTRAP_LEASE_SECS,
                START
            )
            .await
            .unwrap()
    );
    opensts_server::app::create_account(
        store.as_ref(),
        &master,
        "444455556666",
        "default",
        None,
        START,
    )
    .await
    .unwrap();
    let mut cfg = config(dir.path());
    cfg.account_id = Some("444455556666".into());
    let clock = Arc::new(ManualClock::new(START + BOOTSTRAP_LEASE_SECS + 1));
    let app = Application::build_with_store(cfg, clock, store.clone())
        .await
        .unwrap();
    // The lost root key was never shown: a new one is made and shown.
    let root = app.generated_root.clone().unwrap();
    assert_eq!(root.account_id, "444455556666");
    assert_eq!(app.state().default_account_id, "444455556666");
    let keys = store.list_access_keys("444455556666", None).await.unwrap();
    assert!(keys.iter().any(|k| k.access_key_id == root.access_key_id));
    assert_eq!(store.list_accounts().await.unwrap().len(), 1);
}
