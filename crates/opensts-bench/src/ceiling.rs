//! The reference ceiling: a bare hyper HTTP/1.1 server that reads the request body and answers
//! every request with the same STS-sized XML (a GetCallerIdentity-shaped response padded to
//! [`CEILING_BODY_BYTES`]). No parsing, no auth, no store: what the machine, the kernel's
//! loopback and hyper can do, measured with the same load generator in the same run.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::BoxError;

/// Size of the fixed response body (about a GetCallerIdentity / AssumeRole answer).
pub const CEILING_BODY_BYTES: usize = 1024;

/// The fixed response body.
pub fn body() -> Bytes {
    let head = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Arn>arn:aws:iam::123456789012:user/bench-user</Arn>\n    <UserId>AIDAEXAMPLEEXAMPLE123</UserId>\n    <Account>123456789012</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>\n  </ResponseMetadata>\n";
    let tail = "</GetCallerIdentityResponse>\n";
    let pad = CEILING_BODY_BYTES.saturating_sub(head.len() + tail.len() + 7);
    Bytes::from(format!("{head}<!--{}-->{tail}", " ".repeat(pad)))
}

async fn handle(req: Request<Incoming>, body: Bytes) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the request like a real server does (keep-alive needs it consumed anyway).
    let _ = req.into_body().collect().await;
    let mut resp = Response::new(Full::new(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    Ok(resp)
}

/// Serve forever on `listener`.
pub async fn serve(listener: TcpListener) -> Result<(), BoxError> {
    let body = body();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, body.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Bind `addr` (port 0 picks one) and print `bench-ceiling listening on http://ADDR`.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BoxError> {
    let listener = TcpListener::bind(addr).await?;
    println!(
        "bench-ceiling listening on http://{}",
        listener.local_addr()?
    );
    Ok(listener)
}

#[cfg(test)]
mod tests {
    #[test]
    fn body_is_the_documented_size() {
        assert_eq!(super::body().len(), super::CEILING_BODY_BYTES);
    }
}
