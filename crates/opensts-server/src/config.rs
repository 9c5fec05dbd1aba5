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
