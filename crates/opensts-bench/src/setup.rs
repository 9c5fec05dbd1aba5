//! The setup phase: everything the scenarios need, created through the IAM API itself (signed
//! with the account's root credentials), plus the optional bulk load for the memory check.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;

use crate::client::{Conn, Creds, IAM_VERSION, Prepared, STS_VERSION};
use crate::{BoxError, unix_now, xml_text};

pub const USER_NAME: &str = "bench-user";
pub const ROLE_NAME: &str = "bench-role";
pub const WEBID_ROLE_NAME: &str = "bench-webid-role";
pub const SAML_ROLE_NAME: &str = "bench-saml-role";
pub const SAML_PROVIDER_NAME: &str = "bench-saml";
/// The session policy sent with every AssumeRole of the AssumeRole scenario.
pub const SESSION_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","sts:GetCallerIdentity"],"Resource":"*"}]}"#;
/// Connections used by the bulk load (`--load-roles`, `--load-users`).
pub const LOAD_CONNECTIONS: usize = 8;

/// `scripts/bench_idp.py`'s output.
#[derive(Deserialize, Clone)]
pub struct IdpFixtures {
    pub oidc_issuer: String,
    pub oidc_client_id: String,
    pub web_identity_token: String,
    pub saml_entity_id: String,
    pub saml_metadata: String,
    /// The ECDSA P-256 signing key (PKCS#8 DER, base64).
    pub saml_key_pkcs8_b64: String,
    /// The RSA-2048 signing key (PKCS#8 DER, base64); the metadata holds both certificates.
    #[serde(default)]
    pub saml_rsa_key_pkcs8_b64: Option<String>,
}

/// What the scenarios use.
pub struct Fixture {
    pub account: String,
    pub user: Creds,
    pub session: Creds,
    pub role_arn: String,
    pub webid_role_arn: String,
    pub saml_role_arn: String,
    pub saml_provider_arn: String,
}

async fn iam(
    conn: &mut Conn,
    host: &str,
    root: &Creds,
    params: &[(&str, &str)],
) -> Result<String, BoxError> {
    let mut all = vec![("Version", IAM_VERSION)];
    all.extend_from_slice(params);
    let p = Prepared::query(host, &all, Some(root), "iam", unix_now())?;
    conn.call(&p).await
}

/// Like [`iam`], but an `EntityAlreadyExists` counts as success (reruns against one server).
async fn iam_create(
    conn: &mut Conn,
    host: &str,
    root: &Creds,
    params: &[(&str, &str)],
) -> Result<(), BoxError> {
    match iam(conn, host, root, params).await {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("EntityAlreadyExists") => Ok(()),
        Err(e) => Err(e),
    }
}

fn trust(principal: &str, action: &str, condition: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"{action}"{condition}}}]}}"#
    )
}

/// Create the user (with an access key and an inline policy), the roles and the providers.
pub async fn prepare(
    addr: SocketAddr,
    host: &str,
    root: &Creds,
    idp: Option<&IdpFixtures>,
) -> Result<Fixture, BoxError> {
    let mut c = Conn::connect(addr).await?;
    let p = Prepared::query(
        host,
        &[("Action", "GetCallerIdentity"), ("Version", STS_VERSION)],
        Some(root),
        "sts",
        unix_now(),
    )?;
    let who = c.call(&p).await?;
    let account = xml_text(&who, "Account")
        .ok_or("GetCallerIdentity: no Account")?
        .to_string();

    iam_create(
        &mut c,
        host,
        root,
        &[("Action", "CreateUser"), ("UserName", USER_NAME)],
    )
    .await?;
    let user_policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","iam:GetRole"],"Resource":"*"}]}"#;
    iam(
        &mut c,
        host,
        root,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", USER_NAME),
            ("PolicyName", "bench"),
            ("PolicyDocument", user_policy),
        ],
    )
    .await?;
    let key = iam(
        &mut c,
        host,
        root,
        &[("Action", "CreateAccessKey"), ("UserName", USER_NAME)],
    )
    .await?;
    let user = Creds {
        access_key_id: xml_text(&key, "AccessKeyId")
            .ok_or("no AccessKeyId")?
            .to_string(),
        secret: xml_text(&key, "SecretAccessKey")
            .ok_or("no SecretAccessKey")?
            .to_string(),
        session_token: None,
    };
    let user_arn = format!("arn:aws:iam::{account}:user/{USER_NAME}");
    let role_trust = trust(&format!(r#"{{"AWS":"{user_arn}"}}"#), "sts:AssumeRole", "");
    iam_create(
        &mut c,
        host,
        root,
        &[
            ("Action", "CreateRole"),
            ("RoleName", ROLE_NAME),
            ("AssumeRolePolicyDocument", &role_trust),
        ],
    )
    .await?;
    let role_arn = format!("arn:aws:iam::{account}:role/{ROLE_NAME}");
    let webid_role_arn = format!("arn:aws:iam::{account}:role/{WEBID_ROLE_NAME}");
    let saml_role_arn = format!("arn:aws:iam::{account}:role/{SAML_ROLE_NAME}");
    let saml_provider_arn = format!("arn:aws:iam::{account}:saml-provider/{SAML_PROVIDER_NAME}");

    if let Some(idp) = idp {
        iam_create(
            &mut c,
            host,
            root,
            &[
                ("Action", "CreateOpenIDConnectProvider"),
                ("Url", &idp.oidc_issuer),
                ("ClientIDList.member.1", &idp.oidc_client_id),
            ],
        )
        .await?;
        let issuer_host = idp.oidc_issuer.trim_start_matches("https://");
        let oidc_arn = format!("arn:aws:iam::{account}:oidc-provider/{issuer_host}");
        let webid_trust = trust(
            &format!(r#"{{"Federated":"{oidc_arn}"}}"#),
            "sts:AssumeRoleWithWebIdentity",
            &format!(
                r#","Condition":{{"StringEquals":{{"{issuer_host}:aud":"{}"}}}}"#,
                idp.oidc_client_id
            ),
        );
        iam_create(
            &mut c,
            host,
            root,
            &[
                ("Action", "CreateRole"),
                ("RoleName", WEBID_ROLE_NAME),
                ("AssumeRolePolicyDocument", &webid_trust),
            ],
        )
        .await?;
        iam_create(
            &mut c,
            host,
            root,
            &[
                ("Action", "CreateSAMLProvider"),
                ("Name", SAML_PROVIDER_NAME),
                ("SAMLMetadataDocument", &idp.saml_metadata),
            ],
        )
        .await?;
        let saml_trust = trust(
            &format!(r#"{{"Federated":"{saml_provider_arn}"}}"#),
            "sts:AssumeRoleWithSAML",
            r#","Condition":{"StringEquals":{"SAML:aud":"https://signin.aws.amazon.com/saml"}}"#,
        );
        iam_create(
            &mut c,
            host,
            root,
            &[
                ("Action", "CreateRole"),
                ("RoleName", SAML_ROLE_NAME),
                ("AssumeRolePolicyDocument", &saml_trust),
            ],
        )
        .await?;
    }

    // Session credentials for the GetCallerIdentity-with-a-session scenario. IAM changes are
    // effective at once on the node that made them.
    let p = Prepared::query(
        host,
        &[
            ("Action", "AssumeRole"),
            ("Version", STS_VERSION),
            ("RoleArn", &role_arn),
            ("RoleSessionName", "bench-setup"),
        ],
        Some(&user),
        "sts",
        unix_now(),
    )?;
    let out = c.call(&p).await?;
    let session = Creds {
        access_key_id: xml_text(&out, "AccessKeyId")
            .ok_or("no AccessKeyId")?
            .to_string(),
        secret: xml_text(&out, "SecretAccessKey")
            .ok_or("no SecretAccessKey")?
            .to_string(),
        session_token: Some(
            xml_text(&out, "SessionToken")
                .ok_or("no SessionToken")?
                .to_string(),
        ),
    };
    Ok(Fixture {
        account,
        user,
        session,
        role_arn,
        webid_role_arn,
        saml_role_arn,
        saml_provider_arn,
    })
}

/// Create `roles` roles (each with a trust policy and an inline policy, then assumed once by
/// the bench user so the server has parsed and cached it) and `users` users (each with an
/// inline policy) over [`LOAD_CONNECTIONS`] connections. Returns the seconds it took.
pub async fn bulk_load(
    addr: SocketAddr,
    host: &str,
    root: &Creds,
    user: &Creds,
    account: &str,
    roles: usize,
    users: usize,
) -> Result<f64, BoxError> {
    let started = std::time::Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..LOAD_CONNECTIONS {
        let (next, host, root, user, account) = (
            next.clone(),
            host.to_string(),
            root.clone(),
            user.clone(),
            account.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::connect(addr).await?;
            let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bench-bucket/*"}]}"#;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= roles + users {
                    return Ok::<(), BoxError>(());
                }
                if i < roles {
                    let name = format!("bench-load-role-{i}");
                    let t = trust(
                        &format!(r#"{{"AWS":"arn:aws:iam::{account}:user/{USER_NAME}"}}"#),
                        "sts:AssumeRole",
                        "",
                    );
                    iam_create(&mut c, &host, &root, &[("Action", "CreateRole"), ("RoleName", &name), ("AssumeRolePolicyDocument", &t)]).await?;
                    iam(&mut c, &host, &root, &[("Action", "PutRolePolicy"), ("RoleName", &name), ("PolicyName", "p"), ("PolicyDocument", policy)]).await?;
                    let arn = format!("arn:aws:iam::{account}:role/{name}");
                    let p = Prepared::query(&host, &[("Action", "AssumeRole"), ("Version", STS_VERSION), ("RoleArn", &arn), ("RoleSessionName", "load")], Some(&user), "sts", unix_now())?;
                    c.call(&p).await?;
                } else {
                    let name = format!("bench-load-user-{}", i - roles);
                    iam_create(&mut c, &host, &root, &[("Action", "CreateUser"), ("UserName", &name)]).await?;
                    iam(&mut c, &host, &root, &[("Action", "PutUserPolicy"), ("UserName", &name), ("PolicyName", "p"), ("PolicyDocument", policy)]).await?;
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}
