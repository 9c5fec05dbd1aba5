//! The audit trail: one JSON event per API call, in CloudTrail's record shape, written as one
//! line to a (size-rotated) file or to standard output.
//!
//! Redaction is by allow-list: `requestParameters` only carries parameters whose (top-level)
//! name is listed for the action ([`allowed_parameter`]); everything else — secret access keys,
//! session tokens, SAML assertions, web identity tokens, MFA codes, passwords, private keys,
//! and any parameter nobody thought about — is left out. `responseElements` is only recorded for
//! calls that change something or issue credentials (CloudTrail records none for read-only
//! calls) and never carries the fields in [`SECRET_RESPONSE_FIELDS`]. As a last line of defence
//! every withheld value is also masked wherever it might have been echoed (error messages,
//! other parameters).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use opensts_core::principal::Principal;
use opensts_core::token::SessionKind;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::config::AuditTarget;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::protocol::query::lower_camel;
use crate::protocol::xml::timestamp;
use crate::protocol::{Api, Params};
use crate::tls::TlsInfo;

/// CloudTrail record format version written in `eventVersion`.
pub const EVENT_VERSION: &str = "1.08";
/// Longest `userAgent` recorded (characters).
pub const MAX_USER_AGENT_CHARS: usize = 1024;
/// Withheld values shorter than this are not masked elsewhere in the event (masking `1` or
/// `true` everywhere would destroy the record; MFA codes are 6 digits).
pub const MIN_MASKED_LEN: usize = 6;
/// What a masked value is replaced with.
pub const MASK: &str = "***";
/// Deepest XML nesting converted into `responseElements`.
const MAX_XML_DEPTH: usize = 32;

/// Parameters recorded for each STS action (top-level awsQuery names).
const STS_ALLOWED: &[(&str, &[&str])] = &[
    ("GetCallerIdentity", &[]),
    ("GetAccessKeyInfo", &["AccessKeyId"]),
    ("GetSessionToken", &["DurationSeconds", "SerialNumber"]),
    (
        "AssumeRole",
        &[
            "RoleArn",
            "RoleSessionName",
            "DurationSeconds",
            "ExternalId",
            "Policy",
            "PolicyArns",
            "Tags",
            "TransitiveTagKeys",
            "SerialNumber",
            "SourceIdentity",
        ],
    ),
    (
        "GetFederationToken",
        &["Name", "DurationSeconds", "Policy", "PolicyArns", "Tags"],
    ),
    ("DecodeAuthorizationMessage", &[]),
    (
        "GetScopedCredentials",
        &[
            "Policy",
            "DurationSeconds",
            "MinimumSessionTokenSize",
            "ScopedSessionDescription",
        ],
    ),
    (
        "GetWebIdentityToken",
        &["Audience", "DurationSeconds", "SigningAlgorithm", "Tags"],
    ),
    (
        "AssumeRoleWithSAML",
        &[
            "RoleArn",
            "PrincipalArn",
            "DurationSeconds",
            "Policy",
            "PolicyArns",
        ],
    ),
    (
        "AssumeRoleWithWebIdentity",
        &[
            "RoleArn",
            "RoleSessionName",
            "DurationSeconds",
            "Policy",
            "PolicyArns",
            "ProviderId",
        ],
    ),
];

/// Parameters recorded for IAM actions: names, paths, ARNs, documents, tags, paging — the
/// identifiers an auditor needs. Passwords, MFA codes (`AuthenticationCode1/2`) and private
/// keys (`AddPrivateKey`, `PrivateKey`) are deliberately absent.
const IAM_ALLOWED: &[&str] = &[
    "AccessKeyId",
    "ActionNames",
    "AssertionEncryptionMode",
    "AssignmentStatus",
    "AssumeRolePolicyDocument",
    "AWSServiceName",
    "CallerArn",
    "ClientID",
    "ClientIDList",
    "ContextEntries",
    "CustomSuffix",
    "Description",
    "EntityFilter",
    "Filter",
    "GroupName",
    "InstanceProfileName",
    "Marker",
    "MaxItems",
    "MaxSessionDuration",
    "Name",
    "NewGroupName",
    "NewPath",
    "NewUserName",
    "OnlyAttached",
    "OpenIDConnectProviderArn",
    "Path",
    "PathPrefix",
    "PermissionsBoundary",
    "PermissionsBoundaryPolicyInputList",
    "PolicyArn",
    "PolicyDocument",
    "PolicyInputList",
    "PolicyName",
    "PolicySourceArn",
    "PolicyUsageFilter",
    "RemovePrivateKey",
    "ResourceArns",
    "ResourceHandlingOption",
    "ResourceOwner",
    "ResourcePolicy",
    "RoleName",
    "SAMLMetadataDocument",
    "SAMLProviderArn",
    "Scope",
    "SerialNumber",
    "SetAsDefault",
    "Status",
    "TagKeys",
    "Tags",
    "ThumbprintList",
    "Url",
    "UserName",
    "VersionId",
    "VirtualMFADeviceName",
];

/// Response fields never recorded (and masked if echoed anywhere else).
pub const SECRET_RESPONSE_FIELDS: &[&str] = &[
    "SecretAccessKey",
    "SessionToken",
    "Base32StringSeed",
    "QRCodePNG",
    "ServicePassword",
    "Password",
    "PrivateKey",
    "WebIdentityToken",
    "SAMLAssertion",
    "DecodedMessage",
];

/// Parameters that are secrets whatever an allow-list says (a test checks no allow-list has
/// them).
pub const SECRET_PARAMETERS: &[&str] = &[
    "SecretAccessKey",
    "SessionToken",
    "SAMLAssertion",
    "WebIdentityToken",
    "TokenCode",
    "AuthenticationCode1",
    "AuthenticationCode2",
    "Password",
    "OldPassword",
    "NewPassword",
    "PrivateKey",
    "AddPrivateKey",
    "ProvidedContexts",
];

/// Whether the awsQuery parameter `name` (a top-level name such as `PolicyArns`) is recorded for
/// `action`.
pub fn allowed_parameter(api: Api, action: &str, name: &str) -> bool {
    if SECRET_PARAMETERS.contains(&name) {
        return false;
    }
    match api {
        Api::Sts => STS_ALLOWED
            .iter()
            .find(|(a, _)| *a == action)
            .is_some_and(|(_, names)| names.contains(&name)),
        Api::Iam => IAM_ALLOWED.contains(&name),
    }
}

/// CloudTrail's `readOnly`: calls that only read (no `responseElements` recorded).
pub fn is_read_only(action: &str) -> bool {
    if matches!(
        action,
        "GetSessionToken" | "GetFederationToken" | "GetWebIdentityToken" | "GetScopedCredentials"
    ) {
        return false;
    }
    action.starts_with("Get")
        || action.starts_with("List")
        || action.starts_with("Simulate")
        || action == "DecodeAuthorizationMessage"
}

/// An intermediate tree for awsQuery parameters (`Tags.member.1.Key` → `tags[0].key`).
#[derive(Debug)]
enum Node {
    Leaf(String),
    Obj(BTreeMap<String, Node>),
    List(BTreeMap<usize, Node>),
}

enum Seg {
    Key(String),
    Index(usize),
}

fn insert(node: &mut Node, segs: &[Seg], value: &str) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    let child = match (node, first) {
        (Node::Obj(m), Seg::Key(k)) => m.entry(k.clone()).or_insert_with(|| empty_for(rest)),
        (Node::List(m), Seg::Index(i)) => m.entry(*i).or_insert_with(|| empty_for(rest)),
        _ => return, // shape conflict (`A=1&A.member.1=2`): keep what came first
    };
    if rest.is_empty() {
        if matches!(child, Node::Leaf(_)) {
            *child = Node::Leaf(value.to_string());
        }
        return;
    }
    insert(child, rest, value);
}

fn empty_for(rest: &[Seg]) -> Node {
    match rest.first() {
        None => Node::Leaf(String::new()),
        Some(Seg::Key(_)) => Node::Obj(BTreeMap::new()),
        Some(Seg::Index(_)) => Node::List(BTreeMap::new()),
    }
}

fn node_to_json(key: &str, node: Node) -> Value {
    match node {
        Node::Leaf(s) => typed_leaf(key, s),
        Node::Obj(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = node_to_json(&k, v);
                    (k, v)
                })
                .collect(),
        ),
        Node::List(m) => Value::Array(m.into_values().map(|v| node_to_json(key, v)).collect()),
    }
}

/// Numbers and booleans the way CloudTrail types them.
fn typed_leaf(key: &str, s: String) -> Value {
    match key {
        "durationSeconds" | "maxSessionDuration" | "maxItems" => match s.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(s),
        },
        "setAsDefault" | "onlyAttached" => match s.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(s),
        },
        _ => Value::String(s),
    }
}

/// `requestParameters` for a call, plus every value that was withheld (to be masked elsewhere).
pub fn request_parameters(api: Api, action: &str, params: &Params) -> (Value, Vec<String>) {
    let mut root = Node::Obj(BTreeMap::new());
    let mut withheld = Vec::new();
    let mut any = false;
    for name in params.names() {
        if name == "Action" || name == "Version" {
            continue;
        }
        let value = params.get(name).unwrap_or_default();
        let top = name.split('.').next().unwrap_or_default();
        if !allowed_parameter(api, action, top) {
            withheld.push(value.to_string());
            continue;
        }
        let segs: Vec<Seg> = name
            .split('.')
            .filter(|s| *s != "member" && *s != "entry")
            .map(|s| match s.parse::<usize>() {
                Ok(i) => Seg::Index(i),
                Err(_) => Seg::Key(lower_camel(s)),
            })
            .collect();
        if segs.is_empty() {
            continue;
        }
        any = true;
        insert(&mut root, &segs, value);
    }
    let v = if any {
        node_to_json("", root)
    } else {
        Value::Null
    };
    (v, withheld)
}

/// `responseElements` from the inner XML of `<ActionResult>`: `None` for read-only calls;
/// secret fields dropped (their values returned for masking).
pub fn response_elements(action: &str, result_xml: Option<&str>) -> (Value, Vec<String>) {
    let mut withheld = Vec::new();
    if is_read_only(action) {
        // Still collect secrets, so an echo elsewhere would be masked.
        if let Some(xml) = result_xml {
            let _ = xml_to_json(xml, &mut withheld);
        }
        return (Value::Null, withheld);
    }
    let v = match result_xml {
        None => Value::Null,
        Some(xml) => xml_to_json(xml, &mut withheld).unwrap_or(Value::Null),
    };
    (v, withheld)
}

struct Frame {
    name: String,
    children: Vec<(String, Value)>,
    text: String,
    secret: bool,
}

/// Convert an awsQuery result fragment to JSON: elements with only `member` children become
/// arrays, other elements with children objects, leaves strings; names in lower camel case.
fn xml_to_json(xml: &str, withheld: &mut Vec<String>) -> Option<Value> {
    use quick_xml::events::Event;
    let wrapped = format!("<r>{xml}</r>");
    let mut reader = quick_xml::Reader::from_str(&wrapped);
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                if stack.len() > MAX_XML_DEPTH {
                    return None;
                }
                let name = e.local_name().as_ref().to_string();
                let secret = SECRET_RESPONSE_FIELDS.contains(&name.as_str())
                    || stack.last().is_some_and(|f| f.secret);
                stack.push(Frame {
                    name,
                    children: Vec::new(),
                    text: String::new(),
                    secret,
                });
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_string();
                if let Some(parent) = stack.last_mut()
                    && !SECRET_RESPONSE_FIELDS.contains(&name.as_str())
                {
                    parent.children.push((name, Value::String(String::new())));
                }
            }
            Event::Text(t) => {
                if let Some(f) = stack.last_mut() {
                    f.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(f) = stack.last_mut() {
                    f.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(f) = stack.last_mut() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        f.text.push(c);
                    } else if let Some(s) =
                        quick_xml::escape::resolve_predefined_entity(&r.xml10_content())
                    {
                        f.text.push_str(s);
                    }
                }
            }
            Event::End(_) => {
                let frame = stack.pop()?;
                if frame.secret {
                    // Dropped; nested secret leaves are collected by their own frames.
                    if frame.children.is_empty() {
                        withheld.push(frame.text.trim().to_string());
                    }
                    continue;
                }
                let value = frame_value(&frame.children, frame.text);
                match stack.last_mut() {
                    Some(parent) => parent.children.push((frame.name, value)),
                    None => return Some(value),
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

fn frame_value(children: &[(String, Value)], text: String) -> Value {
    if children.is_empty() {
        return Value::String(text.trim().to_string());
    }
    if children.iter().all(|(n, _)| n == "member") {
        return Value::Array(children.iter().map(|(_, v)| v.clone()).collect());
    }
    let mut m = Map::new();
    for (n, v) in children {
        m.insert(lower_camel(n), v.clone());
    }
    Value::Object(m)
}

/// Replace every occurrence of a withheld value in the string leaves of `v`.
fn mask(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => {
            for secret in secrets {
                if s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), MASK);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| mask(x, secrets)),
        Value::Object(m) => m.values_mut().for_each(|x| mask(x, secrets)),
        _ => {}
    }
}

/// The values to mask: each withheld value, and the long `.`-separated parts of it (a JWT's
/// header, payload and signature could be echoed separately).
fn masking_set(withheld: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in withheld {
        if w.contains('.') {
            for part in w.split('.') {
                if part.len() >= 16 {
                    out.push(part.to_string());
                }
            }
        }
        if w.len() >= MIN_MASKED_LEN {
            out.push(w);
        }
    }
    // Longest first, so a value containing another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// Everything an audit event is made from.
pub struct CallRecord<'a> {
    pub api: Api,
    /// The action as resolved from the action table (`None` when the request named none or an
    /// unknown one).
    pub action: Option<&'a str>,
    pub region: &'a str,
    pub now: i64,
    pub source_ip: IpAddr,
    pub user_agent: &'a str,
    pub caller: Option<&'a Caller>,
    /// The access key id the request claimed when it did not authenticate.
    pub claimed_access_key_id: Option<&'a str>,
    pub params: Option<&'a Params>,
    pub result: &'a Result<Option<String>, ApiError>,
    pub request_id: &'a str,
    pub event_id: &'a str,
    pub tls: Option<&'a TlsInfo>,
    pub host: Option<&'a str>,
}

fn principal_type(p: &Principal) -> &'static str {
    match p {
        Principal::Root { .. } => "Root",
        Principal::User { .. } => "IAMUser",
        Principal::AssumedRole { .. } => "AssumedRole",
        Principal::FederatedUser { .. } => "FederatedUser",
    }
}

/// `sessionIssuer` for a principal that issued a session (a role, or a user/root for
/// federated users).
fn issuer_of(p: &Principal) -> Value {
    match p {
        Principal::AssumedRole {
            account_id,
            role_name,
            role_id,
            ..
        } => json!({
            "type": "Role",
            "principalId": role_id,
            "arn": p.role_arn(),
            "accountId": account_id,
            "userName": role_name,
        }),
        Principal::User {
            account_id,
            name,
            user_id,
            ..
        } => json!({
            "type": "IAMUser",
            "principalId": user_id,
            "arn": p.arn(),
            "accountId": account_id,
            "userName": name,
        }),
        Principal::Root { account_id } => json!({
            "type": "Root",
            "principalId": account_id,
            "arn": p.arn(),
            "accountId": account_id,
        }),
        Principal::FederatedUser { account_id, .. } => json!({
            "type": "FederatedUser",
            "principalId": p.user_id(),
            "arn": p.arn(),
            "accountId": account_id,
        }),
    }
}

fn caller_identity(caller: &Caller) -> Value {
    let p = caller.principal();
    let mut ui = Map::new();
    ui.insert("type".into(), json!(principal_type(p)));
    ui.insert("principalId".into(), json!(p.user_id()));
    ui.insert("arn".into(), json!(p.arn()));
    ui.insert("accountId".into(), json!(p.account_id()));
    ui.insert("accessKeyId".into(), json!(caller.access_key_id()));
    if let Principal::User { name, .. } = p {
        ui.insert("userName".into(), json!(name));
    }
    if let Some(claims) = caller.session() {
        let mut sc = Map::new();
        match p {
            Principal::AssumedRole { .. } => {
                sc.insert("sessionIssuer".into(), issuer_of(p));
            }
            Principal::FederatedUser { .. } => {
                if let Some(parent) = &claims.parent {
                    sc.insert("sessionIssuer".into(), issuer_of(parent));
                }
            }
            _ => {}
        }
        if matches!(claims.kind, SessionKind::WebIdentity | SessionKind::Saml) {
            sc.insert(
                "webIdFederationData".into(),
                json!({
                    "federatedProvider": claims.federated_provider,
                    "attributes": {},
                }),
            );
        }
        sc.insert(
            "attributes".into(),
            json!({
                "creationDate": timestamp(claims.iat),
                "mfaAuthenticated": if claims.mfa_auth_time.is_some() { "true" } else { "false" },
            }),
        );
        if let Some(si) = &claims.source_identity {
            sc.insert("sourceIdentity".into(), json!(si));
        }
        ui.insert("sessionContext".into(), Value::Object(sc));
    }
    Value::Object(ui)
}

/// The identity of an unsigned federation call, from its answer (CloudTrail's `SAMLUser` /
/// `WebIdentityUser`).
fn federated_identity(action: &str, response: &Value) -> Value {
    let field = |name: &str| {
        response
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match action {
        "AssumeRoleWithSAML" => {
            let mut ui = Map::new();
            ui.insert("type".into(), json!("SAMLUser"));
            if let (Some(q), Some(s)) = (field("nameQualifier"), field("subject")) {
                ui.insert("principalId".into(), json!(format!("{q}:{s}")));
                ui.insert("userName".into(), json!(s));
            }
            if let Some(i) = field("issuer") {
                ui.insert("identityProvider".into(), json!(i));
            }
            Value::Object(ui)
        }
        "AssumeRoleWithWebIdentity" => {
            let mut ui = Map::new();
            ui.insert("type".into(), json!("WebIdentityUser"));
            if let (Some(p), Some(a), Some(s)) = (
                field("provider"),
                field("audience"),
                field("subjectFromWebIdentityToken"),
            ) {
                ui.insert("principalId".into(), json!(format!("{p}:{a}:{s}")));
                ui.insert("userName".into(), json!(s));
                ui.insert("identityProvider".into(), json!(p));
            }
            Value::Object(ui)
        }
        _ => json!({"type": "Unknown"}),
    }
}

fn account_of_arn(arn: &str) -> Option<&str> {
    let acct = arn.split(':').nth(4)?;
    (acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit())).then_some(acct)
}

/// Build the event for one call.
pub fn event(rec: &CallRecord<'_>) -> Value {
    let action = rec.action.unwrap_or("Unknown");
    let (mut request_parameters, mut withheld) = match rec.params {
        Some(p) => request_parameters(rec.api, action, p),
        None => (Value::Null, Vec::new()),
    };
    let (mut response, resp_withheld) = match rec.result {
        Ok(xml) => response_elements(action, xml.as_deref()),
        Err(_) => (Value::Null, Vec::new()),
    };
    withheld.extend(resp_withheld);
    let secrets = masking_set(withheld);

    let user_identity = match rec.caller {
        Some(c) => caller_identity(c),
        None if matches!(action, "AssumeRoleWithSAML" | "AssumeRoleWithWebIdentity") => {
            federated_identity(action, &response)
        }
        None => {
            let mut ui = Map::new();
            ui.insert("type".into(), json!("Unknown"));
            if let Some(k) = rec.claimed_access_key_id {
                ui.insert("accessKeyId".into(), json!(k));
            }
            Value::Object(ui)
        }
    };
    let recipient = rec.caller.map(|c| c.account_id().to_string()).or_else(|| {
        rec.params
            .and_then(|p| p.get("RoleArn"))
            .and_then(account_of_arn)
            .map(str::to_string)
    });
    let user_agent: String = rec.user_agent.chars().take(MAX_USER_AGENT_CHARS).collect();
    let mut user_agent = Value::String(user_agent);

    let mut ev = Map::new();
    ev.insert("eventVersion".into(), json!(EVENT_VERSION));
    ev.insert("userIdentity".into(), user_identity);
    ev.insert("eventTime".into(), json!(timestamp(rec.now)));
    ev.insert(
        "eventSource".into(),
        json!(match rec.api {
            Api::Sts => "sts.amazonaws.com",
            Api::Iam => "iam.amazonaws.com",
        }),
    );
    ev.insert("eventName".into(), json!(action));
    ev.insert("awsRegion".into(), json!(rec.region));
    ev.insert("sourceIPAddress".into(), json!(rec.source_ip.to_string()));
    mask(&mut user_agent, &secrets);
    ev.insert("userAgent".into(), user_agent);
    if let Err(e) = rec.result {
        let mut msg = Value::String(e.message.clone());
        mask(&mut msg, &secrets);
        ev.insert("errorCode".into(), json!(e.code));
        ev.insert("errorMessage".into(), msg);
    }
    mask(&mut request_parameters, &secrets);
    mask(&mut response, &secrets);
    ev.insert("requestParameters".into(), request_parameters);
    ev.insert("responseElements".into(), response);
    ev.insert("requestID".into(), json!(rec.request_id));
    ev.insert("eventID".into(), json!(rec.event_id));
    ev.insert("readOnly".into(), json!(is_read_only(action)));
    ev.insert("eventType".into(), json!("AwsApiCall"));
    ev.insert("managementEvent".into(), json!(true));
    if let Some(r) = recipient {
        ev.insert("recipientAccountId".into(), json!(r));
    }
    ev.insert("eventCategory".into(), json!("Management"));
    if let Some(tls) = rec.tls {
        ev.insert(
            "tlsDetails".into(),
            json!({
                "tlsVersion": tls.version,
                "cipherSuite": tls.cipher_suite,
                "clientProvidedHostHeader": rec.host,
            }),
        );
    }
    Value::Object(ev)
}

/// The access key id a request claims (SigV4 `Credential=AKID/…`), for events of requests
/// that did not authenticate. Only key-id characters are kept.
pub fn claimed_access_key_id(authorization: Option<&str>, query: &str) -> Option<String> {
    let from_header = authorization.and_then(|a| {
        let rest = a.split("Credential=").nth(1)?;
        Some(rest.split('/').next().unwrap_or_default().to_string())
    });
    let from_query = || {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "X-Amz-Credential")
            .map(|(_, v)| v.split('/').next().unwrap_or_default().to_string())
    };
    let id = from_header.or_else(from_query)?;
    (!id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(id)
}

/// Where events are written. Writes are synchronous and unbuffered (one `write` per event,
/// `O_APPEND`), so an event is on its way to disk before the response leaves.
pub struct AuditLog {
    target: AuditTarget,
    max_bytes: u64,
    keep: u32,
    file: Mutex<Option<(File, u64)>>,
    metrics: Arc<Metrics>,
}

fn open_append(path: &Path) -> io::Result<(File, u64)> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts.open(path)?;
    let size = f.metadata()?.len();
    Ok((f, size))
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl AuditLog {
    pub fn open(
        target: AuditTarget,
        max_bytes: u64,
        keep: u32,
        metrics: Arc<Metrics>,
    ) -> io::Result<AuditLog> {
        let file = match &target {
            AuditTarget::File(p) => Some(open_append(p)?),
            AuditTarget::Stdout => None,
        };
        Ok(AuditLog {
            target,
            max_bytes,
            keep: keep.max(1),
            file: Mutex::new(file),
            metrics,
        })
    }

    /// Write one event as one line.
    pub fn write(&self, event: &Value) {
        let mut line = match serde_json::to_vec(event) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize an audit event");
                self.metrics.audit_error();
                return;
            }
        };
        line.push(b'\n');
        let result = match &self.target {
            AuditTarget::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(&line).and_then(|()| out.flush())
            }
            AuditTarget::File(path) => self.write_file(path, &line),
        };
        match result {
            Ok(()) => self.metrics.audit_event(),
            Err(e) => {
                self.metrics.audit_error();
                tracing::error!(error = %e, "cannot write an audit event");
            }
        }
    }

    fn write_file(&self, path: &Path, line: &[u8]) -> io::Result<()> {
        let mut guard = match self.file.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let len = line.len() as u64;
        let needs_rotation = guard.as_ref().is_some_and(|(_, size)| {
            self.max_bytes > 0 && *size > 0 && size + len > self.max_bytes
        });
        if needs_rotation {
            *guard = None;
            self.rotate(path)?;
        }
        if guard.is_none() {
            *guard = Some(open_append(path)?);
        }
        let Some((file, size)) = guard.as_mut() else {
            return Err(io::Error::other("audit file not open"));
        };
        file.write_all(line)?;
        *size += len;
        Ok(())
    }

    /// `audit.log.(N-1)` → `audit.log.N`, …, `audit.log` → `audit.log.1`.
    fn rotate(&self, path: &Path) -> io::Result<()> {
        for n in (1..self.keep).rev() {
            let from = rotated(path, n);
            if from.exists() {
                std::fs::rename(&from, rotated(path, n + 1))?;
            }
        }
        std::fs::rename(path, rotated(path, 1))
    }

    /// Reopen the file (after an external rotation; on SIGHUP).
    pub fn reopen(&self) {
        if let AuditTarget::File(path) = &self.target {
            let mut guard = match self.file.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            match open_append(path) {
                Ok(f) => *guard = Some(f),
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(), "cannot reopen the audit log");
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use opensts_core::secret::Secret;
    use opensts_core::token::SessionClaims;

    use crate::auth::Credential;

    const ACCT: &str = "111122223333";
    const JWT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoiYWxpY2UifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU";

    fn params(pairs: &[(&str, &str)]) -> Params {
        let body = pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    k,
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        Params::decode(&[body.as_bytes()]).unwrap()
    }

    #[test]
    fn no_allow_list_contains_a_secret() {
        for (_, names) in STS_ALLOWED {
            for n in *names {
                assert!(!SECRET_PARAMETERS.contains(n), "{n}");
            }
        }
        for n in IAM_ALLOWED {
            assert!(!SECRET_PARAMETERS.contains(n), "{n}");
        }
        for s in SECRET_PARAMETERS {
            assert!(!allowed_parameter(Api::Sts, "AssumeRole", s));
            assert!(!allowed_parameter(Api::Iam, "CreateUser", s));
        }
    }

    #[test]
    fn request_parameters_keep_only_allowed_names() {
        let p = params(&[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::111122223333:role/r"),
            ("RoleSessionName", "s1"),
            ("DurationSeconds", "900"),
            ("SerialNumber", "arn:aws:iam::111122223333:mfa/m"),
            ("TokenCode", "123456"),
            (
                "PolicyArns.member.1.arn",
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
            ),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "blue"),
            ("Tags.member.2.Key", "env"),
            ("Tags.member.2.Value", "dev"),
            ("Unknown", "value-nobody-listed"),
        ]);
        let (v, withheld) = request_parameters(Api::Sts, "AssumeRole", &p);
        assert_eq!(
            v,
            json!({
                "roleArn": "arn:aws:iam::111122223333:role/r",
                "roleSessionName": "s1",
                "durationSeconds": 900,
                "serialNumber": "arn:aws:iam::111122223333:mfa/m",
                "policyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
                "tags": [{"key": "team", "value": "blue"}, {"key": "env", "value": "dev"}],
            })
        );
        assert!(withheld.contains(&"123456".to_string()));
        assert!(withheld.contains(&"value-nobody-listed".to_string()));
    }

    #[test]
    fn federation_secrets_never_recorded() {
        let p = params(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("RoleArn", "arn:aws:iam::111122223333:role/web"),
            ("RoleSessionName", "w"),
            ("WebIdentityToken", JWT),
        ]);
        let (v, _) = request_parameters(Api::Sts, "AssumeRoleWithWebIdentity", &p);
        assert!(!v.to_string().contains("eyJ"));
        let p = params(&[
            ("RoleArn", "arn:aws:iam::111122223333:role/saml"),
            (
                "PrincipalArn",
                "arn:aws:iam::111122223333:saml-provider/idp",
            ),
            (
                "SAMLAssertion",
                "PHNhbWxwOlJlc3BvbnNlPjwvc2FtbHA6UmVzcG9uc2U+",
            ),
        ]);
        let (v, _) = request_parameters(Api::Sts, "AssumeRoleWithSAML", &p);
        assert!(!v.to_string().contains("PHNhbWxw"));
        assert_eq!(
            v["principalArn"],
            "arn:aws:iam::111122223333:saml-provider/idp"
        );
        // IAM: MFA codes and passwords are withheld, identifiers kept.
        let p = params(&[
            ("UserName", "alice"),
            ("SerialNumber", "arn:aws:iam::111122223333:mfa/alice"),
            ("AuthenticationCode1", "111111"),
            ("AuthenticationCode2", "222222"),
        ]);
        let (v, withheld) = request_parameters(Api::Iam, "EnableMFADevice", &p);
        assert_eq!(
            v,
            json!({"userName": "alice", "serialNumber": "arn:aws:iam::111122223333:mfa/alice"})
        );
        assert_eq!(withheld.len(), 2);
    }

    #[test]
    fn response_elements_drop_credentials_secrets() {
        let xml = "<Credentials><AccessKeyId>ASIAEXAMPLEEXAMPLE00</AccessKeyId>\
            <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>\
            <SessionToken>AQoDYXdzEPT//////////wEXAMPLEtc764</SessionToken>\
            <Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>\
            <AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:s1</AssumedRoleId>\
            <Arn>arn:aws:sts::111122223333:assumed-role/r/s1</Arn></AssumedRoleUser>\
            <PackedPolicySize>6</PackedPolicySize>";
        let (v, withheld) = response_elements("AssumeRole", Some(xml));
        assert_eq!(
            v,
            json!({
                "credentials": {"accessKeyId": "ASIAEXAMPLEEXAMPLE00", "expiration": "2030-01-01T00:00:00Z"},
                "assumedRoleUser": {"assumedRoleId": "AROAEXAMPLE:s1", "arn": "arn:aws:sts::111122223333:assumed-role/r/s1"},
                "packedPolicySize": "6",
            })
        );
        assert!(withheld.contains(&"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string()));
        assert!(withheld.contains(&"AQoDYXdzEPT//////////wEXAMPLEtc764".to_string()));
        // CreateAccessKey and virtual MFA seeds.
        let (v, _) = response_elements(
            "CreateAccessKey",
            Some(
                "<AccessKey><UserName>a</UserName><AccessKeyId>AKIAX</AccessKeyId><Status>Active</Status><SecretAccessKey>s3cr3t-s3cr3t</SecretAccessKey></AccessKey>",
            ),
        );
        assert_eq!(
            v,
            json!({"accessKey": {"userName": "a", "accessKeyId": "AKIAX", "status": "Active"}})
        );
        let (v, _) = response_elements(
            "CreateVirtualMFADevice",
            Some(
                "<VirtualMFADevice><SerialNumber>arn:aws:iam::1:mfa/m</SerialNumber><Base32StringSeed>JBSWY3DPEHPK3PXP</Base32StringSeed><QRCodePNG>iVBORw0KGgo=</QRCodePNG></VirtualMFADevice>",
            ),
        );
        assert_eq!(
            v,
            json!({"virtualMFADevice": {"serialNumber": "arn:aws:iam::1:mfa/m"}})
        );
    }

    #[test]
    fn response_lists_entities_and_read_only() {
        let (v, _) = response_elements(
            "CreateUser",
            Some(
                "<User><Path>/</Path><UserName>a&amp;b</UserName><Tags><member><Key>k</Key><Value>v</Value></member></Tags></User>",
            ),
        );
        assert_eq!(
            v,
            json!({"user": {"path": "/", "userName": "a&b", "tags": [{"key": "k", "value": "v"}]}})
        );
        let (v, _) = response_elements("ListUsers", Some("<Users></Users>"));
        assert_eq!(v, Value::Null);
        let (v, withheld) =
            response_elements("GetCallerIdentity", Some("<Arn>arn:aws:iam::1:root</Arn>"));
        assert_eq!(v, Value::Null);
        assert!(withheld.is_empty());
        assert!(is_read_only("GetCallerIdentity"));
        assert!(is_read_only("DecodeAuthorizationMessage"));
        assert!(!is_read_only("GetSessionToken"));
        assert!(!is_read_only("AssumeRole"));
    }

    fn role_caller() -> Caller {
        let principal = Principal::AssumedRole {
            account_id: ACCT.into(),
            role_name: "deploy".into(),
            role_path: "/ci/".into(),
            role_id: "AROAEXAMPLEEXAMPLE123".into(),
            session_name: "build-42".into(),
        };
        let mut claims = SessionClaims::new(
            principal.clone(),
            Secret::new("session-secret-session-secret".to_string()),
            SessionKind::AssumedRole,
            1_800_000_000,
            1_800_003_600,
        );
        claims.source_identity = Some("alice".into());
        Caller::for_tests(
            principal,
            "ASIAEXAMPLEEXAMPLE00",
            Credential::Session(Box::new(claims)),
        )
    }

    #[test]
    fn event_shape_for_an_assumed_role_session() {
        let caller = role_caller();
        let p = params(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]);
        let result = Ok(Some("<Arn>x</Arn>".to_string()));
        let ev = event(&CallRecord {
            api: Api::Sts,
            action: Some("GetCallerIdentity"),
            region: "us-east-1",
            now: 1_800_000_100,
            source_ip: "10.0.0.7".parse().unwrap(),
            user_agent: "aws-cli/1.0",
            caller: Some(&caller),
            claimed_access_key_id: None,
            params: Some(&p),
            result: &result,
            request_id: "req-1",
            event_id: "ev-1",
            tls: None,
            host: None,
        });
        assert_eq!(ev["eventVersion"], EVENT_VERSION);
        assert_eq!(ev["eventSource"], "sts.amazonaws.com");
        assert_eq!(ev["eventName"], "GetCallerIdentity");
        assert_eq!(ev["eventType"], "AwsApiCall");
        assert_eq!(ev["eventTime"], "2027-01-15T08:01:40Z");
        assert_eq!(ev["sourceIPAddress"], "10.0.0.7");
        assert_eq!(ev["requestID"], "req-1");
        assert_eq!(ev["recipientAccountId"], ACCT);
        let ui = &ev["userIdentity"];
        assert_eq!(ui["type"], "AssumedRole");
        assert_eq!(
            ui["arn"],
            "arn:aws:sts::111122223333:assumed-role/deploy/build-42"
        );
        assert_eq!(ui["principalId"], "AROAEXAMPLEEXAMPLE123:build-42");
        assert_eq!(ui["accessKeyId"], "ASIAEXAMPLEEXAMPLE00");
        let issuer = &ui["sessionContext"]["sessionIssuer"];
        assert_eq!(issuer["type"], "Role");
        assert_eq!(issuer["arn"], "arn:aws:iam::111122223333:role/ci/deploy");
        assert_eq!(issuer["userName"], "deploy");
        assert_eq!(
            ui["sessionContext"]["attributes"]["mfaAuthenticated"],
            "false"
        );
        assert_eq!(ui["sessionContext"]["sourceIdentity"], "alice");
        assert_eq!(ev["requestParameters"], Value::Null);
        assert_eq!(ev["responseElements"], Value::Null);
        assert!(!ev.to_string().contains("session-secret"));
    }

    #[test]
    fn echoed_secrets_are_masked_in_error_messages() {
        let p = params(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("RoleArn", "arn:aws:iam::111122223333:role/web"),
            ("RoleSessionName", "w"),
            ("WebIdentityToken", JWT),
        ]);
        let payload = JWT.split('.').nth(1).unwrap();
        let result = Err(ApiError::new(
            "InvalidIdentityToken",
            http::StatusCode::BAD_REQUEST,
            format!("bad token {JWT} (payload {payload})"),
        ));
        let ev = event(&CallRecord {
            api: Api::Sts,
            action: Some("AssumeRoleWithWebIdentity"),
            region: "us-east-1",
            now: 0,
            source_ip: "127.0.0.1".parse().unwrap(),
            user_agent: "ua",
            caller: None,
            claimed_access_key_id: None,
            params: Some(&p),
            result: &result,
            request_id: "r",
            event_id: "e",
            tls: None,
            host: None,
        });
        let text = ev.to_string();
        assert!(!text.contains(payload), "{text}");
        assert!(!text.contains("eyJ"), "{text}");
        assert_eq!(ev["errorCode"], "InvalidIdentityToken");
        assert_eq!(ev["userIdentity"]["type"], "WebIdentityUser");
        assert_eq!(ev["recipientAccountId"], ACCT);
        assert_eq!(ev["errorMessage"], "bad token *** (payload ***)");
    }

    #[test]
    fn claimed_key_id_is_sanitized() {
        assert_eq!(
            claimed_access_key_id(
                Some("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20300101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00"),
                ""
            )
            .as_deref(),
            Some("AKIAEXAMPLE")
        );
        assert_eq!(
            claimed_access_key_id(None, "X-Amz-Credential=ASIAQ%2F2030%2Fus-east-1").as_deref(),
            Some("ASIAQ")
        );
        assert_eq!(claimed_access_key_id(Some("Credential=a\"b/x"), ""), None);
        assert_eq!(claimed_access_key_id(None, ""), None);
    }

    #[test]
    fn file_sink_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let m = Arc::new(Metrics::new());
        let log = AuditLog::open(AuditTarget::File(path.clone()), 200, 2, m).unwrap();
        for i in 0..20 {
            log.write(&json!({"n": i, "pad": "x".repeat(40)}));
        }
        let current = std::fs::read_to_string(&path).unwrap();
        let one = std::fs::read_to_string(rotated(&path, 1)).unwrap();
        assert!(rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        assert!(current.len() <= 200 && one.len() <= 200);
        let last: Value = serde_json::from_str(current.lines().last().unwrap()).unwrap();
        assert_eq!(last["n"], 19);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "audit log must not be group/world readable"
            );
        }
        // Reopen after an external move starts a new file.
        std::fs::rename(&path, dir.path().join("moved")).unwrap();
        log.reopen();
        log.write(&json!({"after": "reopen"}));
        assert!(std::fs::read_to_string(&path).unwrap().contains("reopen"));
    }
}
