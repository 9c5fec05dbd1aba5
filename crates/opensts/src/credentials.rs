//! `opensts credentials`: get temporary credentials from an STS endpoint (OpenSTS or AWS) and
//! print them for a shell (`--format env`), as the STS `Credentials` JSON (`--format json`) or
//! in the SDKs' `credential_process` format (`--format process`).
//!
//! With `--role-arn` it calls `AssumeRole` (optionally with `--external-id`,
//! `--duration-seconds`, `--serial-number` + `--token-code`); without it, `GetSessionToken`
//! (optionally with MFA). The calling credentials are the `--profile` section of the shared
//! credentials file (`$AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`) or, without
//! `--profile`, `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`. The endpoint
//! is `--endpoint-url`, else `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`. Requests are
//! SigV4-signed POSTs of the awsQuery protocol. An STS error exits non-zero with the AWS error
//! code and message on stderr; nothing is printed on stdout then.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue};
use opensts_sigv4::{SigningParams, sign_request};
use quick_xml::Reader;
use quick_xml::events::Event;

/// The STS API version sent with every request.
const STS_API_VERSION: &str = "2011-06-15";
/// Region used for signing when neither `--region`, `AWS_REGION` nor `AWS_DEFAULT_REGION` is set.
const DEFAULT_SIGNING_REGION: &str = "us-east-1";
/// Seconds allowed for the whole STS request (connect, send, answer).
const REQUEST_TIMEOUT_SECS: u64 = 30;
/// Largest STS answer read (bytes); a credentials answer is a few kilobytes.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// The `Version` of the `credential_process` JSON format.
const PROCESS_FORMAT_VERSION: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `export AWS_ACCESS_KEY_ID=…` lines for `eval "$(opensts credentials …)"`.
    Env,
    /// The STS `Credentials` structure plus the caller ARN, as JSON.
    Json,
    /// The `credential_process` format: {"Version":1,"AccessKeyId",…,"Expiration"}.
    Process,
}

#[derive(Args)]
pub struct CredentialsArgs {
    /// STS endpoint, e.g. http://127.0.0.1:8080 (else AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Signing region (else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// Use the long-term keys of this section of the shared credentials file instead of the
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN environment variables.
    #[arg(long)]
    profile: Option<String>,
    /// Assume this role (AssumeRole); without it, GetSessionToken.
    #[arg(long)]
    role_arn: Option<String>,
    /// RoleSessionName of AssumeRole (default: opensts-<unix time>).
    #[arg(long, requires = "role_arn")]
    role_session_name: Option<String>,
    /// ExternalId of AssumeRole.
    #[arg(long, requires = "role_arn")]
    external_id: Option<String>,
    /// DurationSeconds of the session (the server's default when unset).
    #[arg(long)]
    duration_seconds: Option<u32>,
    /// Serial number (ARN) of the caller's MFA device.
    #[arg(long, requires = "token_code")]
    serial_number: Option<String>,
    /// The current code of that MFA device.
    #[arg(long, requires = "serial_number")]
    token_code: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Env)]
    format: Format,
}

struct LongTerm {
    access_key_id: String,
    secret: String,
    session_token: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
struct Issued {
    access_key_id: String,
    secret: String,
    session_token: String,
    expiration: String,
    arn: Option<String>,
}

pub async fn run(args: CredentialsArgs) -> Result<(), String> {
    let endpoint = args
        .endpoint_url
        .clone()
        .or_else(|| non_empty_env("AWS_ENDPOINT_URL_STS"))
        .or_else(|| non_empty_env("AWS_ENDPOINT_URL"))
        .ok_or("no endpoint: pass --endpoint-url or set AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL")?;
    let region = args
        .region
        .clone()
        .or_else(|| non_empty_env("AWS_REGION"))
        .or_else(|| non_empty_env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| DEFAULT_SIGNING_REGION.to_string());
    let caller = match &args.profile {
        Some(p) => profile_credentials(p)?,
        None => env_credentials()?,
    };
    let body = request_body(&args);
    let answer = post(&endpoint, &region, &caller, &body).await?;
    let issued = parse_credentials(&answer)?;
    println!("{}", render(&issued, args.format));
    Ok(())
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_credentials() -> Result<LongTerm, String> {
    match (
        non_empty_env("AWS_ACCESS_KEY_ID"),
        non_empty_env("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(access_key_id), Some(secret)) => Ok(LongTerm {
            access_key_id,
            secret,
            session_token: non_empty_env("AWS_SESSION_TOKEN"),
        }),
        _ => Err(
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or pass --profile"
                .into(),
        ),
    }
}

fn credentials_file() -> Result<PathBuf, String> {
    if let Some(p) = non_empty_env("AWS_SHARED_CREDENTIALS_FILE") {
        return Ok(PathBuf::from(p));
    }
    non_empty_env("HOME")
        .map(|h| PathBuf::from(h).join(".aws").join("credentials"))
        .ok_or_else(|| "HOME is not set and AWS_SHARED_CREDENTIALS_FILE is not set".into())
}

fn profile_credentials(profile: &str) -> Result<LongTerm, String> {
    let path = credentials_file()?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let keys = ini_section(&text, profile)
        .ok_or_else(|| format!("profile {profile} not found in {}", path.display()))?;
    let get = |k: &str| {
        keys.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    };
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(access_key_id), Some(secret)) => Ok(LongTerm {
            access_key_id,
            secret,
            session_token: get("aws_session_token"),
        }),
        _ => Err(format!(
            "profile {profile} in {} has no aws_access_key_id / aws_secret_access_key",
            path.display()
        )),
    }
}

/// The `key = value` pairs of `[section]` of an INI file (`#`/`;` comments, blank lines skipped).
fn ini_section(text: &str, section: &str) -> Option<Vec<(String, String)>> {
    let mut found = None;
    let mut current: Option<&str> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim());
            if current == Some(section) && found.is_none() {
                found = Some(Vec::new());
            }
            continue;
        }
        if current == Some(section)
            && let (Some(pairs), Some((k, v))) = (found.as_mut(), line.split_once('='))
        {
            let pairs: &mut Vec<(String, String)> = pairs;
            pairs.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    found
}

fn request_body(args: &CredentialsArgs) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    match &args.role_arn {
        Some(role) => {
            let session = args
                .role_session_name
                .clone()
                .unwrap_or_else(|| format!("opensts-{}", crate::unix_now()));
            form.append_pair("Action", "AssumeRole")
                .append_pair("RoleArn", role)
                .append_pair("RoleSessionName", &session);
            if let Some(x) = &args.external_id {
                form.append_pair("ExternalId", x);
            }
        }
        None => {
            form.append_pair("Action", "GetSessionToken");
        }
    }
    form.append_pair("Version", STS_API_VERSION);
    if let Some(d) = args.duration_seconds {
        form.append_pair("DurationSeconds", &d.to_string());
    }
    if let (Some(serial), Some(code)) = (&args.serial_number, &args.token_code) {
        form.append_pair("SerialNumber", serial)
            .append_pair("TokenCode", code);
    }
    form.finish()
}

async fn post(
    endpoint: &str,
    region: &str,
    caller: &LongTerm,
    body: &str,
) -> Result<String, String> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| format!("bad endpoint {endpoint}: {e}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("endpoint {endpoint} has no host"))?;
    let host = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        HOST,
        HeaderValue::from_str(&host).map_err(|e| format!("bad host {host}: {e}"))?,
    );
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    let params = SigningParams {
        access_key_id: &caller.access_key_id,
        secret: &caller.secret,
        session_token: caller.session_token.as_deref(),
        region,
        service: "sts",
        time: crate::unix_now(),
    };
    sign_request(
        "POST",
        url.path(),
        "",
        &mut headers,
        body.as_bytes(),
        &params,
    )
    .map_err(|e| format!("cannot sign the request: {e}"))?;
    headers.remove(HOST);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(REQUEST_TIMEOUT_SECS))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let resp = client
        .post(url)
        .headers(headers)
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("request to {endpoint} failed: {e}"))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("reading the answer of {endpoint} failed: {e}"))?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(format!(
            "answer of {endpoint} is larger than {MAX_RESPONSE_BYTES} bytes"
        ));
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if !status.is_success() {
        let code = xml_text(&text, "Code");
        let message = xml_text(&text, "Message").unwrap_or_default();
        return Err(match code {
            Some(code) => format!("An error occurred ({code}): {message}"),
            None => format!("HTTP {status} from {endpoint}"),
        });
    }
    Ok(text)
}

/// The text of the first element named `name` (namespaces ignored; character and predefined
/// entity references resolved).
fn xml_text(xml: &str, name: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    let mut text: Option<String> = None;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if text.is_none() && e.local_name().as_ref() == name => {
                text = Some(String::new());
            }
            Event::Text(t) => {
                if let Some(s) = text.as_mut() {
                    s.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(s) = text.as_mut() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => s.push(c),
                        _ => s.push_str(match r.as_ref() {
                            "amp" => "&",
                            "lt" => "<",
                            "gt" => ">",
                            "quot" => "\"",
                            "apos" => "'",
                            _ => "",
                        }),
                    }
                }
            }
            Event::Start(_) | Event::End(_) if text.is_some() => {
                return text.map(|s| s.trim().to_string());
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

fn parse_credentials(xml: &str) -> Result<Issued, String> {
    let need = |name: &str| {
        xml_text(xml, name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("the STS answer has no {name}"))
    };
    Ok(Issued {
        access_key_id: need("AccessKeyId")?,
        secret: need("SecretAccessKey")?,
        session_token: need("SessionToken")?,
        expiration: need("Expiration")?,
        arn: xml_text(xml, "Arn").filter(|v| !v.is_empty()),
    })
}

fn render(c: &Issued, format: Format) -> String {
    match format {
        Format::Env => format!(
            "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_SESSION_TOKEN={}\nexport AWS_CREDENTIAL_EXPIRATION={}",
            c.access_key_id, c.secret, c.session_token, c.expiration
        ),
        Format::Json => serde_json::json!({
            "Credentials": {
                "AccessKeyId": c.access_key_id,
                "SecretAccessKey": c.secret,
                "SessionToken": c.session_token,
                "Expiration": c.expiration,
            },
            "Arn": c.arn,
        })
        .to_string(),
        Format::Process => serde_json::json!({
            "Version": PROCESS_FORMAT_VERSION,
            "AccessKeyId": c.access_key_id,
            "SecretAccessKey": c.secret,
            "SessionToken": c.session_token,
            "Expiration": c.expiration,
        })
        .to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><AssumedRoleId>AROA:s</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/R/s</Arn></AssumedRoleUser>
    <Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>sec/ret+</SecretAccessKey>
      <SessionToken>tok</SessionToken><Expiration>2026-01-01T00:00:00Z</Expiration></Credentials>
  </AssumeRoleResult></AssumeRoleResponse>"#;

    #[test]
    fn parses_an_assume_role_answer_and_renders_process_json() {
        let c = parse_credentials(ANSWER).unwrap();
        assert_eq!(
            c.arn.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/R/s")
        );
        let v: serde_json::Value = serde_json::from_str(&render(&c, Format::Process)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Version": 1, "AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "sec/ret+",
                "SessionToken": "tok", "Expiration": "2026-01-01T00:00:00Z"})
        );
        assert!(render(&c, Format::Env).contains("export AWS_SESSION_TOKEN=tok\n"));
    }

    #[test]
    fn missing_fields_and_error_answers() {
        assert!(parse_credentials("<x/>").is_err());
        let err = r#"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>"#;
        assert_eq!(xml_text(err, "Code").as_deref(), Some("AccessDenied"));
        let quoted = "<E><Message>a &quot;b&quot; &amp; &#65;</Message></E>";
        assert_eq!(xml_text(quoted, "Message").as_deref(), Some("a \"b\" & A"));
    }

    #[test]
    fn ini_sections() {
        let text = "[default]\naws_access_key_id = A\n# c\n[base]\naws_access_key_id=B\naws_secret_access_key = S\n";
        let base = ini_section(text, "base").unwrap();
        assert_eq!(
            base,
            vec![
                ("aws_access_key_id".to_string(), "B".to_string()),
                ("aws_secret_access_key".to_string(), "S".to_string())
            ]
        );
        assert!(ini_section(text, "nope").is_none());
    }
}
