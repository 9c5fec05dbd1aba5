//! `opensts-bench`: the load generator. Sets up a user, roles and providers through the IAM API
//! (root credentials), then runs each scenario with N keep-alive connections and prints a table
//! plus a JSON summary (`--output`). `scripts/bench` drives it; see `docs/performance.md`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use clap::{Parser, ValueEnum};
use opensts_bench::client::{Creds, IAM_VERSION, Prepared, STS_VERSION};
use opensts_bench::run::{Load, Scenario, ScenarioResult, run};
use opensts_bench::saml::{SamlIdp, SigningKey};
use opensts_bench::setup::{self, IdpFixtures, ROLE_NAME, SESSION_POLICY};
use opensts_bench::{BoxError, unix_now};
use serde_json::json;

/// Target ratios to the ceiling (issue 12), same run, 32 connections.
const TARGETS: &[(&str, f64)] = &[
    ("gci-user", 0.5),
    ("gci-session", 0.5),
    ("assume-role", 0.35),
    ("web-identity", 0.2),
    ("saml", 0.1),
];
/// Target p99 latency of every OpenSTS scenario.
const TARGET_P99_US: u64 = 5_000;
/// Target resident memory with the bulk load in place.
const TARGET_RSS_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Name {
    /// The bare hyper server (`--ceiling`), sent the gci-user request.
    Ceiling,
    /// GetCallerIdentity signed with the user's long-term key.
    GciUser,
    /// GetCallerIdentity signed with session credentials (AssumeRole).
    GciSession,
    /// AssumeRole with a trust policy and a session policy.
    AssumeRole,
    /// AssumeRoleWithWebIdentity with an RS256 token (JWKS cached by the server).
    WebIdentity,
    /// AssumeRoleWithSAML with a freshly signed assertion per request.
    Saml,
    /// IAM GetRole signed by the user.
    GetRole,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum SignatureMode {
    Fresh,
    Replay,
    Both,
}

#[derive(Parser, Debug)]
#[command(
    name = "opensts-bench",
    about = "Load generator for OpenSTS (SigV4-signed STS/IAM calls)"
)]
struct Args {
    /// OpenSTS endpoint (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    /// The bare-hyper ceiling server (bench-ceiling); ratios are computed against it.
    #[arg(long)]
    ceiling: Option<String>,
    #[arg(long, env = "OPENSTS_BENCH_ROOT_ACCESS_KEY_ID")]
    root_access_key_id: String,
    #[arg(
        long,
        env = "OPENSTS_BENCH_ROOT_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    root_secret_access_key: String,
    /// idp.json written by scripts/bench_idp.py (enables web-identity and saml).
    #[arg(long)]
    idp_fixtures: Option<std::path::PathBuf>,
    /// Scenarios to run, in order (default: all that are possible).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<Name>,
    /// Fresh signature per request, the same signed bytes resent, or both runs.
    #[arg(long, value_enum, default_value = "fresh")]
    signature: SignatureMode,
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds before each scenario.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Runtime threads of the load generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Roles to create before the run (each with a trust and an inline policy).
    #[arg(long, default_value_t = 0)]
    load_roles: usize,
    /// Users to create before the run (each with an inline policy).
    #[arg(long, default_value_t = 0)]
    load_users: usize,
    /// Server process id: report its VmRSS/VmHWM after the load and after the run.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Long run: issue this many sessions (AssumeRole) and report throughput per window.
    #[arg(long)]
    sessions: Option<u64>,
    /// Windows of the long run.
    #[arg(long, default_value_t = 10)]
    windows: u64,
    /// Write the JSON summary here (also printed to stdout with --json).
    #[arg(long)]
    output: Option<std::path::PathBuf>,
    /// Fail (exit 1) on any error response or if no request succeeded (smoke tests).
    #[arg(long)]
    strict: bool,
    /// SAML responses signed before the saml scenario starts, as an IdP would have issued them
    /// (each still unique, each still verified by the server): the IdP's signing then does not
    /// compete with the server for the machine's cores. Past this many requests, responses are
    /// signed per request. 0: always sign per request. Default: enough for the warm-up and
    /// the measured seconds at 24,000 req/s.
    #[arg(long)]
    saml_presigned: Option<usize>,
    /// The bench IdP's SAML signing key: RSA-2048 (RSA-SHA256, what IdPs sign SAML with) or
    /// ECDSA P-256 (ECDSA-SHA256, about three times the server's verification cost).
    #[arg(long, value_enum, default_value_t = SamlKey::Rsa)]
    saml_key: SamlKey,
    /// Measured seconds of the ceiling runs made just before and just after each scenario run;
    /// the run's ratio is to their mean (0: compare every run with the first ceiling run
    /// only). A shared machine's speed drifts; a ceiling that brackets the run drifts with it.
    #[arg(long, default_value_t = 4.0)]
    adjacent_ceiling: f64,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SamlKey {
    Rsa,
    Ecdsa,
}

/// Default of `--saml-presigned`: this many per second of warm-up and measurement (about
/// 3.6 KiB each in the load generator's memory).
const SAML_PRESIGNED_PER_SEC: f64 = 24_000.0;

/// Long run: how many windows at each end are averaged to judge flatness.
const LONG_RUN_EDGE: usize = 3;

fn addr_of(url: &str) -> Result<(SocketAddr, String), BoxError> {
    let host = url
        .strip_prefix("http://")
        .ok_or("only http:// endpoints are supported")?
        .trim_end_matches('/');
    Ok((host.parse()?, host.to_string()))
}

fn proc_status(pid: u32) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v * 1024)
    };
    json!({"vm_rss_bytes": kb("VmRSS:"), "vm_hwm_bytes": kb("VmHWM:")})
}

fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string());
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "loadavg_at_start": loadavg.trim(),
        "unix_time": unix_now(),
    })
}

struct Ctx {
    host: String,
    fixture: setup::Fixture,
    idp: Option<IdpFixtures>,
    saml_presigned: usize,
    saml_key: SamlKey,
}

fn scenario(name: Name, ctx: &Ctx) -> Result<Scenario, BoxError> {
    let host = ctx.host.clone();
    let f = &ctx.fixture;
    let sts = |params: Vec<(&'static str, String)>, creds: Option<Creds>, expect: &'static str| {
        let host = host.clone();
        let maker: opensts_bench::run::Maker = Arc::new(move |now| {
            let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Prepared::query(&host, &p, creds.as_ref(), "sts", now)
        });
        (maker, expect)
    };
    let gci = vec![
        ("Action", "GetCallerIdentity".to_string()),
        ("Version", STS_VERSION.to_string()),
    ];
    let (maker, expect, replayable) = match name {
        Name::Ceiling | Name::GciUser => {
            let (m, e) = sts(gci, Some(f.user.clone()), "<GetCallerIdentityResult>");
            (m, e, true)
        }
        Name::GciSession => {
            let (m, e) = sts(gci, Some(f.session.clone()), "<GetCallerIdentityResult>");
            (m, e, true)
        }
        Name::AssumeRole => {
            let (m, e) = sts(
                vec![
                    ("Action", "AssumeRole".into()),
                    ("Version", STS_VERSION.into()),
                    ("RoleArn", f.role_arn.clone()),
                    ("RoleSessionName", "bench".into()),
                    ("Policy", SESSION_POLICY.into()),
                ],
                Some(f.user.clone()),
                "<AssumeRoleResult>",
            );
            (m, e, true)
        }
        Name::WebIdentity => {
            let idp = ctx
                .idp
                .as_ref()
                .ok_or("web-identity needs --idp-fixtures")?;
            let (m, e) = sts(
                vec![
                    ("Action", "AssumeRoleWithWebIdentity".into()),
                    ("Version", STS_VERSION.into()),
                    ("RoleArn", f.webid_role_arn.clone()),
                    ("RoleSessionName", "bench".into()),
                    ("WebIdentityToken", idp.web_identity_token.clone()),
                ],
                None,
                "<AssumeRoleWithWebIdentityResult>",
            );
            (m, e, true)
        }
        Name::Saml => {
            let idp = ctx.idp.as_ref().ok_or("saml needs --idp-fixtures")?;
            let b64 = base64::engine::general_purpose::STANDARD;
            let key = match ctx.saml_key {
                SamlKey::Ecdsa => SigningKey::ecdsa(&b64.decode(&idp.saml_key_pkcs8_b64)?)?,
                SamlKey::Rsa => SigningKey::rsa(
                    &b64.decode(
                        idp.saml_rsa_key_pkcs8_b64
                            .as_deref()
                            .ok_or("the IdP fixtures have no RSA key (saml_rsa_key_pkcs8_b64)")?,
                    )?,
                )?,
            };
            let signer = Arc::new(SamlIdp::new(
                key,
                &idp.saml_entity_id,
                &f.saml_role_arn,
                &f.saml_provider_arn,
            )?);
            let (role, provider) = (f.saml_role_arn.clone(), f.saml_provider_arn.clone());
            let host = host.clone();
            let sign = move |now: i64| -> Result<Prepared, BoxError> {
                let assertion = signer.response_b64(now)?;
                let p = [
                    ("Action", "AssumeRoleWithSAML"),
                    ("Version", STS_VERSION),
                    ("RoleArn", role.as_str()),
                    ("PrincipalArn", provider.as_str()),
                    ("SAMLAssertion", assertion.as_str()),
                ];
                Prepared::query(&host, &p, None, "sts", now)
            };
            // Pre-signed responses (valid for ASSERTION_LIFETIME_SECS, far longer than a run),
            // used last-signed first; then signed per request.
            // Signed on every core (an RSA signature takes about 0.2 ms), before the run.
            let started = std::time::Instant::now();
            let now = unix_now();
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let share = ctx.saml_presigned.div_ceil(threads);
            let mut pool = Vec::with_capacity(ctx.saml_presigned);
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads)
                    .map(|t| {
                        let n = share.min(ctx.saml_presigned.saturating_sub(t * share));
                        let sign = &sign;
                        scope.spawn(move || {
                            (0..n)
                                .map(|_| sign(now).map_err(|e| e.to_string()))
                                .collect::<Result<Vec<_>, String>>()
                        })
                    })
                    .collect();
                for w in workers {
                    let part = w.join().map_err(|_| "SAML pre-signing thread panicked")??;
                    pool.extend(part);
                }
                Ok::<(), BoxError>(())
            })?;
            if !pool.is_empty() {
                eprintln!(
                    "saml: {} responses pre-signed ({:?} key) in {:.1} s",
                    pool.len(),
                    ctx.saml_key,
                    started.elapsed().as_secs_f64()
                );
            }
            let presigned = pool.len();
            let pool = std::sync::Mutex::new(pool);
            let exhausted = std::sync::atomic::AtomicBool::new(false);
            let maker: opensts_bench::run::Maker = Arc::new(move |now| {
                let next = pool.lock().map_err(|_| "SAML pool poisoned")?.pop();
                match next {
                    Some(prepared) => Ok(prepared),
                    None => {
                        if presigned > 0
                            && !exhausted.swap(true, std::sync::atomic::Ordering::Relaxed)
                        {
                            eprintln!(
                                "saml: the {presigned} pre-signed responses are used up; signing per request from here (raise --saml-presigned)"
                            );
                        }
                        sign(now)
                    }
                }
            });
            (maker, "<AssumeRoleWithSAMLResult>", false)
        }
        Name::GetRole => {
            let user = f.user.clone();
            let host = host.clone();
            let maker: opensts_bench::run::Maker = Arc::new(move |now| {
                let p = [
                    ("Action", "GetRole"),
                    ("Version", IAM_VERSION),
                    ("RoleName", ROLE_NAME),
                ];
                Prepared::query(&host, &p, Some(&user), "iam", now)
            });
            (maker, "<GetRoleResult>", true)
        }
    };
    let label = format!("{name:?}");
    Ok(Scenario {
        name: kebab(&label),
        maker,
        expect,
        replayable,
    })
}

fn kebab(camel: &str) -> String {
    let mut out = String::new();
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

async fn main_async(args: Args) -> Result<bool, BoxError> {
    let (addr, host) = addr_of(&args.endpoint)?;
    let root = Creds {
        access_key_id: args.root_access_key_id.clone(),
        secret: args.root_secret_access_key.clone(),
        session_token: None,
    };
    let idp: Option<IdpFixtures> = match &args.idp_fixtures {
        Some(p) => Some(serde_json::from_str(&std::fs::read_to_string(p)?)?),
        None => None,
    };
    let fixture = setup::prepare(addr, &host, &root, idp.as_ref()).await?;
    let mut summary = json!({"machine": machine(), "endpoint": args.endpoint,
        "connections": args.connections, "duration_s": args.duration, "warmup_s": args.warmup,
        "client_threads": args.threads, "saml_key": format!("{:?}", args.saml_key).to_lowercase()});
    let mut ok = true;
    if args.load_roles + args.load_users > 0 {
        let secs = setup::bulk_load(
            addr,
            &host,
            &root,
            &fixture.user,
            &fixture.account,
            args.load_roles,
            args.load_users,
        )
        .await?;
        eprintln!(
            "loaded {} roles and {} users in {secs:.1} s",
            args.load_roles, args.load_users
        );
        summary["bulk_load"] =
            json!({"roles": args.load_roles, "users": args.load_users, "seconds": secs});
        if let Some(pid) = args.server_pid {
            summary["memory_after_load"] = proc_status(pid);
        }
    }
    let ctx = Ctx {
        host: host.clone(),
        fixture,
        idp,
        saml_presigned: args.saml_presigned.unwrap_or_else(|| {
            ((args.warmup + args.duration).max(0.0) * SAML_PRESIGNED_PER_SEC).ceil() as usize
        }),
        saml_key: args.saml_key,
    };
    let load = |replay: bool| Load {
        connections: args.connections,
        duration: Duration::from_secs_f64(args.duration),
        warmup: Duration::from_secs_f64(args.warmup),
        replay,
        total: None,
        windows: args.windows,
    };
    let names: Vec<Name> = if !args.scenarios.is_empty() {
        args.scenarios.clone()
    } else if args.sessions.is_some() {
        vec![]
    } else {
        let mut v = vec![];
        if args.ceiling.is_some() {
            v.push(Name::Ceiling);
        }
        v.extend([Name::GciUser, Name::GciSession, Name::AssumeRole]);
        if ctx.idp.is_some() {
            v.extend([Name::WebIdentity, Name::Saml]);
        }
        v.push(Name::GetRole);
        v
    };
    let modes: &[bool] = match args.signature {
        SignatureMode::Fresh => &[false],
        SignatureMode::Replay => &[true],
        SignatureMode::Both => &[false, true],
    };
    let mut results: Vec<ScenarioResult> = Vec::new();
    // Index in `results` -> the adjacent ceiling run's req/s.
    let mut adjacent: std::collections::HashMap<usize, f64> = std::collections::HashMap::new();
    let ceiling_sc = match &args.ceiling {
        Some(_) if args.adjacent_ceiling > 0.0 => Some(scenario(Name::Ceiling, &ctx)?),
        _ => None,
    };
    for &name in &names {
        let sc = scenario(name, &ctx)?;
        let target = if name == Name::Ceiling {
            addr_of(args.ceiling.as_deref().ok_or("ceiling needs --ceiling")?)?.0
        } else {
            addr
        };
        for &replay in modes {
            if replay && !sc.replayable {
                continue;
            }
            // The ceiling just before and just after this run (their mean brackets it).
            let bracket = match (name, &ceiling_sc, &args.ceiling) {
                (n, Some(csc), Some(url)) if n != Name::Ceiling => {
                    let mut l = load(replay);
                    l.duration = Duration::from_secs_f64(args.adjacent_ceiling);
                    l.warmup = Duration::from_secs_f64(args.warmup.min(1.0));
                    Some((csc, addr_of(url)?.0, l))
                }
                _ => None,
            };
            let before = match &bracket {
                Some((csc, at, l)) => Some(run(*at, csc, l).await?.rps),
                None => None,
            };
            let r = run(target, &sc, &load(replay)).await?;
            if let (Some((csc, at, l)), Some(b)) = (&bracket, before) {
                let after = run(*at, csc, l).await?.rps;
                adjacent.insert(results.len(), (b + after) / 2.0);
            }
            eprintln!(
                "{:<14} {:<8} {:>9.0} req/s  p50 {:>6} us  p99 {:>6} us  errors {}",
                r.scenario, r.signature, r.rps, r.latency.p50_us, r.latency.p99_us, r.errors
            );
            if let Some(e) = &r.first_error {
                eprintln!("  first error: {e}");
            }
            results.push(r);
        }
    }
    if let Some(n) = args.sessions {
        let sc = scenario(Name::AssumeRole, &ctx)?;
        let mut l = load(false);
        l.total = Some(n);
        eprintln!(
            "long run: {n} AssumeRole sessions in {} windows",
            args.windows
        );
        let r = run(addr, &sc, &l).await?;
        // Flatness: the mean of the first LONG_RUN_EDGE windows against the mean of the last
        // LONG_RUN_EDGE (one window of a few seconds swings by several percent on a shared
        // machine; the first also holds the connection ramp-up).
        let edge = LONG_RUN_EDGE.min(r.window_rps.len() / 2).max(1);
        let mean = |w: &[f64]| {
            if w.is_empty() {
                0.0
            } else {
                w.iter().sum::<f64>() / w.len() as f64
            }
        };
        let first = mean(&r.window_rps[..edge.min(r.window_rps.len())]);
        let last = mean(&r.window_rps[r.window_rps.len().saturating_sub(edge)..]);
        let change = if first > 0.0 { last / first - 1.0 } else { 0.0 };
        eprintln!(
            "long run: {} sessions in {:.1} s, first {edge} windows {first:.0} req/s, last {edge} {last:.0} req/s ({:+.1}%), errors {}",
            r.requests,
            r.duration_s,
            change * 100.0,
            r.errors
        );
        summary["long_run"] = json!({"sessions": n, "edge_windows": edge, "first_windows_rps": first, "last_windows_rps": last,
            "change": change, "flat_within_10_percent": change.abs() <= 0.10, "result": r});
        ok &= r.errors == 0;
    }
    // Ratios and targets.
    // Each run is compared with the ceiling run of the same signature mode (same client work).
    let ceiling = |sig: &str| {
        results
            .iter()
            .find(|r| r.scenario == "ceiling" && r.signature == sig)
            .map(|r| r.rps)
    };
    let mut table = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let reference = adjacent.get(&i).copied().or_else(|| ceiling(r.signature));
        let ratio = reference.filter(|c| *c > 0.0).map(|c| r.rps / c);
        let target = TARGETS
            .iter()
            .find(|(n, _)| *n == r.scenario)
            .map(|(_, t)| *t);
        let p99_ok = r.scenario == "ceiling" || r.latency.p99_us < TARGET_P99_US;
        let met = match (ratio, target) {
            (Some(x), Some(t)) => Some(x >= t && p99_ok),
            _ => None,
        };
        table.push(json!({"scenario": r.scenario, "signature": r.signature, "rps": r.rps,
            "ceiling_rps": reference, "ratio_to_ceiling": ratio, "target_ratio": target, "p99_under_5ms": p99_ok, "target_met": met}));
        ok &= r.errors == 0 && r.requests > 0;
    }
    if let Some(pid) = args.server_pid {
        let mem = proc_status(pid);
        let rss_ok = mem["vm_rss_bytes"].as_u64().map(|b| b < TARGET_RSS_BYTES);
        summary["memory_after_run"] = mem;
        summary["rss_under_64mib"] = json!(rss_ok);
    }
    summary["results"] = serde_json::to_value(&results)?;
    summary["table"] = json!(table);
    eprintln!(
        "\n{:<14} {:<8} {:>10} {:>9} {:>7} {:>7} {:>8} {:>8} {:>6}",
        "scenario", "sig", "req/s", "ceiling", "ratio", "target", "p50 us", "p99 us", "errors"
    );
    for (r, t) in results.iter().zip(&table) {
        let f = |v: &serde_json::Value| {
            v.as_f64()
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "-".into())
        };
        eprintln!(
            "{:<14} {:<8} {:>10.0} {:>9} {:>7} {:>7} {:>8} {:>8} {:>6}",
            r.scenario,
            r.signature,
            r.rps,
            t["ceiling_rps"]
                .as_f64()
                .map(|c| format!("{c:.0}"))
                .unwrap_or_else(|| "-".into()),
            f(&t["ratio_to_ceiling"]),
            f(&t["target_ratio"]),
            r.latency.p50_us,
            r.latency.p99_us,
            r.errors
        );
    }
    let text = serde_json::to_string_pretty(&summary)?;
    match &args.output {
        Some(p) => std::fs::write(p, &text)?,
        None => println!("{text}"),
    }
    Ok(ok || !args.strict)
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let fine = rt.block_on(main_async(args))?;
    if !fine {
        eprintln!("opensts-bench: errors or no successful request (--strict)");
        std::process::exit(1);
    }
    Ok(())
}
