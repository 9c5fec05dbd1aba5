//! Keep-alive HTTP/1.1 connections and SigV4-signed awsQuery requests.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper_util::rt::TokioIo;
use opensts_sigv4::{SigningParams, sign_request};
use tokio::net::TcpStream;

use crate::BoxError;

/// The region in every signature scope.
pub const REGION: &str = "us-east-1";
/// awsQuery `Version` of STS.
pub const STS_VERSION: &str = "2011-06-15";
/// awsQuery `Version` of IAM.
pub const IAM_VERSION: &str = "2010-05-08";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Long-term or temporary credentials.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Creds {
    pub access_key_id: String,
    #[serde(skip)]
    pub secret: String,
    #[serde(skip)]
    pub session_token: Option<String>,
}

/// A request ready to send (cheap to clone: the replayed-signature mode resends it as is).
#[derive(Clone)]
pub struct Prepared {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Prepared {
    /// An awsQuery POST to `/` with `params` form-encoded, signed for `service` with `creds`
    /// at `time` (unsigned when `creds` is `None`).
    pub fn query(
        host: &str,
        params: &[(&str, &str)],
        creds: Option<&Creds>,
        service: &str,
        time: i64,
    ) -> Result<Prepared, BoxError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(host)?);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(FORM));
        if let Some(c) = creds {
            let p = SigningParams {
                access_key_id: &c.access_key_id,
                secret: &c.secret,
                session_token: c.session_token.as_deref(),
                region: REGION,
                service,
                time,
            };
            sign_request("POST", "/", "", &mut headers, body.as_bytes(), &p)
                .map_err(|e| format!("signing: {e:?}"))?;
        }
        Ok(Prepared {
            headers,
            body: Bytes::from(body),
        })
    }

    fn request(&self) -> Result<Request<Full<Bytes>>, BoxError> {
        let mut req = Request::post("/").body(Full::new(self.body.clone()))?;
        *req.headers_mut() = self.headers.clone();
        Ok(req)
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Result<Conn, BoxError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { sender })
    }

    /// Send and read the whole response.
    pub async fn send(&mut self, p: &Prepared) -> Result<(StatusCode, Bytes), BoxError> {
        self.sender.ready().await?;
        let resp = self.sender.send_request(p.request()?).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Send an awsQuery call and return the body of a 200, or an error naming the AWS error.
    pub async fn call(&mut self, p: &Prepared) -> Result<String, BoxError> {
        let (status, body) = self.send(p).await?;
        let text = String::from_utf8_lossy(&body).into_owned();
        if status != StatusCode::OK {
            let code = crate::xml_text(&text, "Code").unwrap_or("?");
            let msg = crate::xml_text(&text, "Message").unwrap_or("");
            return Err(format!("HTTP {status} {code}: {msg}").into());
        }
        Ok(text)
    }
}
