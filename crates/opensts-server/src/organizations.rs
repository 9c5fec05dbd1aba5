//! A minimal AWS Organizations API (awsJson1_1, `X-Amz-Target: AWSOrganizationsV20161128.<Op>`,
//! SigV4 service `organizations`) over the organization model of [`crate::org`], so that
//! `aws organizations …` works against this server.
//!
//! Only the management account's principals may call it (its root user, or principals its IAM
//! policies allow `organizations:<Op>`); member accounts may call `DescribeOrganization`.
//! Errors are awsJson error bodies (`{"__type": …, "Message": …}`) with HTTP 400.

use std::net::SocketAddr;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use opensts_core::ids;
use opensts_policy::{Policy, PolicyKind};
use opensts_store::{Expect, StoreError, Write};
use serde_json::{Map, Value, json};

use crate::actions::ActionCtx;
use crate::audit::{self, CallRecord};
use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{KIND_ROLE, RoleDoc};
use crate::org::{
    self, KIND_ORG, ORG_ENTITY, OrgDoc, OrgPolicy, PolicyView, RCP, SCP, is_management,
    management_account,
};
use crate::protocol::Api;
use crate::state::AppState;
use crate::tls::ConnMeta;

/// The `X-Amz-Target` prefix of Organizations operations.
pub const TARGET_PREFIX: &str = "AWSOrganizationsV20161128.";
/// SigV4 service name.
pub const SIGNING_SERVICE: &str = "organizations";
/// Longest SCP/RCP document (characters), as AWS.
pub const MAX_POLICY_CHARS: usize = 5_120;
/// Most customer managed organization policies.
pub const MAX_POLICIES: usize = 1_000;
/// Most policies of one type attached to one target (AWS: 5).
pub const MAX_POLICIES_PER_TARGET: usize = 5;
/// Most create-account requests remembered for DescribeCreateAccountStatus.
pub const MAX_CREATE_REQUESTS: usize = 1_000;
/// Default and largest page (`MaxResults`) of list operations.
pub const MAX_RESULTS: usize = 20;
/// The role CreateAccount makes in the new account, trusting the management account.
pub const DEFAULT_ACCESS_ROLE: &str = "OrganizationAccountAccessRole";
const ADMIN_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
/// How many times a read-modify-write of the organization document is tried.
const MAX_WRITE_ATTEMPTS: usize = 3;

/// The operations answered.
pub const OPERATIONS: &[&str] = &[
    "DescribeOrganization",
    "ListRoots",
    "ListAccounts",
    "DescribeAccount",
    "CreateAccount",
    "DescribeCreateAccountStatus",
    "CreatePolicy",
    "DescribePolicy",
    "UpdatePolicy",
    "DeletePolicy",
    "ListPolicies",
    "AttachPolicy",
    "DetachPolicy",
    "ListPoliciesForTarget",
    "ListTargetsForPolicy",
];

fn err(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(code, StatusCode::BAD_REQUEST, message)
}

fn invalid_input(message: impl Into<String>) -> ApiError {
    err("InvalidInputException", message)
}

/// The awsJson name of an error raised by the shared layers (signature, throttling, IAM).
fn json_error_type(e: &ApiError) -> &'static str {
    match e.code {
        "AccessDenied" => "AccessDeniedException",
        "InvalidClientTokenId" => "UnrecognizedClientException",
        "SignatureDoesNotMatch" | "IncompleteSignature" => "InvalidSignatureException",
        "MissingAuthenticationToken" => "MissingAuthenticationTokenException",
        "ExpiredToken" => "ExpiredTokenException",
        "Throttling" => "TooManyRequestsException",
        "ValidationError" => "InvalidInputException",
        other => other,
    }
}

fn json_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// Whether a request is an Organizations call (by its `X-Amz-Target`).
pub fn is_organizations_request(headers: &HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(TARGET_PREFIX))
}

/// What the audit event of a call records besides its outcome.
#[derive(Default)]
struct Seen {
    caller: Option<Caller>,
    input: Option<Map<String, Value>>,
}

/// Answer one Organizations request.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    state: &AppState,
    peer: SocketAddr,
    conn: &ConnMeta,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .and_then(|name| OPERATIONS.iter().copied().find(|o| *o == name));
    let mut seen = Seen::default();
    let result = run(
        state,
        peer,
        conn.tls.is_some(),
        op,
        (method, uri, headers, &body),
        &mut seen,
    )
    .await;
    if let Some(log) = &state.audit {
        log.write(&audit_event(
            state,
            peer,
            conn,
            op,
            headers,
            &seen,
            &result,
            &request_id,
        ));
    }
    let code = match &result {
        Ok(_) => "OK",
        Err(e) => e.code,
    };
    state.metrics.observe_request(
        SIGNING_SERVICE,
        op.unwrap_or("unknown"),
        code,
        started.elapsed(),
    );
    match result {
        Ok(v) => json_response(StatusCode::OK, v.to_string(), &request_id),
        Err(e) => {
            let status = if e.status.is_server_error() {
                e.status
            } else {
                StatusCode::BAD_REQUEST
            };
            let body = json!({"__type": json_error_type(&e), "Message": e.message});
            json_response(status, body.to_string(), &request_id)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    state: &AppState,
    peer: SocketAddr,
    secure_transport: bool,
    op: Option<&'static str>,
    (method, uri, headers, body): (&Method, &Uri, &HeaderMap, &[u8]),
    seen: &mut Seen,
) -> ApiResult<Value> {
    if !state.throttle.allow_source(peer.ip()) {
        return Err(crate::throttle::throttled(&state.metrics, "source"));
    }
    if method != Method::POST {
        return Err(ApiError::new(
            "MethodNotAllowed",
            StatusCode::METHOD_NOT_ALLOWED,
            "Only POST is supported",
        ));
    }
    let Some(op) = op else {
        return Err(err(
            "UnknownOperationException",
            "The requested operation is not supported by this server.",
        ));
    };
    let sreq = opensts_sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body,
    };
    let Some(caller) = auth::authenticate_for_service(state, &sreq, SIGNING_SERVICE).await? else {
        return Err(ApiError::missing_authentication_token());
    };
    seen.caller = Some(caller.clone());
    if !state.throttle.allow_account(caller.account_id()) {
        return Err(crate::throttle::throttled(&state.metrics, "account"));
    }
    let input: Map<String, Value> = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(err(
                    "SerializationException",
                    "The request body is not a JSON object.",
                ));
            }
        }
    };
    let cx = ActionCtx {
        state,
        api: Api::Sts,
        action: op,
        now: state.now(),
        source_ip: peer.ip(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        secure_transport,
    };
    seen.input = Some(input.clone());
    let input = Input(input);
    // Member accounts may only describe their organization.
    if op != "DescribeOrganization" && !is_management(state, caller.account_id()) {
        return Err(err(
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        ));
    }
    let action = format!("organizations:{op}");
    crate::authz::authorize(&cx, &caller, &action, "*", |c| c).await?;
    let out = dispatch(&cx, op, &input).await?;
    if !op.starts_with("Describe") && !op.starts_with("List") {
        state
            .cache
            .invalidate_accounts(&[management_account(state).to_string()]);
    }
    Ok(out)
}

/// The audit event of one call: the shared CloudTrail-shaped record with Organizations' event
/// source and JSON request parameters / response elements (no Organizations field is secret).
#[allow(clippy::too_many_arguments)]
fn audit_event(
    state: &AppState,
    peer: SocketAddr,
    conn: &ConnMeta,
    op: Option<&'static str>,
    headers: &HeaderMap,
    seen: &Seen,
    result: &ApiResult<Value>,
    request_id: &str,
) -> Value {
    let header_str = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let outcome: Result<Option<String>, ApiError> = match result {
        Ok(_) => Ok(None),
        Err(e) => Err(e.clone()),
    };
    let event_id = uuid::Uuid::new_v4().to_string();
    let mut ev = audit::event(&CallRecord {
        api: Api::Sts,
        action: op,
        region: &state.config.region,
        now: state.now(),
        source_ip: peer.ip(),
        user_agent: header_str(header::USER_AGENT).unwrap_or(""),
        caller: seen.caller.as_ref(),
        claimed_access_key_id: None,
        params: None,
        result: &outcome,
        request_id,
        event_id: &event_id,
        tls: conn.tls.as_ref(),
        host: header_str(header::HOST),
    });
    if let Value::Object(m) = &mut ev {
        m.insert("eventSource".into(), json!("organizations.amazonaws.com"));
        if let Some(input) = &seen.input {
            m.insert("requestParameters".into(), Value::Object(input.clone()));
        }
        let read_only = op.is_some_and(|o| o.starts_with("Describe") || o.starts_with("List"));
        m.insert("readOnly".into(), json!(read_only));
        if let (Ok(v), false) = (result, read_only) {
            m.insert("responseElements".into(), v.clone());
        }
        if let Err(e) = result {
            m.insert("errorCode".into(), json!(json_error_type(e)));
        }
    }
    ev
}

/// The JSON input of an operation.
struct Input(Map<String, Value>);

impl Input {
    fn str_opt(&self, name: &str, min: usize, max: usize) -> ApiResult<Option<&str>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n < min || n > max {
                    Err(invalid_input(format!(
                        "{name} must be between {min} and {max} characters long."
                    )))
                } else {
                    Ok(Some(s))
                }
            }
            Some(_) => Err(err(
                "SerializationException",
                format!("{name} must be a string."),
            )),
        }
    }

    fn str(&self, name: &str, min: usize, max: usize) -> ApiResult<&str> {
        self.str_opt(name, min, max)?
            .ok_or_else(|| invalid_input(format!("You must specify {name}.")))
    }

    /// (`NextToken` offset, `MaxResults`).
    fn page(&self) -> ApiResult<(usize, usize)> {
        let max = match self.0.get("MaxResults") {
            None | Some(Value::Null) => MAX_RESULTS,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(m) if (1..=MAX_RESULTS as u64).contains(&m) => m as usize,
                _ => {
                    return Err(invalid_input(format!(
                        "MaxResults must be between 1 and {MAX_RESULTS}."
                    )));
                }
            },
            Some(_) => {
                return Err(err(
                    "SerializationException",
                    "MaxResults must be a number.",
                ));
            }
        };
        let start = match self.str_opt("NextToken", 1, 100_000)? {
            None => 0,
            Some(t) => t
                .parse::<usize>()
                .map_err(|_| invalid_input("The NextToken is not valid."))?,
        };
        Ok((start, max))
    }
}

/// One page of `items` under `key`, with `NextToken` when more remain.
fn paged(key: &str, items: Vec<Value>, (start, max): (usize, usize)) -> Value {
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(start).take(max).collect();
    let mut out = Map::new();
    out.insert(key.to_string(), Value::Array(page));
    if start + max < total {
        out.insert(
            "NextToken".to_string(),
            Value::String((start + max).to_string()),
        );
    }
    Value::Object(out)
}

async fn dispatch(cx: &ActionCtx<'_>, op: &str, input: &Input) -> ApiResult<Value> {
    match op {
        "DescribeOrganization" => Ok(json!({"Organization": organization(cx.state)})),
        "ListRoots" => Ok(paged("Roots", vec![root(cx.state)], input.page()?)),
        "ListAccounts" => {
            let doc = org::load(cx.state).await?;
            let accounts = cx.state.store.list_accounts().await?;
            let items = accounts
                .iter()
                .map(|a| account_json(cx.state, &doc, a))
                .collect();
            Ok(paged("Accounts", items, input.page()?))
        }
        "DescribeAccount" => {
            let id = input.str("AccountId", 12, 12)?;
            let doc = org::load(cx.state).await?;
            match cx.state.store.get_account(id).await? {
                Some(a) => Ok(json!({"Account": account_json(cx.state, &doc, &a)})),
                None => Err(account_not_found()),
            }
        }
        "CreateAccount" => create_account(cx, input).await,
        "DescribeCreateAccountStatus" => {
            let id = input.str("CreateAccountRequestId", 1, 100)?;
            let doc = org::load(cx.state).await?;
            match doc
                .create_requests
                .iter()
                .find(|r| r.get("Id").and_then(Value::as_str) == Some(id))
            {
                Some(r) => Ok(json!({"CreateAccountStatus": r})),
                None => Err(err(
                    "CreateAccountStatusNotFoundException",
                    "We can't find a create account request with the CreateAccountRequestId that you specified.",
                )),
            }
        }
        "CreatePolicy" => create_policy(cx, input).await,
        "DescribePolicy" => {
            let doc = org::load(cx.state).await?;
            let v = find_policy(&doc, input.str("PolicyId", 1, 130)?)?;
            Ok(json!({"Policy": policy_json(cx.state, &v)}))
        }
        "UpdatePolicy" => update_policy(cx, input).await,
        "DeletePolicy" => {
            let id = input.str("PolicyId", 1, 130)?.to_string();
            modify_org(cx, |doc| {
                let v = find_policy(doc, &id)?;
                if v.aws_managed {
                    return Err(aws_managed_immutable());
                }
                if doc.policies.iter().any(|p| p.id == id && !p.targets.is_empty()) {
                    return Err(err(
                        "PolicyInUseException",
                        "The policy is attached to one or more entities. You must detach it from all roots, OUs, and accounts before performing this operation.",
                    ));
                }
                doc.policies.retain(|p| p.id != id);
                Ok(())
            })
            .await?;
            Ok(json!({}))
        }
        "ListPolicies" => {
            let filter = policy_filter(input)?;
            let doc = org::load(cx.state).await?;
            let items = all_policies(&doc)
                .into_iter()
                .filter(|v| v.policy_type == filter)
                .map(|v| summary_json(cx.state, &v))
                .collect();
            Ok(paged("Policies", items, input.page()?))
        }
        "AttachPolicy" | "DetachPolicy" => attach(cx, input, op == "AttachPolicy").await,
        "ListPoliciesForTarget" => {
            let filter = policy_filter(input)?;
            let target = input.str("TargetId", 1, 100)?;
            check_target(cx.state, target).await?;
            let doc = org::load(cx.state).await?;
            let items = doc
                .attached(filter, target)
                .iter()
                .filter_map(|id| doc.view(id))
                .map(|v| summary_json(cx.state, &v))
                .collect();
            Ok(paged("Policies", items, input.page()?))
        }
        "ListTargetsForPolicy" => {
            let doc = org::load(cx.state).await?;
            let v = find_policy(&doc, input.str("PolicyId", 1, 130)?)?;
            let root_id = org::root_id(management_account(cx.state));
            let mut targets = vec![root_id];
            targets.extend(
                cx.state
                    .store
                    .list_accounts()
                    .await?
                    .into_iter()
                    .map(|a| a.id),
            );
            let mut items = Vec::new();
            for t in targets {
                if doc.attached(&v.policy_type, &t).contains(&v.id) {
                    items.push(target_json(cx.state, &t).await?);
                }
            }
            Ok(paged("Targets", items, input.page()?))
        }
        _ => Err(err(
            "UnknownOperationException",
            "The requested operation is not supported by this server.",
        )),
    }
}

fn account_not_found() -> ApiError {
    err(
        "AccountNotFoundException",
        "You specified an account that doesn't exist.",
    )
}

fn aws_managed_immutable() -> ApiError {
    err(
        "AccessDeniedException",
        "You can't modify or delete an AWS managed policy.",
    )
}

fn org_arn(state: &AppState) -> String {
    let m = management_account(state);
    format!("arn:aws:organizations::{m}:organization/{}", org::org_id(m))
}

fn policy_types() -> Value {
    json!([
        {"Type": SCP, "Status": "ENABLED"},
        {"Type": RCP, "Status": "ENABLED"}
    ])
}

fn organization(state: &AppState) -> Value {
    let m = management_account(state);
    json!({
        "Id": org::org_id(m),
        "Arn": org_arn(state),
        "FeatureSet": "ALL",
        "MasterAccountArn": account_arn(state, m),
        "MasterAccountId": m,
        "AvailablePolicyTypes": policy_types(),
    })
}

fn root(state: &AppState) -> Value {
    let m = management_account(state);
    let id = org::root_id(m);
    json!({
        "Id": id,
        "Arn": format!("arn:aws:organizations::{m}:root/{}/{id}", org::org_id(m)),
        "Name": "Root",
        "PolicyTypes": policy_types(),
    })
}

fn account_arn(state: &AppState, account: &str) -> String {
    let m = management_account(state);
    format!(
        "arn:aws:organizations::{m}:account/{}/{account}",
        org::org_id(m)
    )
}

fn account_json(state: &AppState, doc: &OrgDoc, a: &opensts_store::Account) -> Value {
    let mut v = json!({
        "Id": a.id,
        "Arn": account_arn(state, &a.id),
        "Name": a.name,
        "Status": "ACTIVE",
        "State": "ACTIVE",
        "JoinedMethod": if doc.emails.contains_key(&a.id) { "CREATED" } else { "INVITED" },
        "JoinedTimestamp": a.created_at,
    });
    if let (Some(email), Value::Object(m)) = (doc.emails.get(&a.id), &mut v) {
        m.insert("Email".to_string(), Value::String(email.clone()));
    }
    v
}

fn policy_arn(state: &AppState, v: &PolicyView) -> String {
    org::policy_arn(management_account(state), v)
}

fn summary_json(state: &AppState, v: &PolicyView) -> Value {
    json!({
        "Id": v.id,
        "Arn": policy_arn(state, v),
        "Name": v.name,
        "Description": v.description,
        "Type": v.policy_type,
        "AwsManaged": v.aws_managed,
    })
}

fn policy_json(state: &AppState, v: &PolicyView) -> Value {
    json!({"PolicySummary": summary_json(state, v), "Content": v.content})
}

fn all_policies(doc: &OrgDoc) -> Vec<PolicyView> {
    let mut out: Vec<PolicyView> = org::aws_managed().into_iter().collect();
    out.extend(doc.policies.iter().filter_map(|p| doc.view(&p.id)));
    out
}

fn find_policy(doc: &OrgDoc, id: &str) -> ApiResult<PolicyView> {
    doc.view(id).ok_or_else(|| {
        err(
            "PolicyNotFoundException",
            "We can't find a policy with the PolicyId that you specified.",
        )
    })
}

fn policy_filter(input: &Input) -> ApiResult<&'static str> {
    match input.str("Filter", 1, 64)? {
        SCP => Ok(SCP),
        RCP => Ok(RCP),
        other => Err(invalid_input(format!(
            "1 validation error detected: Value '{other}' at 'filter' failed to satisfy constraint: this server supports SERVICE_CONTROL_POLICY and RESOURCE_CONTROL_POLICY"
        ))),
    }
}

fn policy_type(input: &Input) -> ApiResult<&'static str> {
    match input.str("Type", 1, 64)? {
        SCP => Ok(SCP),
        RCP => Ok(RCP),
        other => Err(err(
            "PolicyTypeNotEnabledException",
            format!("The policy type {other} is not enabled in this organization."),
        )),
    }
}

/// Validate an SCP/RCP document.
fn check_content(content: &str, policy_type: &str) -> ApiResult<()> {
    if content.chars().count() > MAX_POLICY_CHARS {
        return Err(err(
            "ConstraintViolationException",
            format!(
                "The policy content exceeds the maximum size of {MAX_POLICY_CHARS} characters."
            ),
        ));
    }
    let kind = if policy_type == RCP {
        PolicyKind::ResourceControl
    } else {
        PolicyKind::ServiceControl
    };
    Policy::parse(content, kind)
        .map(|_| ())
        .map_err(|e| err("MalformedPolicyDocumentException", e.message()))
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.chars().all(|c| (' '..='\u{ff}').contains(&c)) {
        Ok(())
    } else {
        Err(invalid_input(
            "The policy name contains invalid characters.",
        ))
    }
}

async fn create_policy(cx: &ActionCtx<'_>, input: &Input) -> ApiResult<Value> {
    let content = input.str("Content", 1, 1_000_000)?.to_string();
    let name = input.str("Name", 1, 128)?.to_string();
    check_name(&name)?;
    let description = input
        .str_opt("Description", 0, 512)?
        .unwrap_or("")
        .to_string();
    let policy_type = policy_type(input)?;
    check_content(&content, policy_type)?;
    let id = format!("p-{}", random_lower(8));
    let policy = OrgPolicy {
        id: id.clone(),
        name: name.clone(),
        description,
        policy_type: policy_type.to_string(),
        content,
        targets: Vec::new(),
    };
    let doc = modify_org(cx, |doc| {
        if all_policies(doc)
            .iter()
            .any(|p| p.policy_type == policy_type && p.name == name)
        {
            return Err(err(
                "DuplicatePolicyException",
                "A policy with the same name already exists.",
            ));
        }
        if doc.policies.len() >= MAX_POLICIES {
            return Err(err(
                "ConstraintViolationException",
                format!("You have reached the maximum of {MAX_POLICIES} policies."),
            ));
        }
        doc.policies.push(policy.clone());
        Ok(())
    })
    .await?;
    let v = find_policy(&doc, &id)?;
    Ok(json!({"Policy": policy_json(cx.state, &v)}))
}

async fn update_policy(cx: &ActionCtx<'_>, input: &Input) -> ApiResult<Value> {
    let id = input.str("PolicyId", 1, 130)?.to_string();
    let name = input.str_opt("Name", 1, 128)?.map(str::to_string);
    if let Some(n) = &name {
        check_name(n)?;
    }
    let description = input.str_opt("Description", 0, 512)?.map(str::to_string);
    let content = input.str_opt("Content", 1, 1_000_000)?.map(str::to_string);
    let doc = modify_org(cx, |doc| {
        let v = find_policy(doc, &id)?;
        if v.aws_managed {
            return Err(aws_managed_immutable());
        }
        if let Some(c) = &content {
            check_content(c, &v.policy_type)?;
        }
        if let Some(n) = &name
            && all_policies(doc)
                .iter()
                .any(|p| p.policy_type == v.policy_type && &p.name == n && p.id != id)
        {
            return Err(err(
                "DuplicatePolicyException",
                "A policy with the same name already exists.",
            ));
        }
        if let Some(p) = doc.policies.iter_mut().find(|p| p.id == id) {
            if let Some(n) = &name {
                p.name = n.clone();
            }
            if let Some(d) = &description {
                p.description = d.clone();
            }
            if let Some(c) = &content {
                p.content = c.clone();
            }
        }
        Ok(())
    })
    .await?;
    let v = find_policy(&doc, &id)?;
    Ok(json!({"Policy": policy_json(cx.state, &v)}))
}

/// The root id or an account id of the organization.
async fn check_target(state: &AppState, target: &str) -> ApiResult<()> {
    if target == org::root_id(management_account(state)) {
        return Ok(());
    }
    if ids::is_valid_account_id(target) && state.store.get_account(target).await?.is_some() {
        return Ok(());
    }
    Err(err(
        "TargetNotFoundException",
        "We can't find a root, OU, account, or policy with the TargetId that you specified.",
    ))
}

async fn target_json(state: &AppState, target: &str) -> ApiResult<Value> {
    let m = management_account(state);
    if target == org::root_id(m) {
        return Ok(json!({
            "TargetId": target,
            "Arn": format!("arn:aws:organizations::{m}:root/{}/{target}", org::org_id(m)),
            "Name": "Root",
            "Type": "ROOT",
        }));
    }
    let name = state
        .store
        .get_account(target)
        .await?
        .map(|a| a.name)
        .unwrap_or_default();
    Ok(json!({
        "TargetId": target,
        "Arn": account_arn(state, target),
        "Name": name,
        "Type": "ACCOUNT",
    }))
}

async fn attach(cx: &ActionCtx<'_>, input: &Input, attach: bool) -> ApiResult<Value> {
    let id = input.str("PolicyId", 1, 130)?.to_string();
    let target = input.str("TargetId", 1, 100)?.to_string();
    check_target(cx.state, &target).await?;
    modify_org(cx, |doc| {
        let v = find_policy(doc, &id)?;
        let attached = doc.attached(&v.policy_type, &target);
        let is_attached = attached.contains(&v.id);
        if attach {
            if is_attached {
                return Err(err(
                    "DuplicatePolicyAttachmentException",
                    "The selected policy is already attached to the specified target.",
                ));
            }
            if attached.len() >= MAX_POLICIES_PER_TARGET {
                return Err(err(
                    "ConstraintViolationException",
                    format!(
                        "You attempted to exceed the number of policies ({MAX_POLICIES_PER_TARGET}) of this type that you can attach to an entity."
                    ),
                ));
            }
        } else {
            if !is_attached {
                return Err(err(
                    "PolicyNotAttachedException",
                    "The policy isn't attached to the specified target in the specified root.",
                ));
            }
            // Every level must keep an SCP, or nothing would be allowed there.
            if v.policy_type == SCP && attached.len() == 1 {
                return Err(err(
                    "ConstraintViolationException",
                    "You attempted to detach a policy from an entity that would cause the entity to have fewer than the minimum number of policies of a certain type required.",
                ));
            }
        }
        if v.aws_managed {
            let key = (v.id.clone(), target.clone());
            if attach {
                doc.detached_defaults.remove(&key);
            } else {
                doc.detached_defaults.insert(key);
            }
        } else if let Some(p) = doc.policies.iter_mut().find(|p| p.id == id) {
            if attach {
                p.targets.push(target.clone());
            } else {
                p.targets.retain(|t| t != &target);
            }
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

fn random_lower(n: usize) -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Read-modify-write of the organization document (created on first write).
async fn modify_org(
    cx: &ActionCtx<'_>,
    mut change: impl FnMut(&mut OrgDoc) -> ApiResult<()>,
) -> ApiResult<OrgDoc> {
    let m = management_account(cx.state);
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let current = cx.state.store.get_entity(m, KIND_ORG, ORG_ENTITY).await?;
        let (mut doc, expect) = match &current {
            Some(e) => (
                serde_json::from_value::<OrgDoc>(e.doc.clone())
                    .map_err(|_| ApiError::internal())?,
                Expect::Version(e.version),
            ),
            None => (OrgDoc::default(), Expect::Absent),
        };
        change(&mut doc)?;
        let write = Write::PutEntity {
            kind: KIND_ORG.to_string(),
            name: ORG_ENTITY.to_string(),
            doc: serde_json::to_value(&doc).map_err(|_| ApiError::internal())?,
            expect,
        };
        match cx.state.store.apply(m, &[write], cx.now).await {
            Ok(()) => return Ok(doc),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(err(
        "ConcurrentModificationException",
        "The target of the operation is being modified by a different request. Try again later.",
    ))
}

fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!((parts.next(), parts.next(), parts.next()),
        (Some(local), Some(domain), None) if !local.is_empty() && domain.contains('.')
            && !email.chars().any(char::is_whitespace))
}

async fn create_account(cx: &ActionCtx<'_>, input: &Input) -> ApiResult<Value> {
    let email = input.str("Email", 6, 64)?.to_string();
    let name = input.str("AccountName", 1, 50)?.to_string();
    let role_name = input
        .str_opt("RoleName", 1, 64)?
        .unwrap_or(DEFAULT_ACCESS_ROLE)
        .to_string();
    if !valid_email(&email) {
        return Err(invalid_input("The email address is not valid."));
    }
    if !role_name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
    {
        return Err(invalid_input("The role name is not valid."));
    }
    let request_id = format!("car-{}", random_lower(32));
    let doc = org::load(cx.state).await?;
    let duplicate = doc.emails.values().any(|e| e.eq_ignore_ascii_case(&email));
    let mut status = json!({
        "Id": request_id,
        "AccountName": name,
        "RequestedTimestamp": cx.now,
        "CompletedTimestamp": cx.now,
    });
    let account_id = if duplicate {
        None
    } else {
        let id = ids::new_account_id();
        crate::app::create_account(
            cx.state.store.as_ref(),
            &cx.state.master_key,
            &id,
            &name,
            None,
            cx.now,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "CreateAccount failed");
            ApiError::internal()
        })?;
        create_access_role(cx, &id, &role_name).await?;
        Some(id)
    };
    if let Value::Object(m) = &mut status {
        match &account_id {
            Some(id) => {
                m.insert("State".into(), Value::String("SUCCEEDED".into()));
                m.insert("AccountId".into(), Value::String(id.clone()));
            }
            None => {
                m.insert("State".into(), Value::String("FAILED".into()));
                m.insert(
                    "FailureReason".into(),
                    Value::String("EMAIL_ALREADY_EXISTS".into()),
                );
            }
        }
    }
    let recorded = status.clone();
    modify_org(cx, |doc| {
        if let Some(id) = &account_id {
            doc.emails.insert(id.clone(), email.clone());
        }
        doc.create_requests.push(recorded.clone());
        let excess = doc
            .create_requests
            .len()
            .saturating_sub(MAX_CREATE_REQUESTS);
        doc.create_requests.drain(..excess);
        Ok(())
    })
    .await?;
    if let Some(id) = &account_id {
        cx.state.cache.invalidate_accounts(std::slice::from_ref(id));
    }
    Ok(json!({"CreateAccountStatus": status}))
}

/// The role through which the management account administers a new member account.
async fn create_access_role(cx: &ActionCtx<'_>, account: &str, role_name: &str) -> ApiResult<()> {
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": opensts_core::arn::root_arn(management_account(cx.state))},
            "Action": "sts:AssumeRole"
        }]
    })
    .to_string();
    let doc = RoleDoc {
        name: role_name.to_string(),
        role_id: ids::new_unique_id("AROA"),
        path: "/".to_string(),
        create_date: cx.now,
        assume_role_policy: trust,
        description: None,
        max_session_duration: crate::iam::model::role::MIN_MAX_SESSION_DURATION,
        tags: Vec::new(),
        permissions_boundary: None,
        inline_policies: Default::default(),
        attached_policies: vec![ADMIN_POLICY.to_string()],
        last_used: None,
        last_used_region: None,
    };
    let write = Write::PutEntity {
        kind: KIND_ROLE.to_string(),
        name: role_name.to_string(),
        doc: serde_json::to_value(&doc).map_err(|_| ApiError::internal())?,
        expect: Expect::Absent,
    };
    cx.state.store.apply(account, &[write], cx.now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn emails_are_checked() {
        assert!(valid_email("a@example.com"));
        assert!(!valid_email("a@b@example.com"));
        assert!(!valid_email("example.com"));
        assert!(!valid_email("a b@example.com"));
    }

    #[test]
    fn pages_carry_a_next_token() {
        let items = (0..5).map(|i| json!(i)).collect::<Vec<_>>();
        let v = paged("X", items.clone(), (0, 2));
        assert_eq!(v["X"], json!([0, 1]));
        assert_eq!(v["NextToken"], json!("2"));
        let v = paged("X", items, (4, 2));
        assert_eq!(v["X"], json!([4]));
        assert!(v.get("NextToken").is_none());
    }

    #[test]
    fn content_is_validated() {
        assert!(check_content(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateUser","Resource":"*"}]}"#, SCP).is_ok());
        assert_eq!(
            check_content("{", SCP).unwrap_err().code,
            "MalformedPolicyDocumentException"
        );
        let big = format!(
            "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Sid\":\"{}\",\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}}]}}",
            "a".repeat(MAX_POLICY_CHARS)
        );
        assert_eq!(
            check_content(&big, SCP).unwrap_err().code,
            "ConstraintViolationException"
        );
    }
}
