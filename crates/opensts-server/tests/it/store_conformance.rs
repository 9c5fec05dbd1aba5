//! The store conformance suite, run through the server crate's dependency on the store (so a
//! backend change that breaks the contract fails here too).

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
    let store = opensts_store::open_store(&url).await.unwrap();
    store.migrate().await.unwrap();
    opensts_store::conformance::run_all(store.as_ref()).await;
}
