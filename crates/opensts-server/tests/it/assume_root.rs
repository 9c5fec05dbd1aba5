//! AssumeRoot sessions over time: they last at most 900 s, then `ExpiredToken`.

use crate::helpers::*;

const MEMBER: &str = "444455556666";
const AUDIT: &str = "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials";

/// A member account and an admin user of the management account: (admin creds).
async fn setup(app: &TestApp) -> Creds {
    let st = &app.state;
    opensts_server::app::create_account(
        st.store.as_ref(),
        &st.master_key,
        MEMBER,
        "member",
        None,
        START,
    )
    .await
    .unwrap();
    let root = app.root();
    assert_eq!(
        app.iam(&root, "Action=CreateUser&UserName=admin")
            .await
            .status,
        200
    );
    let r = app
        .iam(
            &root,
            "Action=AttachUserPolicy&UserName=admin&PolicyArn=arn:aws:iam::aws:policy/AdministratorAccess",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let k = app
        .iam(&root, "Action=CreateAccessKey&UserName=admin")
        .await;
    assert_eq!(k.status, 200, "{}", k.body);
    Creds {
        key: k.field("AccessKeyId").unwrap(),
        secret: k.field("SecretAccessKey").unwrap(),
        token: None,
    }
}

fn assume_root(duration: i64) -> String {
    format!(
        "Action=AssumeRoot&TargetPrincipal={MEMBER}&TaskPolicyArn.arn={AUDIT}&DurationSeconds={duration}"
    )
}

#[tokio::test]
async fn root_session_expires_and_cannot_chain() {
    let app = spawn_app().await;
    let admin = setup(&app).await;
    let r = app.sts(&admin, &assume_root(120)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.field("Expiration").unwrap(),
        "2027-01-15T08:02:00Z",
        "START + 120 s"
    );
    let s = session_creds(&r);
    let id = app.sts(&s, "Action=GetCallerIdentity").await;
    assert_eq!(
        id.field("Arn").unwrap(),
        format!("arn:aws:iam::{MEMBER}:root")
    );
    assert_eq!(id.field("Account").unwrap(), MEMBER);
    // A root session is root: it may not assume root again, nor roles.
    let again = app.sts(&s, &assume_root(60)).await;
    assert_eq!(
        again.code().as_deref(),
        Some("AccessDenied"),
        "{}",
        again.body
    );
    // The default and the longest duration are 900 s.
    let long = app.sts(&admin, &assume_root(901)).await;
    assert_eq!(long.code().as_deref(), Some("ValidationError"));
    let default = app
        .sts(
            &admin,
            &format!("Action=AssumeRoot&TargetPrincipal={MEMBER}&TaskPolicyArn.arn={AUDIT}"),
        )
        .await;
    assert_eq!(default.field("Expiration").unwrap(), "2027-01-15T08:15:00Z");

    app.clock.advance(119);
    assert_eq!(app.iam(&s, "Action=ListAccessKeys").await.status, 200);
    app.clock.advance(1);
    let r = app.iam(&s, "Action=ListAccessKeys").await;
    assert_eq!(r.code().as_deref(), Some("ExpiredToken"), "{}", r.body);
}
