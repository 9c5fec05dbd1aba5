//! Session credentials over time: expiry, clock skew, foreign key rings.

use crate::helpers::*;

#[tokio::test]
async fn session_expires_with_expired_token() {
    let app = spawn_app().await;
    let r = app
        .sts(&app.root(), "Action=GetSessionToken&DurationSeconds=900")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = session_creds(&r);
    let ok = app.sts(&s, "Action=GetCallerIdentity").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.field("Arn").unwrap(),
        format!("arn:aws:iam::{}:root", app.account_id)
    );
    // Root sessions are clamped to one hour; 899 s later it still works...
    app.clock.advance(899);
    assert_eq!(app.sts(&s, "Action=GetCallerIdentity").await.status, 200);
    // ...and at expiry it is refused with ExpiredToken.
    app.clock.advance(1);
    let r = app.sts(&s, "Action=GetCallerIdentity").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code().as_deref(), Some("ExpiredToken"));
    assert_eq!(
        r.field("Message").as_deref(),
        Some("The security token included in the request is expired")
    );
}

#[tokio::test]
async fn root_session_duration_is_clamped() {
    let app = spawn_app().await;
    let r = app
        .sts(&app.root(), "Action=GetSessionToken&DurationSeconds=7200")
        .await;
    assert_eq!(r.status, 200);
    let s = session_creds(&r);
    app.clock.advance(3600);
    let r = app.sts(&s, "Action=GetCallerIdentity").await;
    assert_eq!(r.code().as_deref(), Some("ExpiredToken"));
}

#[tokio::test]
async fn clock_skew_window_is_fifteen_minutes_both_ways() {
    let app = spawn_app().await;
    let root = app.root();
    let body = "Version=2011-06-15&Action=GetCallerIdentity";
    for (offset, ok) in [(-900, true), (900, true), (-901, false), (901, false)] {
        let r = app.call_at(&root, "sts", body, START + offset).await;
        assert_eq!(r.status == 200, ok, "offset {offset}: {}", r.body);
        if !ok {
            assert_eq!(r.code().as_deref(), Some("SignatureDoesNotMatch"));
            let msg = r.field("Message").unwrap();
            assert!(
                msg.starts_with("Signature expired")
                    || msg.starts_with("Signature not yet current"),
                "{msg}"
            );
        }
    }
}

#[tokio::test]
async fn token_from_another_deployment_is_invalid() {
    let a = spawn_app().await;
    let b = spawn_app().await;
    let r = a.sts(&a.root(), "Action=GetSessionToken").await;
    let s = session_creds(&r);
    assert_eq!(a.sts(&s, "Action=GetCallerIdentity").await.status, 200);
    let r = b.sts(&s, "Action=GetCallerIdentity").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code().as_deref(), Some("InvalidClientTokenId"));
}

#[tokio::test]
async fn token_bound_to_its_access_key_id() {
    let app = spawn_app().await;
    let s1 = session_creds(&app.sts(&app.root(), "Action=GetSessionToken").await);
    let s2 = session_creds(&app.sts(&app.root(), "Action=GetSessionToken").await);
    // s1's key and secret with s2's token: the token does not open for that key id.
    let mixed = Creds {
        key: s1.key.clone(),
        secret: s1.secret.clone(),
        token: s2.token.clone(),
    };
    let r = app.sts(&mixed, "Action=GetCallerIdentity").await;
    assert_eq!(r.code().as_deref(), Some("InvalidClientTokenId"));
}

#[tokio::test]
async fn access_key_info_decodes_the_account() {
    let app = spawn_app().await;
    let s = session_creds(&app.sts(&app.root(), "Action=GetSessionToken").await);
    for key in [&app.root_key, &s.key] {
        let r = app
            .sts(
                &app.root(),
                &format!("Action=GetAccessKeyInfo&AccessKeyId={key}"),
            )
            .await;
        assert_eq!(r.field("Account").as_deref(), Some(app.account_id.as_str()));
    }
}
