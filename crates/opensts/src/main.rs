//! `opensts`: the OpenSTS command line.
//!
//! * `opensts serve` — run the STS/IAM endpoint.
//! * `opensts account create --account-id ID [--name N]` — add an account, print its root
//!   credentials as JSON.
//! * `opensts role revoke-sessions --role-name R [--account-id A]` — revoke every session of
//!   a role issued until now (AWS's `AWSRevokeOlderSessions` inline policy).
//! * `opensts keys rotate [--purpose session-token|auth-message|all]`, `opensts keys list` —
//!   key-ring rotation (running servers pick the new key up within a second).
//! * `opensts credentials [--role-arn R …] [--format env|json|process]` — a client helper:
//!   temporary credentials from an STS endpoint, e.g. as a `credential_process`.
//!
//! Every flag also reads an `OPENSTS_*` environment variable and can be set in the TOML file
//! named by `--config` / `OPENSTS_CONFIG`; precedence: flag > environment > file > default.

mod config_file;
mod credentials;

use std::ffi::OsString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use opensts_server::app;
use opensts_server::config::{
    AUDIT_KEEP_FILES, AUDIT_MAX_BYTES, AuditTarget, BODY_READ_TIMEOUT_SECS, BURST_PER_ACCOUNT,
    BURST_PER_SOURCE, DEFAULT_REGION, HEADER_READ_TIMEOUT_SECS, MAX_BODY_BYTES, MAX_HEADER_BYTES,
    MIN_HEADER_BYTES, OpsConfig, RATE_PER_ACCOUNT, RATE_PER_SOURCE, SHUTDOWN_DRAIN_SECS,
};
use opensts_server::{Application, Config};

#[derive(Parser)]
#[command(
    name = "opensts",
    version,
    about = "A self-hosted, AWS-compatible Security Token Service"
)]
struct Cli {
    /// TOML file of settings (keys = flag names, e.g. `listen = "0.0.0.0:8080"`).
    /// Precedence: flag > environment > file > default.
    #[arg(long, env = "OPENSTS_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log format on stderr (`OPENSTS_LOG` sets the level filter).
    #[arg(
        long,
        env = "OPENSTS_LOG_FORMAT",
        global = true,
        value_enum,
        default_value_t = LogFormat::Text
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the STS and IAM endpoint.
    Serve(Box<ServeArgs>),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage roles.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Manage the key rings (session tokens, encoded authorization messages).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Get temporary credentials (AssumeRole with --role-arn, else GetSessionToken) from an
    /// STS endpoint and print them as shell exports, JSON or credential_process JSON.
    Credentials(Box<credentials::CredentialsArgs>),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new key (id = highest + 1) that seals from now on, retire the previous one (it
    /// keeps verifying until the longest session it could have signed has expired) and remove
    /// retired keys past that point. Prints one JSON object per key ring.
    Rotate {
        /// Which key ring: session-token, auth-message, jwks-rs256, jwks-es384, jwks (both
        /// JWKS rings) or all.
        #[arg(long, default_value = "all")]
        purpose: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Print every key of every ring as a JSON array
    /// (purpose, id, created, retired, state, removable_after).
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Subcommand)]
enum RoleCommand {
    /// Revoke every session of a role issued before now (adds the AWSRevokeOlderSessions
    /// inline policy that denies requests whose aws:TokenIssueTime is older, as AWS does).
    RevokeSessions {
        /// Account of the role (default: the default account).
        #[arg(long)]
        account_id: Option<String>,
        #[arg(long)]
        role_name: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

/// Where state lives; shared by every subcommand that opens the store.
#[derive(Args, Clone)]
struct StorageArgs {
    /// Directory for the embedded SQLite database and the generated master key.
    #[arg(long, env = "OPENSTS_DATA_DIR", default_value = "./opensts-data")]
    data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` or `postgres://…` (default: SQLite in the data dir).
    #[arg(long, env = "OPENSTS_DATABASE_URL")]
    database_url: Option<String>,
    /// Master key file (default: DATA_DIR/master.key, generated with mode 0600 if missing).
    #[arg(long, env = "OPENSTS_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// The master key itself (64 hex characters or base64 of 32 bytes); wins over the file.
    #[arg(long, env = "OPENSTS_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "OPENSTS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Region reported to clients.
    #[arg(long, env = "OPENSTS_REGION", default_value = DEFAULT_REGION)]
    region: String,
    /// Id of the default account, used on first start (random if unset).
    #[arg(long, env = "OPENSTS_ACCOUNT_ID")]
    account_id: Option<String>,
    /// Root access key id of the default account (generated on first start if unset).
    #[arg(long, env = "OPENSTS_ROOT_ACCESS_KEY_ID")]
    root_access_key_id: Option<String>,
    /// Root secret access key of the default account.
    #[arg(long, env = "OPENSTS_ROOT_SECRET_ACCESS_KEY", hide_env_values = true)]
    root_secret_access_key: Option<String>,
    /// PEM file of extra CA certificates trusted for OIDC discovery/JWKS (private IdPs).
    #[arg(long, env = "OPENSTS_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Public base URL of the OIDC issuer of GetWebIdentityToken tokens; each account's issuer
    /// is BASE/accounts/ACCOUNT (default: http[s]://<listen address>).
    #[arg(long, env = "OPENSTS_ISSUER_BASE_URL")]
    issuer_base_url: Option<String>,
    /// Serve `/metrics` on this separate plain-HTTP address instead of the main listener.
    #[arg(long, env = "OPENSTS_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// PEM certificate chain: serve HTTPS (with --tls-key). Reloaded on SIGHUP and when the
    /// files change.
    #[arg(long, env = "OPENSTS_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "OPENSTS_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Write one CloudTrail-shaped JSON audit event per API call to this file (`-` = stdout).
    #[arg(long, env = "OPENSTS_AUDIT_LOG")]
    audit_log: Option<String>,
    /// Rotate the audit file when it reaches this many bytes (0 = never).
    #[arg(long, env = "OPENSTS_AUDIT_MAX_BYTES", default_value_t = AUDIT_MAX_BYTES)]
    audit_max_bytes: u64,
    /// Rotated audit files kept (FILE.1 … FILE.N).
    #[arg(long, env = "OPENSTS_AUDIT_KEEP_FILES", default_value_t = AUDIT_KEEP_FILES,
          value_parser = clap::value_parser!(u32).range(1..))]
    audit_keep_files: u32,
    /// Sustained requests per second per account (0 = unlimited).
    #[arg(long, env = "OPENSTS_RATE_PER_ACCOUNT", default_value_t = RATE_PER_ACCOUNT)]
    rate_per_account: f64,
    /// Burst per account (token bucket size).
    #[arg(long, env = "OPENSTS_BURST_PER_ACCOUNT", default_value_t = BURST_PER_ACCOUNT)]
    burst_per_account: u32,
    /// Sustained requests per second per source IP address (IPv6: per /64; 0 = unlimited).
    #[arg(long, env = "OPENSTS_RATE_PER_SOURCE", default_value_t = RATE_PER_SOURCE)]
    rate_per_source: f64,
    /// Burst per source address.
    #[arg(long, env = "OPENSTS_BURST_PER_SOURCE", default_value_t = BURST_PER_SOURCE)]
    burst_per_source: u32,
    /// Largest request body (bytes).
    #[arg(long, env = "OPENSTS_MAX_BODY_BYTES", default_value_t = MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Largest request head: request line + headers (bytes, at least 8192).
    #[arg(long, env = "OPENSTS_MAX_HEADER_BYTES", default_value_t = MAX_HEADER_BYTES,
          value_parser = header_bytes)]
    max_header_bytes: usize,
    /// Seconds a client has to send its request head (also the idle keep-alive timeout).
    #[arg(long, env = "OPENSTS_HEADER_READ_TIMEOUT_SECS", default_value_t = HEADER_READ_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_secs: u64,
    /// Seconds a client has to send its request body.
    #[arg(long, env = "OPENSTS_BODY_READ_TIMEOUT_SECS", default_value_t = BODY_READ_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    body_read_timeout_secs: u64,
    /// On SIGTERM, seconds in-flight requests get to finish.
    #[arg(long, env = "OPENSTS_SHUTDOWN_DRAIN_SECS", default_value_t = SHUTDOWN_DRAIN_SECS)]
    shutdown_drain_secs: u64,
    /// Print the effective settings as JSON (secrets masked) and exit.
    #[arg(long)]
    print_config: bool,
    #[command(flatten)]
    storage: StorageArgs,
}

fn header_bytes(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if n < MIN_HEADER_BYTES {
        return Err(format!("must be at least {MIN_HEADER_BYTES}"));
    }
    Ok(n)
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account and print its root credentials as one JSON object.
    Create {
        /// 12-digit account id.
        #[arg(long)]
        account_id: String,
        /// A friendly name.
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

fn storage_config(s: &StorageArgs) -> Config {
    let mut c = Config::for_data_dir(s.data_dir.clone());
    c.database_url = s.database_url.clone();
    c.master_key = s.master_key.clone();
    c.master_key_file = s.master_key_file.clone();
    c
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPENSTS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        // One JSON object per line: timestamp, level, target, message and the event's fields.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// Parse the command line, then apply the config file to what neither a flag nor an
/// environment variable set.
fn parse_cli() -> Result<Cli, clap::Error> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let root = Cli::command();
    let first = root.clone().try_get_matches_from(&argv)?;
    let Some(path) = first.get_one::<PathBuf>(config_file::CONFIG_ARG) else {
        return Cli::from_arg_matches(&first);
    };
    let extra = config_file::load(path)
        .and_then(|table| config_file::file_args(&root, &first, &table))
        .map_err(|e| Cli::command().error(clap::error::ErrorKind::InvalidValue, e))?;
    let mut all = argv;
    all.extend(extra);
    let matches = root.try_get_matches_from(all)?;
    Cli::from_arg_matches(&matches)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}

fn serve_config(args: ServeArgs) -> Config {
    let mut config = storage_config(&args.storage);
    config.listen = args.listen;
    config.region = args.region;
    config.account_id = args.account_id;
    config.root_access_key_id = args.root_access_key_id;
    config.root_secret_access_key = args.root_secret_access_key;
    config.ca_file = args.ca_file;
    config.issuer_base_url = args.issuer_base_url;
    config.ops = OpsConfig {
        metrics_listen: args.metrics_listen,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        audit: args.audit_log.as_deref().map(AuditTarget::parse),
        audit_max_bytes: args.audit_max_bytes,
        audit_keep_files: args.audit_keep_files,
        rate_per_account: args.rate_per_account,
        burst_per_account: args.burst_per_account,
        rate_per_source: args.rate_per_source,
        burst_per_source: args.burst_per_source,
        max_body_bytes: args.max_body_bytes,
        max_header_bytes: args.max_header_bytes,
        header_read_timeout_secs: args.header_read_timeout_secs,
        body_read_timeout_secs: args.body_read_timeout_secs,
        shutdown_drain_secs: args.shutdown_drain_secs,
    };
    config
}

/// `serve --print-config`: the effective settings, secrets masked.
fn print_config(config: &Config, log_format: LogFormat) {
    let masked = |v: &Option<String>| v.as_ref().map(|_| "***");
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let ops = &config.ops;
    let out = serde_json::json!({
        "listen": config.listen.to_string(),
        "region": config.region,
        "data-dir": config.data_dir.display().to_string(),
        "database-url": config.database_url.as_ref().map(|_| "***"),
        "account-id": config.account_id,
        "root-access-key-id": config.root_access_key_id,
        "root-secret-access-key": masked(&config.root_secret_access_key),
        "master-key": masked(&config.master_key),
        "master-key-file": path(&config.master_key_file),
        "ca-file": path(&config.ca_file),
        "issuer-base-url": config.issuer_base_url,
        "metrics-listen": ops.metrics_listen.map(|a| a.to_string()),
        "tls-cert": path(&ops.tls_cert),
        "tls-key": path(&ops.tls_key),
        "audit-log": ops.audit.as_ref().map(|t| match t {
            AuditTarget::Stdout => "-".to_string(),
            AuditTarget::File(p) => p.display().to_string(),
        }),
        "audit-max-bytes": ops.audit_max_bytes,
        "audit-keep-files": ops.audit_keep_files,
        "rate-per-account": ops.rate_per_account,
        "burst-per-account": ops.burst_per_account,
        "rate-per-source": ops.rate_per_source,
        "burst-per-source": ops.burst_per_source,
        "max-body-bytes": ops.max_body_bytes,
        "max-header-bytes": ops.max_header_bytes,
        "header-read-timeout-secs": ops.header_read_timeout_secs,
        "body-read-timeout-secs": ops.body_read_timeout_secs,
        "shutdown-drain-secs": ops.shutdown_drain_secs,
        "log-format": match log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        },
    });
    println!("{out}");
}

async fn serve(args: ServeArgs, log_format: LogFormat) -> Result<(), String> {
    let print_only = args.print_config;
    let config = serve_config(args);
    if print_only {
        print_config(&config, log_format);
        return Ok(());
    }
    let region = config.region.clone();
    let app = Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    let addr = app.local_addr().map_err(|e| e.to_string())?;
    let scheme = if app.is_tls() { "https" } else { "http" };
    let metrics_addr = app.metrics_addr();
    let mut out = std::io::stdout().lock();
    if let Some(root) = &app.generated_root {
        let _ = writeln!(
            out,
            "OpenSTS created account {} with root credentials (shown once):\n  export AWS_ACCESS_KEY_ID={}\n  export AWS_SECRET_ACCESS_KEY={}",
            root.account_id, root.access_key_id, root.secret_access_key
        );
    }
    if let Some(m) = metrics_addr {
        let _ = writeln!(out, "OpenSTS metrics on http://{m}/metrics");
    }
    let _ = writeln!(out, "OpenSTS listening on {scheme}://{addr}");
    let _ = writeln!(
        out,
        "  try: aws --endpoint-url {scheme}://{addr} --region {region} sts get-caller-identity"
    );
    let _ = out.flush();
    drop(out);
    let state = app.state();
    let served = app.run_until(shutdown_signal()).await;
    // Graceful shutdown: every acknowledged write durable, the store's run record removed.
    state.store.close().await;
    served.map_err(|e| e.to_string())
}

async fn account_create(
    account_id: String,
    name: String,
    storage: StorageArgs,
) -> Result<(), String> {
    let config = storage_config(&storage);
    let master = app::load_master_key(&config).map_err(|e| e.to_string())?;
    let store = app::open_store(&config).await.map_err(|e| e.to_string())?;
    let now = unix_now();
    let (akid, secret) =
        app::create_account(store.as_ref(), &master, &account_id, &name, None, now)
            .await
            .map_err(|e| match e {
                app::StartError::Store(opensts_store::StoreError::Conflict { .. }) => {
                    format!("account {account_id} already exists")
                }
                other => other.to_string(),
            })?;
    let out = serde_json::json!({
        "AccountId": account_id,
        "Name": name,
        "AccessKeyId": akid,
        "SecretAccessKey": secret,
    });
    println!("{out}");
    Ok(())
}

async fn role_revoke(
    account_id: Option<String>,
    role_name: String,
    storage: StorageArgs,
) -> Result<(), String> {
    let config = storage_config(&storage);
    let store = app::open_store(&config).await.map_err(|e| e.to_string())?;
    let account = match account_id {
        Some(a) => a,
        None => store
            .get_setting("default_account_id")
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no default account yet: start the server once or pass --account-id")?,
    };
    // aws:TokenIssueTime has one-second resolution: revoke through the end of the current
    // second, so a session issued earlier in this very second is revoked too (a new session
    // issued in the same second is refused as well; one second later they work again).
    let cutoff = app::revoke_role_sessions(store.as_ref(), &account, &role_name, unix_now() + 1)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({"AccountId": account, "RoleName": role_name, "RevokedBefore": cutoff})
    );
    Ok(())
}

async fn keys_rotate(purpose: String, storage: StorageArgs) -> Result<(), String> {
    let purposes = opensts_server::keys::purposes(&purpose)?;
    let config = storage_config(&storage);
    let master = app::load_master_key(&config).map_err(|e| e.to_string())?;
    let store = app::open_store(&config).await.map_err(|e| e.to_string())?;
    let now = unix_now();
    for p in purposes {
        let report = opensts_server::keys::rotate(store.as_ref(), &master, p, now)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    }
    Ok(())
}

async fn keys_list(storage: StorageArgs) -> Result<(), String> {
    let config = storage_config(&storage);
    let store = app::open_store(&config).await.map_err(|e| e.to_string())?;
    let keys = opensts_server::keys::list(store.as_ref(), unix_now())
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::to_string_pretty(&keys).map_err(|e| e.to_string())?
    );
    Ok(())
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

/// mimalloc instead of the system allocator: the request path allocates many small, short-lived
/// buffers (query parameters, policy contexts, XML), and glibc's malloc contends across worker
/// threads; measured with `scripts/bench` (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match parse_cli() {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("opensts: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(*args, cli.log_format).await,
            Command::Account(AccountCommand::Create {
                account_id,
                name,
                storage,
            }) => account_create(account_id, name, storage).await,
            Command::Role(RoleCommand::RevokeSessions {
                account_id,
                role_name,
                storage,
            }) => role_revoke(account_id, role_name, storage).await,
            Command::Keys(KeysCommand::Rotate { purpose, storage }) => {
                keys_rotate(purpose, storage).await
            }
            Command::Keys(KeysCommand::List { storage }) => keys_list(storage).await,
            Command::Credentials(args) => credentials::run(*args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("opensts: {e}");
            ExitCode::FAILURE
        }
    }
}
