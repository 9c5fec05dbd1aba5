//! The AWS SDK for Rust against OpenSTS. Driven by tests/test_clients_compat.py and
//! tests/test_clients_chains.py, which build the world (server, users, roles, OIDC issuer,
//! SAML IdP, MFA devices, profile files) and run these tests with `--ignored`:
//!
//! * `flows`: reads the fixture JSON named by `OPENSTS_COMPAT_FIXTURE` and writes the report
//!   (the same shape every client writes) to `OPENSTS_COMPAT_REPORT`.
//! * `chain`: the credential chain of `aws_config::load_defaults` exactly as a user's program
//!   gets it (profile files and environment; only the endpoint is OpenSTS's) calls
//!   GetCallerIdentity twice, `OPENSTS_COMPAT_WAIT_SECS` apart, and reports the ARNs and the
//!   access key ids the SDK signed with. With `OPENSTS_COMPAT_REFRESH_BUFFER_SECS` the identity
//!   cache refreshes credentials that many seconds before they expire.
//!
//! They are ignored by a plain `cargo test` because they need that world.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_sts::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sts::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_sdk_sts::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::types::Tag;
use serde_json::{Value, json};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set (run via tests/test_clients_*.py)"))
}

fn retry_once() -> aws_sdk_sts::config::retry::RetryConfig {
    aws_sdk_sts::config::retry::RetryConfig::standard().with_max_attempts(1)
}

struct World {
    d: Value,
}

impl World {
    fn s(&self, path: &[&str]) -> String {
        let mut v = &self.d;
        for p in path {
            v = &v[*p];
        }
        v.as_str()
            .unwrap_or_else(|| panic!("fixture has no string at {path:?}"))
            .to_string()
    }

    fn keys(&self, who: &str) -> Credentials {
        Credentials::new(
            self.s(&[who, "access_key_id"]),
            self.s(&[who, "secret_access_key"]),
            self.d[who]["session_token"].as_str().map(str::to_string),
            None,
            "compat-fixture",
        )
    }

    fn sts_at(&self, endpoint: &str, creds: Option<Credentials>) -> aws_sdk_sts::Client {
        let mut b = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.s(&["region"])))
            .endpoint_url(endpoint)
            .retry_config(retry_once());
        if let Some(c) = creds {
            b = b.credentials_provider(c);
        }
        aws_sdk_sts::Client::from_conf(b.build())
    }

    fn sts(&self, creds: Option<Credentials>) -> aws_sdk_sts::Client {
        self.sts_at(&self.s(&["endpoint"]), creds)
    }

    fn iam(&self, creds: Credentials) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new(self.s(&["region"])))
            .endpoint_url(self.s(&["endpoint"]))
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::standard().with_max_attempts(1))
            .credentials_provider(creds)
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    async fn whoami(&self, creds: Credentials) -> String {
        let out = self
            .sts(Some(creds))
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        out.arn().unwrap().to_string()
    }
}

fn session(c: Option<&aws_sdk_sts::types::Credentials>) -> Credentials {
    let c = c.expect("no Credentials in the answer");
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "compat-session",
    )
}

/// `{"code", "typed"}` of an error: `typed` is the modeled error variant when the SDK parsed
/// one (`is_expired_token_exception()` …), else the generic error's code.
fn typed<E, R>(err: SdkError<E, R>, modeled: impl Fn(&E) -> Option<&'static str>) -> Value
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let service = err
        .as_service_error()
        .unwrap_or_else(|| panic!("not a service error: {err:?}"));
    let code = service.code().map(str::to_string);
    let typed = modeled(service)
        .map(str::to_string)
        .or_else(|| code.clone());
    json!({"code": code, "typed": typed})
}

#[tokio::test]
#[ignore = "driven by tests/test_clients_compat.py (needs OPENSTS_COMPAT_FIXTURE)"]
async fn flows() {
    let text = std::fs::read_to_string(env("OPENSTS_COMPAT_FIXTURE")).unwrap();
    let w = World {
        d: serde_json::from_str(&text).unwrap(),
    };
    let user = w.sts(Some(w.keys("user")));
    let mut flows = serde_json::Map::new();

    let gci = user.get_caller_identity().send().await.unwrap();
    flows.insert(
        "get_caller_identity".into(),
        json!({"Arn": gci.arn(), "Account": gci.account(), "UserId": gci.user_id()}),
    );

    let tags = w.d["assume_role"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            Tag::builder()
                .key(t["Key"].as_str().unwrap())
                .value(t["Value"].as_str().unwrap())
                .build()
                .unwrap()
        })
        .collect::<Vec<_>>();
    let out = user
        .assume_role()
        .role_arn(w.s(&["assume_role", "role_arn"]))
        .role_session_name(w.s(&["assume_role", "session_name"]))
        .set_tags(Some(tags))
        .policy(w.s(&["assume_role", "policy"]))
        .duration_seconds(
            i32::try_from(w.d["assume_role"]["duration_seconds"].as_i64().unwrap()).unwrap(),
        )
        .send()
        .await
        .unwrap();
    let role = session(out.credentials());
    let role_iam = w.iam(role.clone());
    role_iam.list_roles().send().await.unwrap();
    let list_users = role_iam.list_users().send().await.unwrap_err();
    flows.insert(
        "assume_role".into(),
        json!({
            "Arn": out.assumed_role_user().unwrap().arn(),
            "whoami": w.whoami(role).await,
            "list_roles": "ok",
            "list_users": list_users.as_service_error().and_then(|e| e.code()),
        }),
    );

    let mfa = w.sts(Some(w.keys("mfa_user")));
    let out = mfa
        .get_session_token()
        .serial_number(w.s(&["mfa_user", "serial"]))
        .token_code(w.s(&["mfa_user", "code"]))
        .send()
        .await
        .unwrap();
    flows.insert(
        "get_session_token_mfa".into(),
        json!({"whoami": w.whoami(session(out.credentials())).await}),
    );

    let anon = w.sts(None);
    let out = anon
        .assume_role_with_web_identity()
        .role_arn(w.s(&["web_identity", "role_arn"]))
        .role_session_name(w.s(&["web_identity", "session_name"]))
        .web_identity_token(w.s(&["web_identity", "token"]))
        .send()
        .await
        .unwrap();
    flows.insert(
        "web_identity".into(),
        json!({
            "Arn": out.assumed_role_user().unwrap().arn(),
            "SubjectFromWebIdentityToken": out.subject_from_web_identity_token(),
            "whoami": w.whoami(session(out.credentials())).await,
        }),
    );

    let out = anon
        .assume_role_with_saml()
        .role_arn(w.s(&["saml", "role_arn"]))
        .principal_arn(w.s(&["saml", "principal_arn"]))
        .saml_assertion(w.s(&["saml", "assertion"]))
        .send()
        .await
        .unwrap();
    flows.insert(
        "saml".into(),
        json!({
            "Arn": out.assumed_role_user().unwrap().arn(),
            "Subject": out.subject(),
            "whoami": w.whoami(session(out.credentials())).await,
        }),
    );

    let out = user
        .decode_authorization_message()
        .encoded_message(w.s(&["encoded_message"]))
        .send()
        .await
        .unwrap();
    let decoded: Value = serde_json::from_str(out.decoded_message().unwrap()).unwrap();
    flows.insert(
        "decode".into(),
        json!({"action": decoded["context"]["action"], "principal_arn": decoded["context"]["principal"]["arn"]}),
    );

    let me = w.iam(w.keys("user")).get_user().send().await.unwrap();
    flows.insert(
        "iam_get_user".into(),
        json!({"Arn": me.user().unwrap().arn()}),
    );

    let mut errors = serde_json::Map::new();
    let e = user
        .assume_role()
        .role_arn(w.s(&["denied_role_arn"]))
        .role_session_name("probe")
        .send()
        .await
        .unwrap_err();
    errors.insert("access_denied".into(), typed(e, |_| None));
    let web = |token: &str| {
        anon.assume_role_with_web_identity()
            .role_arn(w.s(&["web_identity", "role_arn"]))
            .role_session_name("probe")
            .web_identity_token(w.s(&["web_identity", token]))
            .send()
    };
    let modeled = |e: &aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError| {
        if e.is_expired_token_exception() {
            Some("ExpiredTokenException")
        } else if e.is_invalid_identity_token_exception() {
            Some("InvalidIdentityTokenException")
        } else {
            None
        }
    };
    errors.insert(
        "expired_token".into(),
        typed(web("expired_token").await.unwrap_err(), modeled),
    );
    errors.insert(
        "invalid_identity_token".into(),
        typed(web("invalid_token").await.unwrap_err(), modeled),
    );
    let e = w
        .sts(Some(w.keys("expired_session")))
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    errors.insert("expired_session".into(), typed(e, |_| None));
    let e = user
        .assume_role()
        .role_arn(w.s(&["assume_role", "role_arn"]))
        .role_session_name("probe")
        .duration_seconds(43200)
        .send()
        .await
        .unwrap_err();
    errors.insert("validation".into(), typed(e, |_| None));
    let throttled = w.sts_at(&w.s(&["throttled", "endpoint"]), Some(w.keys("throttled")));
    let e = throttled.get_caller_identity().send().await.unwrap_err();
    errors.insert("throttling".into(), typed(e, |_| None));

    let report = json!({"flows": flows, "errors": errors});
    std::fs::write(env("OPENSTS_COMPAT_REPORT"), report.to_string()).unwrap();
}

/// Records the access key id of every request the client signs (from `Authorization`).
#[derive(Debug, Default, Clone)]
struct SignedWith(Arc<Mutex<Vec<String>>>);

impl Intercept for SignedWith {
    fn name(&self) -> &'static str {
        "SignedWith"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let auth = context
            .request()
            .headers()
            .get("authorization")
            .unwrap_or_default();
        let akid = auth
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split('/').next())
            .unwrap_or_default();
        self.0.lock().unwrap().push(akid.to_string());
        Ok(())
    }
}

#[tokio::test]
#[ignore = "driven by tests/test_clients_chains.py (needs a profile/environment chain)"]
async fn chain() {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Ok(secs) = std::env::var("OPENSTS_COMPAT_REFRESH_BUFFER_SECS") {
        loader = loader.identity_cache(
            aws_config::identity::IdentityCache::lazy()
                .buffer_time(Duration::from_secs(secs.parse().unwrap()))
                .build(),
        );
    }
    let config = loader.load().await;
    let signed = SignedWith::default();
    let conf = aws_sdk_sts::config::Builder::from(&config)
        .retry_config(retry_once())
        .interceptor(signed.clone())
        .build();
    let sts = aws_sdk_sts::Client::from_conf(conf);
    let wait: u64 = std::env::var("OPENSTS_COMPAT_WAIT_SECS")
        .map(|s| s.parse().unwrap())
        .unwrap_or(0);
    let mut arns = Vec::new();
    for i in 0..2 {
        if i == 1 && wait > 0 {
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
        match sts.get_caller_identity().send().await {
            Ok(out) => arns.push(out.arn().unwrap().to_string()),
            Err(e) => panic!(
                "GetCallerIdentity through the chain failed: {}",
                aws_sdk_sts::error::DisplayErrorContext(&e)
            ),
        }
    }
    let akids = signed.0.lock().unwrap().clone();
    let report = json!({"arns": arns, "access_key_ids": akids});
    std::fs::write(env("OPENSTS_COMPAT_REPORT"), report.to_string()).unwrap();
}
