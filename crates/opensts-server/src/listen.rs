//! The accept loop: plain HTTP or TLS, HTTP/1.1 and HTTP/2 (hyper-util's auto builder), with
//! the connection-level limits (request head size, head read timeout, TLS handshake timeout,
//! idle timeout) and graceful draining on shutdown.
//!
//! hyper's own `header_read_timeout` covers HTTP/1 request heads only, and only once the
//! auto builder has finished sniffing for the HTTP/2 preface (a read without a timeout). So
//! every connection also has an idle watchdog ([`ConnActivity`]): a connection with no request
//! in flight whose last request started or ended (or which was accepted) longer than
//! `header_read_timeout` ago is closed. That bounds sockets that send nothing, part of the
//! HTTP/2 preface, or an HTTP/2 preface and then no request, and idle HTTP/2 connections.
//!
//! Every request gets two extensions: axum's `ConnectInfo<SocketAddr>` (the peer) and
//! [`ConnMeta`] (TLS version and cipher, if any).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    /// The whole request head must arrive within this time (HTTP/1); also the idle timeout:
    /// a connection with no request in flight for this long is closed (HTTP/1 and HTTP/2).
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
            idle_timeout: limits.header_read_timeout,
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
    idle_timeout: Duration,
}

/// What the idle watchdog of one connection needs: requests in flight, and when the last one
/// started or finished (milliseconds since the connection was accepted).
struct ConnActivity {
    start: tokio::time::Instant,
    in_flight: AtomicUsize,
    last_event_ms: AtomicU64,
}

impl ConnActivity {
    fn new() -> Self {
        ConnActivity {
            start: tokio::time::Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_event_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_event_ms.store(ms, Ordering::Release);
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self.clone())
    }

    /// When the connection may be closed if nothing happens before then; `None` while a
    /// request is in flight.
    fn idle_deadline(&self, idle: Duration) -> Option<tokio::time::Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_event_ms.load(Ordering::Acquire));
        Some(self.start + last + idle)
    }

    /// Resolves once the connection has been idle (no request in flight, none started or
    /// finished) for `idle`.
    async fn idle_for(&self, idle: Duration) {
        // while a request is in flight, look again after this long
        const BUSY_RECHECK: Duration = Duration::from_millis(500);
        loop {
            match self.idle_deadline(idle) {
                None => tokio::time::sleep(BUSY_RECHECK).await,
                Some(deadline) if deadline <= tokio::time::Instant::now() => return,
                Some(deadline) => tokio::time::sleep_until(deadline).await,
            }
        }
    }
}

/// A request in flight on a connection; dropping it (response produced, or request aborted)
/// marks the end of the request.
struct InFlight(Arc<ConnActivity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.touch();
    }
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
            idle_timeout,
        } = self;
        let meta = Arc::new(meta);
        let activity = Arc::new(ConnActivity::new());
        let service_activity = activity.clone();
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(meta.clone());
            let in_flight = service_activity.begin();
            let response = router.clone().oneshot(req);
            async move {
                let r = response.await;
                drop(in_flight);
                r
            }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::select! {
            ended = watcher.watch(conn) => {
                if let Err(e) = ended {
                    tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                }
            }
            () = activity.idle_for(idle_timeout) => {
                tracing::debug!(peer = %peer, seconds = idle_timeout.as_secs(), "closing idle connection");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_watchdog_waits_for_requests_in_flight() {
        let idle = Duration::from_secs(3);
        let a = Arc::new(ConnActivity::new());
        // nothing happened since accept: idle after 3 s
        let deadline = a.idle_deadline(idle);
        assert_eq!(deadline, Some(a.start + idle));
        // a request in flight: no deadline, however long it takes
        let req = a.begin();
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(a.idle_deadline(idle), None);
        let woke = tokio::time::timeout(Duration::from_secs(60), a.idle_for(idle)).await;
        assert!(
            woke.is_err(),
            "the watchdog fired while a request was in flight"
        );
        // the request ends: idle 3 s after that
        drop(req);
        let ended = tokio::time::Instant::now();
        a.idle_for(idle).await;
        assert!(tokio::time::Instant::now() >= ended + idle);
    }
}
