//! Runs the conformance suite on every backend.
//!
//! * SQLite: always, on files in temporary directories (plus the in-memory variant).
//! * PostgreSQL: at `OPENSTS_TEST_DATABASE_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/test`), each test in its own schema. When it is not
//!   reachable the PostgreSQL tests print `SKIPPED: ...` and pass, unless
//!   `OPENSTS_REQUIRE_POSTGRES=1`, which makes them fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use opensts_store::conformance::{self, PgTestSchema, with_postgres};
use opensts_store::{PostgresStore, SqliteStore, Store, StoreError, open_store};

/// One test per conformance case and backend, each on a fresh store.
macro_rules! per_case {
    ($($name:ident),* $(,)?) => {
        mod sqlite_case {
            $(
                #[tokio::test]
                async fn $name() {
                    super::run_case_on_sqlite(stringify!($name)).await;
                }
            )*
        }

        mod postgres_case {
            $(
                #[tokio::test]
                async fn $name() {
                    opensts_store::conformance::run_case_on_postgres(stringify!($name)).await;
                }
            )*
        }

        #[test]
        fn every_case_has_a_test() {
            let wired = [$(stringify!($name)),*];
            let listed: Vec<&str> = conformance::CASES.iter().map(|(n, _)| *n).collect();
            assert_eq!(wired.to_vec(), listed, "keep this list in step with conformance::CASES");
        }
    };
}

per_case!(
    accounts,
    access_keys,
    entities_case_insensitive,
    entities_list_order,
    entities_versioning,
    entity_preconditions,
    batch_atomicity,
    apply_unknown_account,
    change_counter,
    keyring,
    claim_once,
    claim_once_concurrent,
    settings,
    concurrent_apply,
    json_documents,
);

async fn open_sqlite(dir: &tempfile::TempDir) -> SqliteStore {
    let path = dir.path().join("opensts.db");
    let store = SqliteStore::open_path(&path).await.expect("open");
    store.migrate().await.expect("migrate");
    store
}

async fn run_case_on_sqlite(name: &str) {
    let case = conformance::case(name).expect("case exists");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_sqlite(&dir).await;
    case(&store).await;
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// SQLite

#[tokio::test]
async fn sqlite_run_all_on_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_sqlite(&dir).await;
    conformance::run_all(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_run_all_in_memory() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    store.migrate().await.unwrap();
    conformance::run_all(&store).await;
}

#[tokio::test]
async fn sqlite_run_all_through_open_store_url() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/opensts.db?mode=rwc", dir.path().display());
    let store = open_store(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    conformance::run_all(store.as_ref()).await;
    assert!(dir.path().join("opensts.db").exists());
}

#[tokio::test]
async fn sqlite_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_sqlite(&dir).await;
    conformance::persistence_write(&store).await;
    store.close().await;
    drop(store);

    let store = open_sqlite(&dir).await; // migrate() again: a no-op
    conformance::persistence_check(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_several_stores_on_one_file() {
    // Like several processes: separate pools, separate writer connections, one file.
    let dir = tempfile::tempdir().unwrap();
    let first = open_sqlite(&dir).await;
    let second = open_sqlite(&dir).await;
    let third = open_sqlite(&dir).await;
    let stores: [&dyn Store; 3] = [&first, &second, &third];
    conformance::claim_once_across_stores(&stores).await;
    conformance::concurrent_apply_across_stores(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_open_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opensts.db");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let store = SqliteStore::open_path(&path).await?;
            store.migrate().await?;
            Ok::<_, StoreError>(store)
        }));
    }
    let mut stores = Vec::new();
    for task in tasks {
        stores.push(task.await.unwrap().expect("concurrent open + migrate"));
    }
    conformance::empty_store(&stores[0]).await;
}

#[tokio::test]
async fn sqlite_open_variants() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.db");
    let store = SqliteStore::open(plain.to_str().unwrap()).await.unwrap();
    store.migrate().await.unwrap();
    assert!(plain.exists(), "plain path created");

    let short = format!("sqlite:{}", dir.path().join("short.db").display());
    let store = open_store(&short).await.unwrap();
    store.migrate().await.unwrap();
    assert!(dir.path().join("short.db").exists());

    let memory = open_store("sqlite::memory:").await.unwrap();
    memory.migrate().await.unwrap();
    conformance::empty_store(memory.as_ref()).await;

    // A directory that does not exist: a clean error, no panic.
    let missing = dir.path().join("no/such/dir/x.db");
    assert!(SqliteStore::open_path(&missing).await.is_err());
}

#[tokio::test]
async fn open_store_rejects_unknown_schemes() {
    for url in ["mysql://root:secret@localhost/db", "opensts.db", "http://x"] {
        match open_store(url).await {
            Err(StoreError::Other(message)) => {
                assert!(!message.contains("secret"), "no password in {message}")
            }
            Err(other) => panic!("{url}: unexpected {other:?}"),
            Ok(_) => panic!("{url}: accepted"),
        }
    }
}

#[tokio::test]
async fn sqlite_purges_expired_claims() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.claim_once("s", "a", 100, 0).await.unwrap());
    assert!(store.claim_once("s", "b", 200, 0).await.unwrap());
    assert_eq!(store.purge_expired_claims(100).await.unwrap(), 1);
    assert!(
        !store.claim_once("s", "b", 300, 150).await.unwrap(),
        "b is still live"
    );
    assert!(store.claim_once("s", "a", 300, 150).await.unwrap());
}

#[tokio::test]
async fn sqlite_closed_store_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_sqlite(&dir).await;
    store.close().await;
    match store.get_account("000000000000").await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    match store.apply("000000000000", &[], 0).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

#[tokio::test]
async fn postgres_run_all() {
    with_postgres(|schema| async move {
        let store = schema.store().await;
        conformance::run_all(&store).await;
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn postgres_data_survives_reconnecting() {
    with_postgres(|schema| async move {
        let store = schema.store().await;
        conformance::persistence_write(&store).await;
        store.close().await;
        drop(store);
        let store = schema.store().await;
        conformance::persistence_check(&store).await;
        store.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_several_stores_on_one_database() {
    with_postgres(|schema| async move {
        let first = schema.store().await;
        let second = schema.store().await;
        let third = schema.store().await;
        let stores: [&dyn Store; 3] = [&first, &second, &third];
        conformance::claim_once_across_stores(&stores).await;
        conformance::concurrent_apply_across_stores(&stores).await;
        for store in [first, second, third] {
            store.close().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_migrations() {
    // Several nodes starting at once on an empty schema: creating the schema and migrating
    // must both be safe (advisory locks), and the result must be one clean schema.
    with_postgres(|schema| async move {
        let schema = Arc::new(schema);
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let schema = Arc::clone(&schema);
            tasks.push(tokio::spawn(async move {
                let store =
                    PostgresStore::connect_with_schema(schema.url(), schema.schema()).await?;
                store.migrate().await?;
                Ok::<_, StoreError>(store)
            }));
        }
        let mut stores = Vec::new();
        for task in tasks {
            stores.push(task.await.unwrap().expect("concurrent connect + migrate"));
        }
        // Migrating again, concurrently, finds nothing to do.
        let again: Vec<_> = stores.iter().map(|s| s.migrate()).collect();
        for result in conformance::join_all(again).await {
            result.expect("second migration");
        }
        conformance::empty_store(&stores[0]).await;
        for store in stores {
            store.close().await;
        }
    })
    .await;
}

#[tokio::test]
async fn postgres_open_store_url() {
    // open_store with a postgres:// URL, the schema pinned through the URL's `options`.
    with_postgres(|schema| async move {
        schema.connect().await.close().await; // creates the schema
        let separator = if schema.url().contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{separator}options=-c%20search_path%3D{}",
            schema.url(),
            schema.schema()
        );
        let store = open_store(&url).await.unwrap();
        store.migrate().await.unwrap();
        conformance::run_all(store.as_ref()).await;
    })
    .await;
}

#[tokio::test]
async fn postgres_purges_expired_claims() {
    with_postgres(|schema| async move {
        let store = schema.store().await;
        assert!(store.claim_once("s", "a", 100, 0).await.unwrap());
        assert!(store.claim_once("s", "b", 200, 0).await.unwrap());
        assert_eq!(store.purge_expired_claims(100).await.unwrap(), 1);
        assert!(!store.claim_once("s", "b", 300, 150).await.unwrap());
        assert!(store.claim_once("s", "a", 300, 150).await.unwrap());
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn postgres_closed_store_is_unavailable() {
    with_postgres(|schema| async move {
        let store = schema.store().await;
        store.close().await;
        match store.get_account("000000000000").await {
            Err(StoreError::Unavailable(_)) => {}
            other => panic!("expected Unavailable, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn postgres_rejects_bad_schema_names() {
    // Validated before connecting, so this needs no database.
    for bad in ["", "Upper", "a;drop schema public", "a\"b", "1abc"] {
        assert!(matches!(
            PostgresStore::connect_with_schema("postgres://127.0.0.1:1/x", bad).await,
            Err(StoreError::Other(_))
        ));
    }
}

#[tokio::test]
async fn postgres_down_is_unavailable() {
    // Nothing listens on port 1.
    match PostgresStore::connect("postgres://postgres@127.0.0.1:1/test").await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn postgres_test_schema_is_usable() {
    // The helper names schemas so that connect_with_schema accepts them.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if let Some(schema) = PgTestSchema::create().await {
            assert!(schema.schema().starts_with("opensts_test_"));
            assert!(schema.schema().len() <= 63);
            schema.connect().await.close().await;
            schema.drop_schema().await;
        }
    });
}
