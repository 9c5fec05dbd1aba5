//! `opensts`: the OpenSTS command line.
//!
//! * `opensts serve` — run the STS/IAM endpoint.
//! * `opensts account create --account-id ID [--name N]` — add an account, print its root
//!   credentials as JSON.
//! * `opensts role revoke-sessions --role-name R [--account-id A]` — revoke every session of
//!   a role issued until now (AWS's `AWSRevokeOlderSessions` inline policy).
//!
//! Every flag also reads an `OPENSTS_*` environment variable; a flag wins over the variable.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use opensts_server::app;
use opensts_server::config::DEFAULT_REGION;
use opensts_server::{Application, Config};

#[derive(Parser)]
#[command(
    name = "opensts",
    version,
    about = "A self-hosted, AWS-compatible Security Token Service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the STS and IAM endpoint.
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage roles.
    #[command(subcommand)]
    Role(RoleCommand),
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
    #[command(flatten)]
    storage: StorageArgs,
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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPENSTS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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

async fn serve(args: ServeArgs) -> Result<(), String> {
    let mut config = storage_config(&args.storage);
    config.listen = args.listen;
    config.region = args.region;
    config.account_id = args.account_id;
    config.root_access_key_id = args.root_access_key_id;
    config.root_secret_access_key = args.root_secret_access_key;
    config.ca_file = args.ca_file;
    let region = config.region.clone();
    let app = Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    let addr = app.local_addr().map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    if let Some(root) = &app.generated_root {
        let _ = writeln!(
            out,
            "OpenSTS created account {} with root credentials (shown once):\n  export AWS_ACCESS_KEY_ID={}\n  export AWS_SECRET_ACCESS_KEY={}",
            root.account_id, root.access_key_id, root.secret_access_key
        );
    }
    let _ = writeln!(out, "OpenSTS listening on http://{addr}");
    let _ = writeln!(
        out,
        "  try: aws --endpoint-url http://{addr} --region {region} sts get-caller-identity"
    );
    let _ = out.flush();
    drop(out);
    app.run_until(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
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

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
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
            Command::Serve(args) => serve(args).await,
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
