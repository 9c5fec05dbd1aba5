//! Every write the SQLite store acknowledged survives `kill -9` of the writing process.
//!
//! The test re-runs its own test binary as a child (the `crash_child_writer` test, which does
//! nothing unless `OPENSTS_CRASH_CHILD_DB` is set). The child writes entities one batch at a
//! time and prints `ACK <n>` after each `apply` returned; the parent SIGKILLs it mid-stream,
//! reopens the file and checks that every acknowledged entity is there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, Stdio};

use opensts_store::{AccessKeyRecord, Account, Expect, KeyStatus, SqliteStore, Store, Write};
use serde_json::json;

const CHILD_ENV: &str = "OPENSTS_CRASH_CHILD_DB";
const ACCOUNT: &str = "777777777777";
const KILL_AFTER_ACKS: u64 = 150;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The child half; a no-op in a normal test run.
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    runtime().block_on(async {
        let store = SqliteStore::open_path(&path).await.unwrap();
        let mut stdout = std::io::stdout();
        for n in 0u64.. {
            store
                .apply(
                    ACCOUNT,
                    &[Write::PutEntity {
                        kind: "user".into(),
                        name: format!("user-{n}"),
                        doc: json!({"n": n}),
                        expect: Expect::Absent,
                    }],
                    1_700_000_000,
                )
                .await
                .unwrap();
            writeln!(stdout, "ACK {n}").unwrap();
            stdout.flush().unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opensts.db");
    let rt = runtime();
    rt.block_on(async {
        let store = SqliteStore::open_path(&path).await.unwrap();
        store.migrate().await.unwrap();
        store
            .create_account(
                &Account {
                    id: ACCOUNT.into(),
                    name: "crash".into(),
                    created_at: 0,
                },
                &AccessKeyRecord {
                    access_key_id: "AKIACRASHTEST0000001".into(),
                    account_id: ACCOUNT.into(),
                    user_name: None,
                    secret_sealed: vec![1, 2, 3],
                    status: KeyStatus::Active,
                    created_at: 0,
                },
            )
            .await
            .unwrap();
        store.close().await;
    });

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last_ack: Option<u64> = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            let n: u64 = n.trim().parse().unwrap();
            last_ack = Some(n);
            if n + 1 >= KILL_AFTER_ACKS {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    let last_ack = last_ack.expect("the child acknowledged writes before it was killed");

    rt.block_on(async {
        let store = SqliteStore::open_path(&path).await.unwrap();
        store.migrate().await.unwrap();
        let users = store.list_entities(ACCOUNT, "user").await.unwrap();
        for n in 0..=last_ack {
            let name = format!("user-{n}");
            let user = store.get_entity(ACCOUNT, "user", &name).await.unwrap();
            assert!(
                user.is_some(),
                "acknowledged write {name} lost after kill -9"
            );
        }
        // At most the write in flight when the child died got in without an ACK.
        assert!(users.len() as u64 <= last_ack + 2);
        store.close().await;
    });
}
