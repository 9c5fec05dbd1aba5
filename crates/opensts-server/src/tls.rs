//! TLS serving: a rustls `ServerConfig` (aws-lc-rs provider) from PEM files, swapped atomically
//! when the files change (SIGHUP, or the periodic file check) so certificates can be renewed
//! without a restart. New connections use the new certificate; established ones keep theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;

/// How often the certificate and key files are checked for changes (seconds).
pub const TLS_WATCH_INTERVAL_SECS: u64 = 5;

/// What the audit trail records about a TLS connection (CloudTrail's `tlsDetails`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    pub version: &'static str,
    pub cipher_suite: String,
}

/// Per-connection facts the request handler can see (a request extension).
#[derive(Debug, Clone, Default)]
pub struct ConnMeta {
    pub tls: Option<TlsInfo>,
}

impl TlsInfo {
    pub fn of(conn: &rustls::ServerConnection) -> TlsInfo {
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "unknown",
        };
        let cipher_suite = conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("unknown")
            .to_string();
        TlsInfo {
            version,
            cipher_suite,
        }
    }
}

/// Build a server configuration from a PEM certificate chain and a PEM private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--tls-cert {}: no CERTIFICATE in the file",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Modification time and size of both files, to notice changes.
type FileStamp = Option<(SystemTime, u64, SystemTime, u64)>;

fn stamp(cert: &Path, key: &Path) -> FileStamp {
    let c = std::fs::metadata(cert).ok()?;
    let k = std::fs::metadata(key).ok()?;
    Some((c.modified().ok()?, c.len(), k.modified().ok()?, k.len()))
}

/// The current TLS configuration and where it came from.
pub struct TlsReloader {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
    stamp: Mutex<FileStamp>,
    metrics: Arc<Metrics>,
}

impl TlsReloader {
    /// Load the files now (a bad certificate or key fails the start).
    pub fn load(cert: &Path, key: &Path, metrics: Arc<Metrics>) -> Result<TlsReloader, String> {
        let before = stamp(cert, key);
        let config = server_config(cert, key)?;
        Ok(TlsReloader {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(config)),
            stamp: Mutex::new(before),
            metrics,
        })
    }

    /// An acceptor with the current configuration.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        TlsAcceptor::from(config)
    }

    /// Reload the files. On failure the previous configuration stays in use.
    pub fn reload(&self) -> Result<(), String> {
        let before = stamp(&self.cert, &self.key);
        match server_config(&self.cert, &self.key) {
            Ok(config) => {
                if let Ok(mut c) = self.current.write() {
                    *c = Arc::new(config);
                }
                if let Ok(mut s) = self.stamp.lock() {
                    *s = before;
                }
                self.metrics.tls_reload("ok");
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                Ok(())
            }
            Err(e) => {
                // Remember the stamp anyway: a half-written file is retried when it changes
                // again (or on SIGHUP), not every few seconds.
                if let Ok(mut s) = self.stamp.lock() {
                    *s = before;
                }
                self.metrics.tls_reload("error");
                tracing::error!(error = %e, "TLS reload failed; keeping the previous certificate");
                Err(e)
            }
        }
    }

    /// Reload if either file changed since the last (attempted) load.
    pub fn reload_if_changed(&self) {
        let now = stamp(&self.cert, &self.key);
        let changed = match self.stamp.lock() {
            Ok(s) => *s != now,
            Err(_) => false,
        };
        if changed && now.is_some() {
            let _ = self.reload();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_refused_with_the_flag_name() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        std::fs::write(&cert, "not pem").unwrap();
        std::fs::write(&key, "not pem").unwrap();
        let e = server_config(&cert, &key).unwrap_err();
        assert!(e.contains("--tls-cert"), "{e}");
        let e = server_config(&dir.path().join("missing.pem"), &key).unwrap_err();
        assert!(e.contains("--tls-cert"), "{e}");
    }
}
