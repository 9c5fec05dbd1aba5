//! The accept loop: plain HTTP or TLS, HTTP/1.1 and HTTP/2 (hyper-util's auto builder), with
//! the connection-level limits (request head size, head read timeout, TLS handshake timeout)
//! and graceful draining on shutdown.
//!
//! Every request gets two extensions: axum's `ConnectInfo<SocketAddr>` (the peer) and
//! [`ConnMeta`] (TLS version and cipher, if any).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::config::MIN_HEADER_BYTES;
use crate::tls::{ConnMeta, TlsInfo, TlsReloader};

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// The whole request head must arrive within this time (HTTP/1).
    pub header_read_timeout: Duration,
    /// Largest request head (HTTP/1 read buffer; HTTP/2 header list).
    pub max_header_bytes: usize,
    /// A TLS handshake must complete within this time.
    pub tls_handshake_timeout: Duration,
    /// How long in-flight requests may take to finish after shutdown starts.
    pub drain: Duration,
}

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_ERROR_BACKOFF_MS: u64 = 50;

fn builder(limits: &ConnLimits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    b
}

/// Serve `router` on `listener` until `shutdown` turns true (or its sender is dropped), then
/// stop accepting, let in-flight requests finish (up to `limits.drain`) and return.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<TlsReloader>>,
    limits: ConnLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(builder(&limits));
    let graceful = GracefulShutdown::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_BACKOFF_MS)).await;
                    continue;
                }
            },
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            builder: builder.clone(),
            router: router.clone(),
            peer,
            watcher: graceful.watcher(),
        };
        let tls = tls.as_ref().map(|t| t.acceptor());
        let handshake_timeout = limits.tls_handshake_timeout;
        tokio::spawn(async move {
            match tls {
                None => conn.serve(stream, ConnMeta::default()).await,
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => {
                            let meta = ConnMeta {
                                tls: Some(TlsInfo::of(tls_stream.get_ref().1)),
                            };
                            conn.serve(tls_stream, meta).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(peer = %peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain) => {
            tracing::warn!(seconds = limits.drain.as_secs(), "drain timeout: closing connections with requests still in flight");
        }
    }
}

struct Conn {
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    peer: SocketAddr,
    watcher: Watcher,
}

impl Conn {
    async fn serve<S>(self, stream: S, meta: ConnMeta)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            builder,
            router,
            peer,
            watcher,
        } = self;
        let meta = Arc::new(meta);
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(meta.clone());
            router.clone().oneshot(req)
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
        }
    }
}
