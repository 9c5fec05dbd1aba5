//! `spawn_app()` and a minimal signed HTTP client.

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderMap;
use opensts_server::state::ManualClock;
use opensts_server::{Application, Config};
use opensts_sigv4::{SigningParams, sign_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct TestApp {
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    pub account_id: String,
    pub root_key: String,
    pub root_secret: String,
    pub _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub const START: i64 = 1_800_000_000;

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let mut config = Config::for_data_dir(dir.path());
    config.account_id = Some("111122223333".into());
    let app = Application::build_with_clock(config, clock.clone())
        .await
        .unwrap();
    let addr = app.local_addr().unwrap();
    let root = app.generated_root.clone().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        clock,
        account_id: root.account_id,
        root_key: root.access_key_id,
        root_secret: root.secret_access_key,
        _dir: dir,
        shutdown: Some(tx),
    }
}

pub struct Creds {
    pub key: String,
    pub secret: String,
    pub token: Option<String>,
}

pub struct Resp {
    pub status: u16,
    pub body: String,
}

impl Resp {
    /// Text of the first `<name>` element.
    pub fn field(&self, name: &str) -> Option<String> {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find(&close)? + start;
        Some(self.body[start..end].to_string())
    }

    pub fn code(&self) -> Option<String> {
        self.field("Code")
    }
}

impl TestApp {
    pub fn root(&self) -> Creds {
        Creds {
            key: self.root_key.clone(),
            secret: self.root_secret.clone(),
            token: None,
        }
    }

    /// POST a form body signed at `time` (default: the app's clock).
    pub async fn call_at(&self, creds: &Creds, service: &str, body: &str, time: i64) -> Resp {
        let mut headers = HeaderMap::new();
        headers.insert("host", self.addr.to_string().parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        let params = SigningParams {
            access_key_id: &creds.key,
            secret: &creds.secret,
            session_token: creds.token.as_deref(),
            region: "us-east-1",
            service,
            time,
        };
        sign_request("POST", "/", "", &mut headers, body.as_bytes(), &params).unwrap();
        raw_post(self.addr, &headers, body).await
    }

    pub async fn call(&self, creds: &Creds, service: &str, body: &str) -> Resp {
        let now = opensts_server::state::Clock::now(self.clock.as_ref());
        self.call_at(creds, service, body, now).await
    }

    pub async fn sts(&self, creds: &Creds, params: &str) -> Resp {
        self.call(creds, "sts", &format!("Version=2011-06-15&{params}"))
            .await
    }

    #[allow(dead_code)]
    pub async fn iam(&self, creds: &Creds, params: &str) -> Resp {
        self.call(creds, "iam", &format!("Version=2010-05-08&{params}"))
            .await
    }
}

/// A one-shot HTTP/1.1 POST (Connection: close), enough for tests.
pub async fn raw_post(addr: SocketAddr, headers: &HeaderMap, body: &str) -> Resp {
    let mut req = String::from("POST / HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{}: {}\r\n", k, v.to_str().unwrap()));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Resp { status, body }
}

/// Session credentials from a response holding `<Credentials>`.
pub fn session_creds(r: &Resp) -> Creds {
    Creds {
        key: r.field("AccessKeyId").expect("AccessKeyId"),
        secret: r.field("SecretAccessKey").expect("SecretAccessKey"),
        token: Some(r.field("SessionToken").expect("SessionToken")),
    }
}
