//! The conformance suite every [`Store`] backend must pass, plus PostgreSQL test helpers.
//!
//! Compiled only with the `conformance` cargo feature. Use it from another crate's tests:
//!
//! ```toml
//! [dev-dependencies]
//! opensts-store = { workspace = true, features = ["conformance"] }
//! ```
//!
//! ```ignore
//! let store = opensts_store::SqliteStore::open_in_memory().await?;
//! store.migrate().await?;
//! opensts_store::conformance::run_all(&store).await; // panics on the first failed check
//! ```
//!
//! * [`run_all`] runs every case on one freshly migrated, empty store.
//! * [`CASES`] lists the cases by name; each one works on any migrated store, alone or after
//!   the others (they use disjoint account ids, key-ring purposes, claim scopes and settings).
//! * [`claim_once_across_stores`], [`concurrent_apply_across_stores`] take several stores
//!   opened on the same database (as several processes or nodes would).
//! * [`persistence_write`] / [`persistence_check`] bracket closing and reopening a database.
//! * [`PgTestSchema`] / [`with_postgres`] give a test its own PostgreSQL schema, honouring
//!   `OPENSTS_TEST_DATABASE_URL` and `OPENSTS_REQUIRE_POSTGRES` (see [`PgTestSchema::create`]).
//!
//! Checks are assertions: like a test, a failed check panics with what differed.

// This module is test support: failing checks are meant to panic, as in a #[test].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use serde_json::json;
use sqlx::Connection;

use crate::{
    AccessKeyRecord, Account, Expect, KeyStatus, KeyringRecord, PostgresStore, Store, StoreError,
    UnixTime, Write,
};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One conformance case.
pub type CaseFn = for<'a> fn(&'a dyn Store) -> BoxFuture<'a, ()>;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// Every case, by name, in the order [`run_all`] runs them.
        pub const CASES: &[(&str, CaseFn)] = &[
            $( (stringify!($name), |store| Box::pin($name(store))) ),*
        ];
    };
}

cases!(
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

/// Looks a case up by name.
pub fn case(name: &str) -> Option<CaseFn> {
    CASES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Runs the whole suite on `store`, which must be freshly migrated and empty.
pub async fn run_all(store: &dyn Store) {
    empty_store(store).await;
    for (name, case) in CASES {
        tracing::info!(case = name, "conformance case");
        case(store).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

const T0: UnixTime = 1_700_000_000;

/// A 12-digit account id unique to (case, n).
fn acct(case: u32, n: u32) -> String {
    format!("{case:02}{n:010}")
}

fn account(id: &str, name: &str, created_at: UnixTime) -> Account {
    Account {
        id: id.to_string(),
        name: name.to_string(),
        created_at,
    }
}

fn key(id: &str, account_id: &str, user: Option<&str>, created_at: UnixTime) -> AccessKeyRecord {
    AccessKeyRecord {
        access_key_id: id.to_string(),
        account_id: account_id.to_string(),
        user_name: user.map(str::to_string),
        secret_sealed: format!("sealed:{id}").into_bytes(),
        status: KeyStatus::Active,
        created_at,
    }
}

fn root_key_id(account_id: &str) -> String {
    format!("AKIAROOT{account_id}")
}

/// Creates an account with its root key (`AKIAROOT<id>`).
async fn new_account(store: &dyn Store, id: &str) {
    store
        .create_account(
            &account(id, &format!("account {id}"), T0),
            &key(&root_key_id(id), id, None, T0),
        )
        .await
        .unwrap_or_else(|e| panic!("create_account({id}): {e}"));
}

fn put(kind: &str, name: &str, doc: serde_json::Value, expect: Expect) -> Write {
    Write::PutEntity {
        kind: kind.to_string(),
        name: name.to_string(),
        doc,
        expect,
    }
}

fn del(kind: &str, name: &str, expect: Expect) -> Write {
    Write::DeleteEntity {
        kind: kind.to_string(),
        name: name.to_string(),
        expect,
    }
}

fn ring(purpose: &str, key_id: u32, created_at: UnixTime) -> KeyringRecord {
    KeyringRecord {
        purpose: purpose.to_string(),
        key_id,
        material_sealed: format!("ring:{purpose}:{key_id}").into_bytes(),
        created_at,
        retired_at: None,
    }
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: crate::Result<T>, want_index: usize, what: &str) {
    match result {
        Err(StoreError::Conflict { index, reason }) => {
            assert_eq!(
                index, want_index,
                "{what}: conflict at the wrong write ({reason})"
            );
            assert!(!reason.is_empty(), "{what}: conflict without a reason");
        }
        other => panic!("{what}: expected Conflict at write {want_index}, got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: crate::Result<T>, what: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

async fn apply_ok(store: &dyn Store, account_id: &str, writes: &[Write], now: UnixTime) {
    store
        .apply(account_id, writes, now)
        .await
        .unwrap_or_else(|e| panic!("apply to {account_id} failed: {e}"));
}

/// Polls all futures on the current task until every one is done (no `'static` needed).
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}

// ---------------------------------------------------------------------------------------------
// Cases

/// A freshly migrated store is empty and its counter is 0. Only for fresh stores.
pub async fn empty_store(store: &dyn Store) {
    assert_eq!(store.change_counter().await.unwrap(), 0);
    assert_eq!(store.changes_since(0).await.unwrap(), (0, vec![]));
    assert!(store.list_accounts().await.unwrap().is_empty());
    assert!(store.get_account("000000000000").await.unwrap().is_none());
    assert!(store.get_access_key("AKIANOTHING").await.unwrap().is_none());
    assert!(
        store
            .keyring_list("session-token")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .get_setting("default-account")
            .await
            .unwrap()
            .is_none()
    );
}

/// Account create / get / duplicate / list.
pub async fn accounts(store: &dyn Store) {
    let (a, b, c) = (acct(1, 3), acct(1, 1), acct(1, 2));
    assert!(store.get_account(&a).await.unwrap().is_none());

    // Created out of order, listed by id.
    for (i, id) in [&a, &b, &c].into_iter().enumerate() {
        let created = T0 + i as i64;
        store
            .create_account(
                &account(id, &format!("Account {i}"), created),
                &key(&root_key_id(id), id, None, created),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.get_account(&a).await.unwrap(),
        Some(account(&a, "Account 0", T0))
    );
    let listed: Vec<String> = store
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|acc| acc.id)
        .filter(|id| id.starts_with("01"))
        .collect();
    assert_eq!(
        listed,
        vec![b.clone(), c.clone(), a.clone()],
        "ordered by id"
    );

    // The root key came with the account.
    let root = store
        .get_access_key(&root_key_id(&a))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(root, key(&root_key_id(&a), &a, None, T0));
    assert_eq!(store.list_access_keys(&a, None).await.unwrap(), vec![root]);

    // Duplicate account id: conflict, nothing changed (not even the new key).
    let before = store.change_counter().await.unwrap();
    assert_conflict(
        store
            .create_account(
                &account(&a, "other name", T0 + 10),
                &key("AKIANEWKEYFORDUP0001", &a, None, T0 + 10),
            )
            .await,
        0,
        "duplicate account",
    );
    assert_eq!(
        store.get_account(&a).await.unwrap().unwrap().name,
        "Account 0"
    );
    assert!(
        store
            .get_access_key("AKIANEWKEYFORDUP0001")
            .await
            .unwrap()
            .is_none()
    );

    // Duplicate root key id: conflict, and the account is not created (atomic).
    let d = acct(1, 4);
    assert_conflict(
        store
            .create_account(&account(&d, "d", T0), &key(&root_key_id(&a), &d, None, T0))
            .await,
        0,
        "duplicate root key",
    );
    assert!(store.get_account(&d).await.unwrap().is_none());
    assert_eq!(
        store.change_counter().await.unwrap(),
        before,
        "failed creates change nothing"
    );
}

/// Access keys: insert, list by user (case-insensitive), status, delete, global lookup.
pub async fn access_keys(store: &dyn Store) {
    let (a, b) = (acct(2, 1), acct(2, 2));
    new_account(store, &a).await;
    new_account(store, &b).await;

    // Two keys for Alice (inserted newest first), one for Bob, one extra root key.
    apply_ok(
        store,
        &a,
        &[
            Write::InsertAccessKey(key("AKIA02ALICE000000002", &a, Some("Alice"), T0 + 20)),
            Write::InsertAccessKey(key("AKIA02ALICE000000001", &a, Some("Alice"), T0 + 10)),
            Write::InsertAccessKey(key("AKIA02ALICE000000000", &a, Some("Alice"), T0 + 20)),
            Write::InsertAccessKey(key("AKIA02BOB00000000001", &a, Some("bob"), T0 + 5)),
            Write::InsertAccessKey(key("AKIA02ROOT2000000001", &a, None, T0 + 30)),
        ],
        T0 + 30,
    )
    .await;

    let ids = |keys: Vec<AccessKeyRecord>| -> Vec<String> {
        keys.into_iter().map(|k| k.access_key_id).collect()
    };
    let alice_ids = vec![
        "AKIA02ALICE000000001".to_string(),
        "AKIA02ALICE000000000".to_string(),
        "AKIA02ALICE000000002".to_string(),
    ];
    for spelling in ["Alice", "alice", "ALICE", "aLiCe"] {
        assert_eq!(
            ids(store.list_access_keys(&a, Some(spelling)).await.unwrap()),
            alice_ids,
            "keys of {spelling}: ordered by created_at, then id"
        );
    }
    let alice = store.list_access_keys(&a, Some("alice")).await.unwrap();
    assert_eq!(
        alice[0].user_name.as_deref(),
        Some("Alice"),
        "spelling kept"
    );
    assert_eq!(
        alice[0].secret_sealed,
        b"sealed:AKIA02ALICE000000001".to_vec()
    );
    assert_eq!(
        ids(store.list_access_keys(&a, Some("BOB")).await.unwrap()),
        vec!["AKIA02BOB00000000001".to_string()]
    );
    assert_eq!(
        ids(store.list_access_keys(&a, None).await.unwrap()),
        vec![root_key_id(&a), "AKIA02ROOT2000000001".to_string()],
        "root keys only"
    );
    assert!(
        store
            .list_access_keys(&a, Some("carol"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_access_keys(&b, Some("alice"))
            .await
            .unwrap()
            .is_empty(),
        "per account"
    );

    // Global lookup by id.
    let got = store
        .get_access_key("AKIA02BOB00000000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, key("AKIA02BOB00000000001", &a, Some("bob"), T0 + 5));
    assert!(
        store
            .get_access_key("akia02bob00000000001")
            .await
            .unwrap()
            .is_none(),
        "ids are exact"
    );

    // Duplicate id, also from another account: conflict at its index, batch not applied.
    assert_conflict(
        store
            .apply(
                &b,
                &[
                    Write::InsertAccessKey(key("AKIA02NEW00000000001", &b, Some("x"), T0)),
                    Write::InsertAccessKey(key("AKIA02BOB00000000001", &b, Some("y"), T0)),
                ],
                T0,
            )
            .await,
        1,
        "duplicate access key id",
    );
    assert!(
        store
            .get_access_key("AKIA02NEW00000000001")
            .await
            .unwrap()
            .is_none()
    );

    // A key record for another account than the batch's is refused.
    assert!(
        store
            .apply(
                &b,
                &[Write::InsertAccessKey(key(
                    "AKIA02WRONG000000001",
                    &a,
                    None,
                    T0
                ))],
                T0,
            )
            .await
            .is_err()
    );
    assert!(
        store
            .get_access_key("AKIA02WRONG000000001")
            .await
            .unwrap()
            .is_none()
    );

    // Status update.
    apply_ok(
        store,
        &a,
        &[Write::UpdateAccessKeyStatus {
            access_key_id: "AKIA02BOB00000000001".into(),
            status: KeyStatus::Inactive,
        }],
        T0 + 40,
    )
    .await;
    let got = store
        .get_access_key("AKIA02BOB00000000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, KeyStatus::Inactive);
    assert_eq!(got.created_at, T0 + 5, "status update keeps created_at");

    // Status update / delete of a missing key, or of a key of another account: conflict.
    assert_conflict(
        store
            .apply(
                &a,
                &[Write::UpdateAccessKeyStatus {
                    access_key_id: "AKIA02MISSING0000001".into(),
                    status: KeyStatus::Active,
                }],
                T0,
            )
            .await,
        0,
        "status of a missing key",
    );
    assert_conflict(
        store
            .apply(
                &b,
                &[Write::UpdateAccessKeyStatus {
                    access_key_id: "AKIA02BOB00000000001".into(),
                    status: KeyStatus::Active,
                }],
                T0,
            )
            .await,
        0,
        "status of another account's key",
    );
    assert_conflict(
        store
            .apply(
                &b,
                &[Write::DeleteAccessKey {
                    access_key_id: "AKIA02BOB00000000001".into(),
                }],
                T0,
            )
            .await,
        0,
        "delete of another account's key",
    );
    assert_eq!(
        store
            .get_access_key("AKIA02BOB00000000001")
            .await
            .unwrap()
            .unwrap()
            .status,
        KeyStatus::Inactive
    );

    // Delete.
    apply_ok(
        store,
        &a,
        &[Write::DeleteAccessKey {
            access_key_id: "AKIA02BOB00000000001".into(),
        }],
        T0 + 50,
    )
    .await;
    assert!(
        store
            .get_access_key("AKIA02BOB00000000001")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .list_access_keys(&a, Some("bob"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_conflict(
        store
            .apply(
                &a,
                &[Write::DeleteAccessKey {
                    access_key_id: "AKIA02BOB00000000001".into(),
                }],
                T0 + 60,
            )
            .await,
        0,
        "delete of a deleted key",
    );
}

/// Entities are found by name case-insensitively and keep the spelling of their creation.
pub async fn entities_case_insensitive(store: &dyn Store) {
    let (a, b) = (acct(3, 1), acct(3, 2));
    new_account(store, &a).await;
    new_account(store, &b).await;
    apply_ok(
        store,
        &a,
        &[put("user", "Alice", json!({"path": "/"}), Expect::Absent)],
        T0,
    )
    .await;
    for spelling in ["Alice", "alice", "ALICE"] {
        let got = store
            .get_entity(&a, "user", spelling)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.name, "Alice");
        assert_eq!(got.kind, "user");
        assert_eq!(got.account_id, a);
        assert_eq!(got.doc, json!({"path": "/"}));
        assert_eq!((got.version, got.created_at, got.updated_at), (1, T0, T0));
    }
    // Unique case-insensitively.
    assert_conflict(
        store
            .apply(&a, &[put("user", "ALICE", json!({}), Expect::Absent)], T0)
            .await,
        0,
        "same name, other case",
    );
    // Other kinds and other accounts are separate namespaces.
    assert!(
        store
            .get_entity(&a, "role", "alice")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_entity(&b, "user", "alice")
            .await
            .unwrap()
            .is_none()
    );
    apply_ok(
        store,
        &a,
        &[put("role", "alice", json!({"r": 1}), Expect::Absent)],
        T0,
    )
    .await;
    apply_ok(
        store,
        &b,
        &[put("user", "ALICE", json!({"b": 1}), Expect::Absent)],
        T0,
    )
    .await;
    assert_eq!(
        store
            .get_entity(&a, "role", "ALICE")
            .await
            .unwrap()
            .unwrap()
            .name,
        "alice"
    );
    assert_eq!(
        store
            .get_entity(&b, "user", "alice")
            .await
            .unwrap()
            .unwrap()
            .name,
        "ALICE"
    );
    assert_eq!(
        store
            .get_entity(&a, "user", "alice")
            .await
            .unwrap()
            .unwrap()
            .doc,
        json!({"path": "/"})
    );
    // An update through another spelling keeps the original one.
    apply_ok(
        store,
        &a,
        &[put("user", "aLiCe", json!({"v": 2}), Expect::Exists)],
        T0 + 1,
    )
    .await;
    let got = store
        .get_entity(&a, "user", "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.name.as_str(), got.version), ("Alice", 2));
    // Delete through another spelling.
    apply_ok(store, &a, &[del("user", "ALICE", Expect::Exists)], T0 + 2).await;
    assert!(
        store
            .get_entity(&a, "user", "Alice")
            .await
            .unwrap()
            .is_none()
    );
}

/// `list_entities`: one kind of one account, ordered by the lower-cased name, byte-wise.
pub async fn entities_list_order(store: &dyn Store) {
    let (a, b) = (acct(4, 1), acct(4, 2));
    new_account(store, &a).await;
    new_account(store, &b).await;
    // Byte order of the lower-cased names: '-' (0x2d) < '.' < '0' < '_' (0x5f) < 'a'.
    let names = [
        "b_c", "Zeta", "b-c", "alpha", "B.c", "ALPHA2", "b0", "bc", "Beta",
    ];
    let writes: Vec<Write> = names
        .iter()
        .map(|n| put("policy", n, json!({"n": n}), Expect::Absent))
        .collect();
    apply_ok(store, &a, &writes, T0).await;
    apply_ok(
        store,
        &a,
        &[put("user", "aaa", json!({}), Expect::Absent)],
        T0,
    )
    .await;
    apply_ok(
        store,
        &b,
        &[put("policy", "aaa", json!({}), Expect::Absent)],
        T0,
    )
    .await;

    let listed: Vec<String> = store
        .list_entities(&a, "policy")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(
        listed,
        vec![
            "alpha", "ALPHA2", "b-c", "B.c", "b0", "b_c", "bc", "Beta", "Zeta"
        ],
        "ordered by lower-cased name, byte-wise; only this kind and account"
    );
    let all = store.list_entities(&a, "policy").await.unwrap();
    assert!(
        all.iter()
            .all(|e| e.account_id == a && e.kind == "policy" && e.version == 1)
    );
    assert_eq!(all[0].doc, json!({"n": "alpha"}));
    assert!(store.list_entities(&a, "group").await.unwrap().is_empty());
}

/// Versions start at 1 and grow by one; `created_at` is kept, `updated_at` follows `now`.
pub async fn entities_versioning(store: &dyn Store) {
    let a = acct(5, 1);
    new_account(store, &a).await;
    apply_ok(
        store,
        &a,
        &[put("role", "Admin", json!({"v": 1}), Expect::Absent)],
        T0,
    )
    .await;
    apply_ok(
        store,
        &a,
        &[put("role", "Admin", json!({"v": 2}), Expect::Any)],
        T0 + 100,
    )
    .await;
    apply_ok(
        store,
        &a,
        &[put("role", "admin", json!({"v": 3}), Expect::Version(2))],
        T0 + 200,
    )
    .await;
    let got = store
        .get_entity(&a, "role", "ADMIN")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.version, 3);
    assert_eq!(got.created_at, T0, "created_at preserved");
    assert_eq!(got.updated_at, T0 + 200);
    assert_eq!(got.doc, json!({"v": 3}));
    assert_eq!(got.name, "Admin");

    // Delete, then create again: a new entity, version 1, new created_at.
    apply_ok(
        store,
        &a,
        &[del("role", "admin", Expect::Version(3))],
        T0 + 300,
    )
    .await;
    apply_ok(
        store,
        &a,
        &[put("role", "ADMIN", json!({"new": true}), Expect::Absent)],
        T0 + 400,
    )
    .await;
    let got = store
        .get_entity(&a, "role", "admin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            got.name.as_str(),
            got.version,
            got.created_at,
            got.updated_at
        ),
        ("ADMIN", 1, T0 + 400, T0 + 400)
    );
}

/// `Expect::{Any, Absent, Exists, Version}` on puts and deletes.
pub async fn entity_preconditions(store: &dyn Store) {
    let a = acct(6, 1);
    new_account(store, &a).await;
    let doc = json!({"x": 1});

    // On a missing entity.
    assert_conflict(
        store
            .apply(&a, &[put("user", "u", doc.clone(), Expect::Exists)], T0)
            .await,
        0,
        "put Exists on missing",
    );
    assert_conflict(
        store
            .apply(&a, &[put("user", "u", doc.clone(), Expect::Version(1))], T0)
            .await,
        0,
        "put Version on missing",
    );
    assert_conflict(
        store
            .apply(&a, &[del("user", "u", Expect::Exists)], T0)
            .await,
        0,
        "delete Exists on missing",
    );
    assert_conflict(
        store
            .apply(&a, &[del("user", "u", Expect::Version(1))], T0)
            .await,
        0,
        "delete Version on missing",
    );
    // Deleting a missing entity without precondition (or expecting absence) is a no-op.
    apply_ok(store, &a, &[del("user", "u", Expect::Any)], T0).await;
    apply_ok(store, &a, &[del("user", "u", Expect::Absent)], T0).await;
    assert!(store.get_entity(&a, "user", "u").await.unwrap().is_none());

    // Create (Any creates too), then on an existing entity.
    apply_ok(store, &a, &[put("user", "u", doc.clone(), Expect::Any)], T0).await;
    assert_eq!(
        store
            .get_entity(&a, "user", "u")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    assert_conflict(
        store
            .apply(&a, &[put("user", "u", doc.clone(), Expect::Absent)], T0)
            .await,
        0,
        "put Absent on existing",
    );
    assert_conflict(
        store
            .apply(&a, &[del("user", "u", Expect::Absent)], T0)
            .await,
        0,
        "delete Absent on existing",
    );
    apply_ok(
        store,
        &a,
        &[put("user", "u", json!({"x": 2}), Expect::Exists)],
        T0 + 1,
    )
    .await;
    apply_ok(
        store,
        &a,
        &[put("user", "u", json!({"x": 3}), Expect::Version(2))],
        T0 + 2,
    )
    .await;
    assert_conflict(
        store
            .apply(&a, &[put("user", "u", doc.clone(), Expect::Version(2))], T0)
            .await,
        0,
        "put with a stale version",
    );
    assert_conflict(
        store
            .apply(&a, &[put("user", "u", doc.clone(), Expect::Version(4))], T0)
            .await,
        0,
        "put with a future version",
    );
    assert_conflict(
        store
            .apply(&a, &[del("user", "u", Expect::Version(1))], T0)
            .await,
        0,
        "delete with a stale version",
    );
    let got = store.get_entity(&a, "user", "u").await.unwrap().unwrap();
    assert_eq!(
        (got.version, got.doc),
        (3, json!({"x": 3})),
        "failed writes change nothing"
    );
    apply_ok(store, &a, &[del("user", "u", Expect::Version(3))], T0 + 3).await;
    assert!(store.get_entity(&a, "user", "u").await.unwrap().is_none());
    apply_ok(
        store,
        &a,
        &[put("user", "v", doc.clone(), Expect::Absent)],
        T0,
    )
    .await;
    apply_ok(store, &a, &[del("user", "v", Expect::Exists)], T0).await;
    assert!(store.get_entity(&a, "user", "v").await.unwrap().is_none());
}

/// A batch is all-or-nothing; writes in a batch see the earlier writes of the batch.
pub async fn batch_atomicity(store: &dyn Store) {
    let a = acct(7, 1);
    new_account(store, &a).await;
    apply_ok(
        store,
        &a,
        &[put("group", "existing", json!({"v": 1}), Expect::Absent)],
        T0,
    )
    .await;
    let counter = store.change_counter().await.unwrap();
    let (_, generations) = store.changes_since(0).await.unwrap();

    // A failing write in the middle: nothing of the batch is applied.
    let result = store
        .apply(
            &a,
            &[
                put("group", "first", json!({}), Expect::Absent),
                put("group", "existing", json!({"v": 2}), Expect::Any),
                Write::InsertAccessKey(key("AKIA07BATCH000000001", &a, Some("u"), T0)),
                put("group", "EXISTING", json!({"v": 3}), Expect::Version(1)),
                put("group", "last", json!({}), Expect::Absent),
            ],
            T0 + 1,
        )
        .await;
    // Write 1 bumped "existing" to version 2 inside the batch, so write 3's Version(1) fails.
    assert_conflict(result, 3, "batch with a failing write");
    assert!(
        store
            .get_entity(&a, "group", "first")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_entity(&a, "group", "last")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_access_key("AKIA07BATCH000000001")
            .await
            .unwrap()
            .is_none()
    );
    let existing = store
        .get_entity(&a, "group", "existing")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((existing.version, existing.doc), (1, json!({"v": 1})));
    assert_eq!(
        store.change_counter().await.unwrap(),
        counter,
        "counter unchanged"
    );
    assert_eq!(
        store.changes_since(0).await.unwrap().1,
        generations,
        "generations unchanged"
    );

    // The same batch with a correct precondition applies entirely, bumping the counter once.
    apply_ok(
        store,
        &a,
        &[
            put("group", "first", json!({}), Expect::Absent),
            put("group", "existing", json!({"v": 2}), Expect::Any),
            Write::InsertAccessKey(key("AKIA07BATCH000000001", &a, Some("u"), T0)),
            put("group", "EXISTING", json!({"v": 3}), Expect::Version(2)),
            put("group", "last", json!({}), Expect::Absent),
            put("group", "temp", json!({}), Expect::Absent),
            del("group", "TEMP", Expect::Version(1)),
        ],
        T0 + 2,
    )
    .await;
    assert_eq!(store.change_counter().await.unwrap(), counter + 1);
    let existing = store
        .get_entity(&a, "group", "existing")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((existing.version, existing.doc), (3, json!({"v": 3})));
    assert_eq!(existing.created_at, T0);
    assert!(
        store
            .get_entity(&a, "group", "first")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_entity(&a, "group", "last")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_entity(&a, "group", "temp")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_access_key("AKIA07BATCH000000001")
            .await
            .unwrap()
            .is_some()
    );

    // A failing first write.
    assert_conflict(
        store
            .apply(
                &a,
                &[
                    put("group", "first", json!({}), Expect::Absent),
                    put("group", "never", json!({}), Expect::Absent),
                ],
                T0 + 3,
            )
            .await,
        0,
        "failing first write",
    );
    assert!(
        store
            .get_entity(&a, "group", "never")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.change_counter().await.unwrap(), counter + 1);
}

/// Writes to an account that does not exist fail with `NotFound` and change nothing.
pub async fn apply_unknown_account(store: &dyn Store) {
    let missing = acct(8, 99);
    let counter = store.change_counter().await.unwrap();
    assert_not_found(
        store
            .apply(&missing, &[put("user", "u", json!({}), Expect::Absent)], T0)
            .await,
        "apply to a missing account",
    );
    assert!(
        store
            .get_entity(&missing, "user", "u")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.change_counter().await.unwrap(), counter);
}

/// The change counter and per-account generations.
pub async fn change_counter(store: &dyn Store) {
    let (a, b) = (acct(9, 1), acct(9, 2));
    let c0 = store.change_counter().await.unwrap();
    assert_eq!(store.changes_since(c0).await.unwrap(), (c0, vec![]));

    new_account(store, &a).await;
    assert_eq!(
        store.change_counter().await.unwrap(),
        c0 + 1,
        "create_account bumps"
    );
    assert_eq!(
        store.changes_since(c0).await.unwrap(),
        (c0 + 1, vec![(a.clone(), c0 + 1)])
    );

    // One batch of several writes: one bump, the account's generation is the new counter.
    apply_ok(
        store,
        &a,
        &[
            put("user", "u1", json!({}), Expect::Absent),
            put("user", "u2", json!({}), Expect::Absent),
            Write::InsertAccessKey(key("AKIA09U1000000000001", &a, Some("u1"), T0)),
        ],
        T0,
    )
    .await;
    assert_eq!(
        store.change_counter().await.unwrap(),
        c0 + 2,
        "one bump per batch"
    );
    assert_eq!(
        store.changes_since(c0 + 1).await.unwrap(),
        (c0 + 2, vec![(a.clone(), c0 + 2)])
    );

    new_account(store, &b).await;
    let (current, mut changed) = store.changes_since(c0).await.unwrap();
    changed.sort();
    assert_eq!(current, c0 + 3);
    assert_eq!(
        changed,
        vec![(a.clone(), c0 + 2), (b.clone(), c0 + 3)],
        "latest generation only"
    );

    // An empty batch succeeds and bumps: a way to make every node drop an account's caches.
    apply_ok(store, &b, &[], T0).await;
    assert_eq!(
        store.changes_since(c0 + 3).await.unwrap(),
        (c0 + 4, vec![(b.clone(), c0 + 4)])
    );

    // Key-ring changes bump with the account id "".
    let purpose = "conformance-counter";
    store.keyring_insert(&ring(purpose, 1, T0)).await.unwrap();
    assert_eq!(
        store.changes_since(c0 + 4).await.unwrap(),
        (c0 + 5, vec![(String::new(), c0 + 5)])
    );
    store.keyring_retire(purpose, 1, T0 + 1).await.unwrap();
    assert_eq!(
        store.changes_since(c0 + 5).await.unwrap(),
        (c0 + 6, vec![(String::new(), c0 + 6)])
    );
    store.keyring_delete(purpose, 1).await.unwrap();
    assert_eq!(
        store.changes_since(c0 + 6).await.unwrap(),
        (c0 + 7, vec![(String::new(), c0 + 7)])
    );

    // Failures do not bump; neither do one-time claims (they are not cached state).
    assert!(
        store
            .apply(&a, &[put("user", "u1", json!({}), Expect::Absent)], T0)
            .await
            .is_err()
    );
    assert!(store.keyring_insert(&ring(purpose, 2, T0)).await.is_ok());
    assert!(store.keyring_insert(&ring(purpose, 2, T0)).await.is_err());
    assert!(store.keyring_retire(purpose, 99, T0).await.is_err());
    assert!(store.keyring_delete(purpose, 99).await.is_err());
    assert!(
        store
            .claim_once("conformance-counter", "x", T0 + 60, T0)
            .await
            .unwrap()
    );
    assert_eq!(store.change_counter().await.unwrap(), c0 + 8);
    let (current, changed) = store.changes_since(c0 + 8).await.unwrap();
    assert_eq!((current, changed), (c0 + 8, vec![]));
}

/// The key ring: insert, list, retire, delete, duplicates.
pub async fn keyring(store: &dyn Store) {
    let p = "conformance-ring";
    let other = "conformance-ring-other";
    assert!(store.keyring_list(p).await.unwrap().is_empty());
    store.keyring_insert(&ring(p, 2, T0 + 2)).await.unwrap();
    store.keyring_insert(&ring(p, 1, T0 + 1)).await.unwrap();
    store
        .keyring_insert(&ring(p, u32::MAX, T0 + 3))
        .await
        .unwrap();
    store.keyring_insert(&ring(other, 1, T0)).await.unwrap();
    assert_eq!(
        store.keyring_list(p).await.unwrap(),
        vec![
            ring(p, 1, T0 + 1),
            ring(p, 2, T0 + 2),
            ring(p, u32::MAX, T0 + 3)
        ],
        "ordered by key id, full u32 range"
    );
    assert_conflict(
        store.keyring_insert(&ring(p, 2, T0 + 9)).await,
        0,
        "duplicate key id",
    );
    assert_eq!(store.keyring_list(p).await.unwrap()[1].created_at, T0 + 2);

    store.keyring_retire(p, 1, T0 + 100).await.unwrap();
    let listed = store.keyring_list(p).await.unwrap();
    assert_eq!(listed[0].retired_at, Some(T0 + 100));
    assert_eq!(listed[1].retired_at, None);
    assert_not_found(store.keyring_retire(p, 7, T0).await, "retire a missing key");

    store.keyring_delete(p, 1).await.unwrap();
    assert_eq!(
        store
            .keyring_list(p)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.key_id)
            .collect::<Vec<_>>(),
        vec![2, u32::MAX]
    );
    assert_not_found(store.keyring_delete(p, 1).await, "delete a missing key");
    assert_eq!(
        store.keyring_list(other).await.unwrap(),
        vec![ring(other, 1, T0)],
        "per purpose"
    );
}

/// `claim_once`: first true, then false until it expires, then true again.
pub async fn claim_once(store: &dyn Store) {
    let s = "conformance-claim";
    assert!(
        store.claim_once(s, "code-1", T0 + 30, T0).await.unwrap(),
        "first claim"
    );
    assert!(
        !store.claim_once(s, "code-1", T0 + 30, T0).await.unwrap(),
        "second claim"
    );
    assert!(
        !store
            .claim_once(s, "code-1", T0 + 90, T0 + 29)
            .await
            .unwrap(),
        "just before expiry"
    );
    assert!(
        store.claim_once(s, "code-2", T0 + 30, T0).await.unwrap(),
        "other id"
    );
    assert!(
        store
            .claim_once("conformance-claim-b", "code-1", T0 + 30, T0)
            .await
            .unwrap(),
        "other scope"
    );
    // Expired (expires_at <= now): claimable again, with the new expiry.
    assert!(
        store
            .claim_once(s, "code-1", T0 + 60, T0 + 30)
            .await
            .unwrap(),
        "after expiry"
    );
    assert!(
        !store
            .claim_once(s, "code-1", T0 + 60, T0 + 59)
            .await
            .unwrap(),
        "new expiry holds"
    );
    assert!(
        store
            .claim_once(s, "code-1", T0 + 1000, T0 + 61)
            .await
            .unwrap(),
        "expired again"
    );
    // Ids are exact (not case-folded).
    assert!(
        store
            .claim_once(s, "CODE-1", T0 + 1000, T0 + 61)
            .await
            .unwrap(),
        "case-sensitive"
    );
}

/// N parallel claims of one value: exactly one wins, also when taking over an expired one.
pub async fn claim_once_concurrent(store: &dyn Store) {
    const N: usize = 16;
    let s = "conformance-claim-race";
    let results = join_all(
        (0..N)
            .map(|_| store.claim_once(s, "v", T0 + 30, T0))
            .collect(),
    )
    .await;
    let won = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(won, 1, "exactly one of {N} parallel claims wins");

    let results = join_all(
        (0..N)
            .map(|_| store.claim_once(s, "v", T0 + 90, T0 + 60))
            .collect(),
    )
    .await;
    let won = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(
        won, 1,
        "exactly one of {N} parallel claims of an expired value wins"
    );
}

/// Settings: missing, insert, replace.
pub async fn settings(store: &dyn Store) {
    let k = "conformance.setting";
    assert_eq!(store.get_setting(k).await.unwrap(), None);
    store.put_setting(k, "one").await.unwrap();
    assert_eq!(store.get_setting(k).await.unwrap().as_deref(), Some("one"));
    store.put_setting(k, "two").await.unwrap();
    assert_eq!(store.get_setting(k).await.unwrap().as_deref(), Some("two"));
    store.put_setting("conformance.empty", "").await.unwrap();
    assert_eq!(
        store
            .get_setting("conformance.empty")
            .await
            .unwrap()
            .as_deref(),
        Some("")
    );
    assert_eq!(
        store.get_setting("CONFORMANCE.SETTING").await.unwrap(),
        None,
        "keys are exact"
    );
}

/// Concurrent writers: optimistic concurrency holds and no backend-internal busy/lock error
/// reaches callers.
pub async fn concurrent_apply(store: &dyn Store) {
    let a = acct(14, 1);
    new_account(store, &a).await;
    concurrent_apply_on(&[store; 8], &a, "race").await;
}

/// JSON documents round-trip unchanged.
pub async fn json_documents(store: &dyn Store) {
    let a = acct(15, 1);
    new_account(store, &a).await;
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["sts:*"], "Resource": "*",
                       "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}}],
        "unicode": "héllo ✓ \u{1F600} \"quoted\" \\ back\nslash",
        "big": 9_007_199_254_740_993_i64,
        "negative": -42,
        "float": 1.5,
        "null": null,
        "empty": {},
        "list": [],
        "bool": true
    });
    for (name, doc) in [
        ("doc", doc),
        ("string", json!("just a string")),
        ("number", json!(12)),
        ("null", serde_json::Value::Null),
        ("array", json!([1, "two", {"three": 3}])),
    ] {
        apply_ok(
            store,
            &a,
            &[put("policy", name, doc.clone(), Expect::Absent)],
            T0,
        )
        .await;
        let got = store.get_entity(&a, "policy", name).await.unwrap().unwrap();
        assert_eq!(got.doc, doc, "document {name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Several stores on one database

async fn concurrent_apply_on(stores: &[&dyn Store], account_id: &str, prefix: &str) {
    let n = stores.len();
    let name = format!("{prefix}-entity");
    apply_ok(
        stores[0],
        account_id,
        &[put("user", &name, json!({"w": -1}), Expect::Absent)],
        T0,
    )
    .await;

    // Optimistic concurrency: all expect version 1, exactly one wins.
    let writes: Vec<Vec<Write>> = (0..n)
        .map(|i| vec![put("user", &name, json!({"w": i}), Expect::Version(1))])
        .collect();
    let results = join_all(
        stores
            .iter()
            .zip(&writes)
            .map(|(s, w)| s.apply(account_id, w, T0 + 1))
            .collect(),
    )
    .await;
    let mut wins = 0;
    for result in results {
        match result {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict { index: 0, .. }) => {}
            Err(e) => panic!("a racing versioned write failed with {e:?} instead of a conflict"),
        }
    }
    assert_eq!(
        wins, 1,
        "exactly one of {n} writers expecting version 1 wins"
    );
    assert_eq!(
        stores[0]
            .get_entity(account_id, "user", &name)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );

    // Creations of one name: exactly one wins.
    let created = format!("{prefix}-created");
    let writes: Vec<Vec<Write>> = (0..n)
        .map(|i| vec![put("role", &created, json!({"w": i}), Expect::Absent)])
        .collect();
    let results = join_all(
        stores
            .iter()
            .zip(&writes)
            .map(|(s, w)| s.apply(account_id, w, T0 + 2))
            .collect(),
    )
    .await;
    let mut wins = 0;
    for result in results {
        match result {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict { index: 0, .. }) => {}
            Err(e) => panic!("a racing create failed with {e:?} instead of a conflict"),
        }
    }
    assert_eq!(wins, 1, "exactly one of {n} creators wins");

    // Unconditional writers all succeed, each bumping the version and the counter once.
    let counter = stores[0].change_counter().await.unwrap();
    let writes: Vec<Vec<Write>> = (0..n)
        .map(|i| vec![put("user", &name, json!({"any": i}), Expect::Any)])
        .collect();
    let results = join_all(
        stores
            .iter()
            .zip(&writes)
            .map(|(s, w)| s.apply(account_id, w, T0 + 3))
            .collect(),
    )
    .await;
    for result in results {
        result.unwrap_or_else(|e| panic!("an unconditional concurrent write failed: {e:?}"));
    }
    let got = stores[0]
        .get_entity(account_id, "user", &name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.version, 2 + n as i64);
    let after = stores[0].change_counter().await.unwrap();
    assert!(after >= counter + n as i64, "every batch bumps the counter");
}

/// Concurrent writes through several stores opened on the same database (several processes
/// or nodes): versioned writes and creations each have exactly one winner, nothing else fails.
pub async fn concurrent_apply_across_stores(stores: &[&dyn Store]) {
    assert!(!stores.is_empty());
    let a = acct(40, 1);
    new_account(stores[0], &a).await;
    let spread: Vec<&dyn Store> = (0..8).map(|i| stores[i % stores.len()]).collect();
    concurrent_apply_on(&spread, &a, "across").await;
    // Every store sees the result.
    for store in stores {
        assert!(
            store
                .get_entity(&a, "role", "across-created")
                .await
                .unwrap()
                .is_some()
        );
    }
}

/// Parallel `claim_once` of one value through several stores on the same database: exactly
/// one succeeds.
pub async fn claim_once_across_stores(stores: &[&dyn Store]) {
    assert!(!stores.is_empty());
    const N: usize = 16;
    let results = join_all(
        (0..N)
            .map(|i| stores[i % stores.len()].claim_once("conformance-across", "v", T0 + 30, T0))
            .collect(),
    )
    .await;
    let won = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(
        won,
        1,
        "exactly one of {N} claims through {} stores wins",
        stores.len()
    );
    for store in stores {
        assert!(
            !store
                .claim_once("conformance-across", "v", T0 + 30, T0 + 1)
                .await
                .unwrap()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Persistence

const PERSIST_ACCOUNT: &str = "500000000001";

/// Writes one of everything; check it with [`persistence_check`] after reopening.
pub async fn persistence_write(store: &dyn Store) {
    let a = PERSIST_ACCOUNT;
    new_account(store, a).await;
    apply_ok(
        store,
        a,
        &[
            put("user", "Persisted", json!({"kept": true}), Expect::Absent),
            Write::InsertAccessKey(key("AKIA50PERSIST0000001", a, Some("Persisted"), T0 + 1)),
        ],
        T0 + 1,
    )
    .await;
    apply_ok(
        store,
        a,
        &[put(
            "user",
            "persisted",
            json!({"kept": 2}),
            Expect::Version(1),
        )],
        T0 + 2,
    )
    .await;
    store
        .keyring_insert(&ring("conformance-persist", 1, T0))
        .await
        .unwrap();
    assert!(
        store
            .claim_once("conformance-persist", "c", T0 + 1_000_000, T0)
            .await
            .unwrap()
    );
    store
        .put_setting("conformance.persist", "yes")
        .await
        .unwrap();
}

/// Checks what [`persistence_write`] wrote (on a reopened store).
pub async fn persistence_check(store: &dyn Store) {
    let a = PERSIST_ACCOUNT;
    assert_eq!(store.get_account(a).await.unwrap().unwrap().id, a);
    assert!(
        store
            .get_access_key(&root_key_id(a))
            .await
            .unwrap()
            .is_some()
    );
    let user = store
        .get_entity(a, "user", "PERSISTED")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            user.name.as_str(),
            user.version,
            user.created_at,
            user.updated_at,
            user.doc
        ),
        ("Persisted", 2, T0 + 1, T0 + 2, json!({"kept": 2}))
    );
    assert_eq!(
        store
            .list_access_keys(a, Some("persisted"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.keyring_list("conformance-persist").await.unwrap(),
        vec![ring("conformance-persist", 1, T0)]
    );
    assert!(
        !store
            .claim_once("conformance-persist", "c", T0 + 1_000_000, T0 + 5)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_setting("conformance.persist")
            .await
            .unwrap()
            .as_deref(),
        Some("yes")
    );
    let counter = store.change_counter().await.unwrap();
    assert!(counter >= 4, "the counter survives ({counter})");
    let (current, changed) = store.changes_since(0).await.unwrap();
    assert_eq!(current, counter);
    assert!(changed.iter().any(|(id, _)| id == a));
    assert!(changed.iter().any(|(id, _)| id.is_empty()));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL test helpers

/// Used when `OPENSTS_TEST_DATABASE_URL` is not set (trust auth on localhost).
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `OPENSTS_TEST_DATABASE_URL`, or [`DEFAULT_TEST_DATABASE_URL`].
pub fn postgres_test_url() -> String {
    std::env::var("OPENSTS_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_DATABASE_URL.to_string())
}

/// Whether `OPENSTS_REQUIRE_POSTGRES=1` (CI): then an unreachable database fails tests.
pub fn postgres_required() -> bool {
    std::env::var("OPENSTS_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

static SCHEMA_SEQ: AtomicU64 = AtomicU64::new(0);

/// A uniquely named schema in the test database, so that parallel tests and test runs never
/// see each other's tables. Drop it with [`PgTestSchema::drop_schema`] (or use
/// [`with_postgres`], which always does).
#[derive(Debug, Clone)]
pub struct PgTestSchema {
    url: String,
    schema: String,
}

impl PgTestSchema {
    /// Creates a fresh schema in the database at [`postgres_test_url`]. When the database is
    /// not reachable: returns `None` after printing `SKIPPED: PostgreSQL not reachable at …`
    /// to stderr, or panics if [`postgres_required`].
    pub async fn create() -> Option<Self> {
        let url = postgres_test_url();
        let reachable = async {
            let options: sqlx::postgres::PgConnectOptions =
                url.parse().map_err(|e| format!("invalid URL: {e}"))?;
            let connect = sqlx::postgres::PgConnection::connect_with(&options);
            match tokio::time::timeout(Duration::from_secs(5), connect).await {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                    Ok(())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("connection timed out".to_string()),
            }
        }
        .await;
        if let Err(why) = reachable {
            let message = format!("PostgreSQL not reachable at {} ({why})", redacted(&url));
            if postgres_required() {
                panic!("{message}, and OPENSTS_REQUIRE_POSTGRES=1");
            }
            eprintln!(
                "\n*** SKIPPED: {message}; set OPENSTS_TEST_DATABASE_URL, or \
                 OPENSTS_REQUIRE_POSTGRES=1 to make this a failure ***\n"
            );
            return None;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let schema = format!(
            "opensts_test_{}_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000_000,
            SCHEMA_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        Some(Self { url, schema })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A store confined to this schema (created on first use), not yet migrated.
    pub async fn connect(&self) -> PostgresStore {
        PostgresStore::connect_with_schema(&self.url, &self.schema)
            .await
            .unwrap_or_else(|e| panic!("connecting to schema {}: {e}", self.schema))
    }

    /// A migrated store confined to this schema.
    pub async fn store(&self) -> PostgresStore {
        let store = self.connect().await;
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("migrating schema {}: {e}", self.schema));
        store
    }

    /// Drops the schema and everything in it (errors are printed, not raised).
    pub async fn drop_schema(&self) {
        let result = async {
            let mut conn = sqlx::postgres::PgConnection::connect(&self.url).await?;
            // The name was generated above: lowercase letters, digits and underscores only.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                self.schema
            )))
            .execute(&mut conn)
            .await?;
            conn.close().await
        }
        .await;
        if let Err(e) = result {
            eprintln!("warning: dropping test schema {}: {e}", self.schema);
        }
    }
}

/// Runs `test` with a fresh [`PgTestSchema`] and drops the schema afterwards, also when the
/// test panics (the panic is then resumed). Skips (see [`PgTestSchema::create`]) when
/// PostgreSQL is not reachable.
pub async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(PgTestSchema) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(schema) = PgTestSchema::create().await else {
        return;
    };
    let outcome = tokio::spawn(test(schema.clone())).await;
    schema.drop_schema().await;
    if let Err(e) = outcome {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("test task failed: {e}");
    }
}

/// Runs one case (by name) on a fresh, migrated store in its own PostgreSQL schema.
pub async fn run_case_on_postgres(name: &'static str) {
    let case = case(name).unwrap_or_else(|| panic!("no conformance case {name}"));
    with_postgres(move |schema| async move {
        let store = Arc::new(schema.store().await);
        case(store.as_ref()).await;
        store.close().await;
    })
    .await;
}
