//! GetFederationToken: credentials for a federated user named by the caller (an IAM user or an
//! account root, with long-term keys). The federated user may do only what both the caller's
//! policies and the session policies passed here allow — no session policy, no permissions.

use opensts_core::principal::Principal;
use opensts_core::secret::Secret;
use opensts_core::token::{SessionClaims, SessionKind};

use crate::actions::sts::session::parse_session_params;
use crate::actions::sts::{issue, write_credentials};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

pub const MIN_DURATION: i64 = 900;
pub const MAX_DURATION: i64 = 129_600;
pub const DEFAULT_DURATION: i64 = 43_200;
pub const ROOT_MAX_DURATION: i64 = 3_600;
/// Plain-text limit of the inline session policy (`sessionPolicyDocumentType`).
pub const POLICY_MAX_CHARS: usize = 2048;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = v.string(p, "Name", true, 2, 32, Some(CharRule::NameChars));
    let duration = v.int(p, "DurationSeconds", false, MIN_DURATION, MAX_DURATION);
    v.into_result()?;
    let name = name.unwrap_or_default();
    let params = parse_session_params(cx, p, POLICY_MAX_CHARS, false).await?;
    if caller.session().is_some() {
        return Err(ApiError::access_denied(
            "Cannot call GetFederationToken with session credentials",
        ));
    }
    let account = caller.account_id().to_string();
    let fed_arn = opensts_core::arn::federated_user_arn(&account, name);
    authz::authorize(cx, caller, "sts:GetFederationToken", &fed_arn, |c| c).await?;
    if !params.tags.is_empty() {
        authz::authorize(cx, caller, "sts:TagSession", &fed_arn, |mut c| {
            for t in &params.tags {
                c = c.with_request_tag(&t.key, t.value.clone());
            }
            c
        })
        .await?;
    }
    let packed = params.packed_size_percent(&[])?;

    let mut duration = duration.unwrap_or(DEFAULT_DURATION);
    if caller.is_root() {
        duration = duration.min(ROOT_MAX_DURATION);
    }
    let principal = Principal::FederatedUser {
        account_id: account.clone(),
        name: name.to_string(),
    };
    let fed_id = principal.user_id();
    let arn = principal.arn();
    let mut claims = SessionClaims::new(
        principal,
        Secret::default(),
        SessionKind::FederationToken,
        cx.now,
        cx.now + duration,
    );
    claims.parent = Some(caller.principal().clone());
    claims.tags = params
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    claims.session_policies = params.policy.iter().map(|p| p.to_string()).collect();
    claims.session_policy_arns = params.policy_arns.clone();
    let creds = issue(cx, claims)?;

    let mut x = Xml::new();
    write_credentials(&mut x, &creds);
    x.open("FederatedUser")
        .elem("FederatedUserId", &fed_id)
        .elem("Arn", &arn)
        .close("FederatedUser");
    if params.has_any() {
        x.num("PackedPolicySize", packed);
    }
    Ok(Some(x.into_string()))
}
