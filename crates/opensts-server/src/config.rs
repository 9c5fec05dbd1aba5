//! Server configuration (the binary maps flags, `OPENSTS_*` variables and the config file onto
//! this) and the named limits.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Largest request body accepted. A SAML response may be 100,000 base64 characters, which
/// form-encoding can grow by up to a third; everything else STS and IAM take is far smaller.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// How often each node polls the store's change counter to invalidate its caches. Changes made
/// through any node are enforced everywhere within this interval plus one store round trip.
pub const CACHE_POLL_INTERVAL_MS: u64 = 200;
/// Most cached SigV4 signing keys before the cache is reset.
pub const MAX_SIGNING_KEY_CACHE: usize = 100_000;
/// Default region reported and used for ARNs where a region appears.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Largest request head (request line + headers) accepted; larger heads get HTTP 431. hyper's
/// HTTP/1 read buffer cannot be smaller than 8 KiB, so smaller settings are raised to that.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Smallest accepted `--max-header-bytes` (hyper's minimum HTTP/1 buffer).
pub const MIN_HEADER_BYTES: usize = 8 * 1024;
/// A client must send its complete request head within this many seconds. For HTTP/1 the
/// timer also runs while a keep-alive connection waits for its next request, so this is the
/// idle keep-alive timeout as well (hyper's default, 30 s).
pub const HEADER_READ_TIMEOUT_SECS: u64 = 30;
/// A client must send its complete request body within this many seconds.
pub const BODY_READ_TIMEOUT_SECS: u64 = 30;
/// A TLS handshake must complete within this many seconds.
pub const TLS_HANDSHAKE_TIMEOUT_SECS: u64 = 10;
/// On shutdown, in-flight requests get this long to finish before connections are dropped.
pub const SHUTDOWN_DRAIN_SECS: u64 = 30;
/// Default sustained request rate per account (requests per second); AWS STS's default
/// account quota is of this order. `0` disables the per-account limit.
pub const RATE_PER_ACCOUNT: f64 = 600.0;
/// Default per-account burst (bucket size).
pub const BURST_PER_ACCOUNT: u32 = 1200;
/// Default sustained request rate per source IP address (requests per second); `0` disables.
pub const RATE_PER_SOURCE: f64 = 300.0;
/// Default per-source burst (bucket size).
pub const BURST_PER_SOURCE: u32 = 600;
/// Audit log files are rotated when they reach this size (bytes); `0` never rotates.
pub const AUDIT_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Rotated audit files kept (`audit.log.1` … `audit.log.N`).
pub const AUDIT_KEEP_FILES: u32 = 10;

/// Where audit events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// One JSON line per event on standard output.
    Stdout,
    /// One JSON line per event appended to this file (rotated by size; reopened on SIGHUP).
    File(PathBuf),
}

impl AuditTarget {
    /// `-` or `stdout` → standard output; anything else is a file path.
    pub fn parse(s: &str) -> AuditTarget {
        match s {
            "-" | "stdout" => AuditTarget::Stdout,
            path => AuditTarget::File(PathBuf::from(path)),
        }
    }
}

/// Operational limits and outputs (audit, metrics, TLS, throttling, timeouts).
#[derive(Debug, Clone)]
pub struct OpsConfig {
    /// Separate plain-HTTP listener for `/metrics`; `None` serves `/metrics` on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// PEM certificate chain and private key; both set = serve HTTPS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub audit: Option<AuditTarget>,
    pub audit_max_bytes: u64,
    pub audit_keep_files: u32,
    pub rate_per_account: f64,
    pub burst_per_account: u32,
    pub rate_per_source: f64,
    pub burst_per_source: u32,
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub header_read_timeout_secs: u64,
    pub body_read_timeout_secs: u64,
    pub shutdown_drain_secs: u64,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            metrics_listen: None,
            tls_cert: None,
            tls_key: None,
            audit: None,
            audit_max_bytes: AUDIT_MAX_BYTES,
            audit_keep_files: AUDIT_KEEP_FILES,
            rate_per_account: RATE_PER_ACCOUNT,
            burst_per_account: BURST_PER_ACCOUNT,
            rate_per_source: RATE_PER_SOURCE,
            burst_per_source: BURST_PER_SOURCE,
            max_body_bytes: MAX_BODY_BYTES,
            max_header_bytes: MAX_HEADER_BYTES,
            header_read_timeout_secs: HEADER_READ_TIMEOUT_SECS,
            body_read_timeout_secs: BODY_READ_TIMEOUT_SECS,
            shutdown_drain_secs: SHUTDOWN_DRAIN_SECS,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; `None` = SQLite in the data dir.
    pub database_url: Option<String>,
    pub region: String,
    /// Default account id (used only when the store has no default account yet).
    pub account_id: Option<String>,
    /// Root credentials of the default account (`OPENSTS_ROOT_ACCESS_KEY_ID` /
    /// `OPENSTS_ROOT_SECRET_ACCESS_KEY`); generated on first start if unset.
    pub root_access_key_id: Option<String>,
    pub root_secret_access_key: Option<String>,
    /// `OPENSTS_MASTER_KEY` (64 hex chars or base64 of 32 bytes).
    pub master_key: Option<String>,
    /// `--master-key-file`; default `<data-dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// `--ca-file` / `OPENSTS_CA_FILE`: extra PEM CA certificates trusted when fetching OIDC
    /// discovery documents and JWKS (private IdPs), in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// `--issuer-base-url` / `OPENSTS_ISSUER_BASE_URL`: public base URL of the OIDC issuer
    /// (GetWebIdentityToken); each account's issuer is `<base>/accounts/<ACCOUNT>`. `None` =
    /// `http[s]://<listen address>`.
    pub issuer_base_url: Option<String>,
    /// Audit, metrics, TLS, throttling and connection limits.
    pub ops: OpsConfig,
}

impl Config {
    /// A configuration for tests and embedding: port 0 on loopback, the given data dir.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            database_url: None,
            region: DEFAULT_REGION.to_string(),
            account_id: None,
            root_access_key_id: None,
            root_secret_access_key: None,
            master_key: None,
            master_key_file: None,
            ca_file: None,
            issuer_base_url: None,
            ops: OpsConfig::default(),
        }
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("opensts.db").display()
            ),
        }
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }
}
