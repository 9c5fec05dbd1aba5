//! GetWebIdentityToken through a real server with a manual clock: the token verifies with
//! `opensts-oidc` against the JWKS served over HTTP; after a rotation the old token still
//! verifies; once the retired key's tokens have all expired it leaves the JWKS (and the
//! prune removes it from the store).

use std::sync::Arc;

use http::HeaderMap;
use opensts_oidc::{Jwks, ProviderConfig, verify_token};
use opensts_server::state::{Clock, ManualClock};
use opensts_server::{Application, Config};
use opensts_sigv4::{SigningParams, sign_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Resp, START, raw_post};

const ACCOUNT: &str = "444455556666";
const BASE: &str = "https://sts.example.test";

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

struct App {
    addr: std::net::SocketAddr,
    clock: Arc<ManualClock>,
    state: Arc<opensts_server::state::AppState>,
    key: String,
    secret: String,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl App {
    async fn call(&self, service: &str, body: &str) -> Resp {
        let mut headers = HeaderMap::new();
        headers.insert("host", self.addr.to_string().parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        let params = SigningParams {
            access_key_id: &self.key,
            secret: &self.secret,
            session_token: None,
            region: "us-east-1",
            service,
            time: self.clock.now(),
        };
        sign_request("POST", "/", "", &mut headers, body.as_bytes(), &params).unwrap();
        raw_post(self.addr, &headers, body).await
    }

    async fn jwks(&self) -> Jwks {
        let (status, head, body) = get(
            self.addr,
            &format!("/accounts/{ACCOUNT}/.well-known/jwks.json"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(head.contains("cache-control: public, max-age="), "{head}");
        Jwks::from_json(body.as_bytes()).unwrap()
    }

    async fn token(&self, alg: &str) -> String {
        let r = self
            .call(
                "sts",
                &format!(
                    "Version=2011-06-15&Action=GetWebIdentityToken&Audience.member.1=aud1&SigningAlgorithm={alg}&DurationSeconds=3600"
                ),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.field("WebIdentityToken").unwrap()
    }
}

async fn spawn() -> App {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let mut config = Config::for_data_dir(dir.path());
    config.account_id = Some(ACCOUNT.into());
    config.issuer_base_url = Some(BASE.into());
    let app = Application::build_with_clock(config, clock.clone())
        .await
        .unwrap();
    let addr = app.local_addr().unwrap();
    let state = app.state();
    let root = app.generated_root.clone().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    App {
        addr,
        clock,
        state,
        key: root.access_key_id,
        secret: root.secret_access_key,
        _dir: dir,
        _stop: tx,
    }
}

fn provider() -> ProviderConfig {
    ProviderConfig::new(format!("{BASE}/accounts/{ACCOUNT}"), vec!["aud1".into()])
}

#[tokio::test]
async fn token_verifies_from_served_jwks_across_rotation_until_the_key_is_removed() {
    let app = spawn().await;
    // Disabled by default; no issuer published.
    let r = app.token_call_disabled().await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (403, Some("OutboundWebIdentityFederationDisabledException"))
    );
    let (status, _, _) = get(
        app.addr,
        &format!("/accounts/{ACCOUNT}/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(status, 404);

    let r = app
        .call(
            "iam",
            "Version=2010-05-08&Action=EnableOutboundWebIdentityFederation",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.field("IssuerIdentifier").unwrap(),
        format!("{BASE}/accounts/{ACCOUNT}")
    );
    let (status, head, body) = get(
        app.addr,
        &format!("/accounts/{ACCOUNT}/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"));
    let cfg: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(cfg["issuer"], format!("{BASE}/accounts/{ACCOUNT}"));

    let old = app.token("RS256").await;
    let now = app.clock.now();
    let v = verify_token(&old, &provider(), &app.jwks().await, now).unwrap();
    assert_eq!(v.subject, format!("arn:aws:iam::{ACCOUNT}:root"));
    assert_eq!(v.expires_at, now + 3600);
    let old_kid = v.key_id.clone().unwrap();
    assert_eq!(app.jwks().await.len(), 2); // one RS256 + one ES384 key

    // Rotate (as `opensts keys rotate --purpose jwks` does, from another process).
    let state = app.state.clone();
    for p in opensts_server::keys::purposes("jwks").unwrap() {
        opensts_server::keys::rotate(state.store.as_ref(), &state.master_key, p, now)
            .await
            .unwrap();
    }
    // The running server picks the new keys up within a poll interval.
    let mut new = String::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        new = app.token("RS256").await;
        let jwks = app.jwks().await;
        if jwks.len() == 4
            && verify_token(&new, &provider(), &jwks, now).unwrap().key_id != Some(old_kid.clone())
        {
            break;
        }
    }
    let jwks = app.jwks().await;
    assert_eq!(jwks.len(), 4);
    assert!(jwks.contains_kid(&old_kid));
    let new_kid = verify_token(&new, &provider(), &jwks, now)
        .unwrap()
        .key_id
        .unwrap();
    assert_ne!(new_kid, old_kid);
    // Signed before the rotation, still verifies.
    verify_token(&old, &provider(), &jwks, now + 10).unwrap();

    // Once every token the retired key can have signed has expired, it is unpublished…
    let due =
        opensts_server::keys::removable_at(opensts_server::oidc_issuer::JWKS_RS256_PURPOSE, now);
    app.clock.set(due - 1);
    assert!(app.jwks().await.contains_kid(&old_kid));
    app.clock.set(due);
    let jwks = app.jwks().await;
    assert!(!jwks.contains_kid(&old_kid));
    assert!(jwks.contains_kid(&new_kid));
    assert_eq!(jwks.len(), 2);
    // …and the prune removes it from the store (the server reloads).
    opensts_server::keys::prune_all(state.store.as_ref(), due).await;
    let listed = opensts_server::keys::list(state.store.as_ref(), due)
        .await
        .unwrap();
    let jw: Vec<_> = listed
        .iter()
        .filter(|k| k.purpose.starts_with("jwks-"))
        .collect();
    assert_eq!(jw.len(), 2, "{jw:?}");
    assert!(jw.iter().all(|k| k.state == "current"));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(
        state
            .oidc_issuer
            .key_set()
            .keys()
            .iter()
            .all(|k| k.kid != old_kid)
    );
    app.clock.set(now + 10);
    assert!(!app.jwks().await.contains_kid(&old_kid));
}

impl App {
    async fn token_call_disabled(&self) -> Resp {
        self.call(
            "sts",
            "Version=2011-06-15&Action=GetWebIdentityToken&Audience.member.1=aud1&SigningAlgorithm=ES384",
        )
        .await
    }
}
