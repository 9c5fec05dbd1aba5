//! What AssumeRoleWithSAML and AssumeRoleWithWebIdentity share once the assertion or token is
//! verified: the role, the duration, session policies and tags, the trust-policy decision for
//! the federated principal, and the session itself.

use opensts_core::principal::Principal;
use opensts_core::secret::Secret;
use opensts_core::token::{SessionClaims, SessionKind};
use opensts_policy::{PolicyKind, PolicyRef, RequestPrincipal};

use crate::actions::ActionCtx;
use crate::actions::sts::assume_role::{
    DEFAULT_DURATION, MAX_DURATION, MIN_DURATION, parse_role_arn,
};
use crate::actions::sts::session::{SessionParams, parse_session_params};
use crate::actions::sts::{IssuedCredentials, issue};
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::Tag;
use crate::protocol::{CharRule, Params, Violations};

/// Plain-text limit of the inline session policy of the federated AssumeRole* actions.
pub const POLICY_MAX_CHARS: usize = 2048;
/// Most session tags one session may carry (AWS).
pub const MAX_SESSION_TAGS: usize = 50;
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;

/// A one-time use of what the provider issued (a SAML assertion id): claimed in the store
/// only once every other check has passed, just before credentials are issued, so a request
/// refused for another reason (a typo in `Policy`, a trust policy not yet updated) does not
/// burn the assertion.
pub struct OneTimeUse {
    pub scope: &'static str,
    pub id: String,
    /// Until when the claim must be remembered (Unix seconds).
    pub expires_at: i64,
    /// When the provider issued it, and how far ahead of ours its clock may be: values issued
    /// before the store's claim horizon are refused (`Store::claims_uncertain_until`).
    pub issued_at: i64,
    pub issuer_skew_secs: i64,
    /// The message when it was used already.
    pub message: &'static str,
    /// The message when it was issued before the claim horizon.
    pub uncertain_message: &'static str,
}

/// A verified federated identity asking for a role.
pub struct FederatedRequest<'a> {
    pub role_arn: &'a str,
    pub session_name: String,
    /// `sts:AssumeRoleWithSAML` or `sts:AssumeRoleWithWebIdentity`.
    pub action: &'static str,
    pub principal: RequestPrincipal,
    /// `aws:FederatedProvider` (the provider ARN).
    pub provider: String,
    /// Provider condition keys (`saml:*`, `HOST/PATH:sub`, …).
    pub keys: Vec<(String, Vec<String>)>,
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
    /// The identity provider's own end of the session (SAML `SessionNotOnOrAfter`): the
    /// session ends at it when it is earlier than `DurationSeconds` says. (The SAML
    /// `SessionDuration` attribute is for console sessions and, as in AWS, does not shorten
    /// API credentials; a web identity token's `exp` never does either.)
    pub not_after: Option<i64>,
    pub kind: SessionKind,
    /// What the tags and source identity came from, for messages ("SAML assertion", …).
    pub origin: &'static str,
    pub one_time: Option<OneTimeUse>,
}

pub struct FederatedSession {
    pub credentials: IssuedCredentials,
    pub assumed_role_id: String,
    pub arn: String,
    pub packed_policy_size: i64,
    pub source_identity: Option<String>,
}

fn not_authorized(action: &str) -> ApiError {
    ApiError::access_denied(format!("Not authorized to perform {action}"))
}

fn invalid_token(msg: impl Into<String>) -> ApiError {
    ApiError::new("InvalidIdentityToken", http::StatusCode::BAD_REQUEST, msg)
}

fn tag_chars_ok(s: &str) -> bool {
    s.chars().all(|c| CharRule::TagChars.allows(c))
}

/// The provider's session tags, transitive keys and source identity follow the same rules as
/// AssumeRole's `Tags`, `TransitiveTagKeys` and `SourceIdentity`. They come from a signed
/// token, so a violation is the token's fault: `InvalidIdentityToken`, naming the rule (never
/// echoing the values).
fn check_provider_claims(req: &FederatedRequest<'_>) -> ApiResult<()> {
    let origin = req.origin;
    if req.tags.len() > MAX_SESSION_TAGS {
        return Err(invalid_token(format!(
            "The {origin} carries {} session tags; at most {MAX_SESSION_TAGS} are allowed",
            req.tags.len()
        )));
    }
    for (i, (k, v)) in req.tags.iter().enumerate() {
        let n = k.chars().count();
        if n == 0 || n > MAX_TAG_KEY_CHARS || !tag_chars_ok(k) {
            return Err(invalid_token(format!(
                "A session tag key in the {origin} is invalid: keys must be 1-{MAX_TAG_KEY_CHARS} characters of {}",
                CharRule::TagChars.pattern()
            )));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_token(format!(
                "A session tag key in the {origin} uses the reserved prefix aws:"
            )));
        }
        if v.chars().count() > MAX_TAG_VALUE_CHARS || !tag_chars_ok(v) {
            return Err(invalid_token(format!(
                "The value of session tag {k} in the {origin} is invalid: values must be at most {MAX_TAG_VALUE_CHARS} characters of {}",
                CharRule::TagChars.pattern()
            )));
        }
        if req.tags[..i].iter().any(|(o, _)| o.eq_ignore_ascii_case(k)) {
            return Err(invalid_token(format!(
                "The {origin} carries session tag {k} more than once (tag keys are case-insensitive)"
            )));
        }
    }
    if req.transitive_tag_keys.len() > MAX_SESSION_TAGS {
        return Err(invalid_token(format!(
            "The {origin} names more than {MAX_SESSION_TAGS} transitive tag keys"
        )));
    }
    for t in &req.transitive_tag_keys {
        if !req.tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(t)) {
            return Err(invalid_token(format!(
                "A transitive tag key in the {origin} is not one of its session tags"
            )));
        }
    }
    if let Some(si) = &req.source_identity {
        let n = si.chars().count();
        if !(2..=64).contains(&n) || !si.chars().all(|c| CharRule::NameChars.allows(c)) {
            return Err(invalid_token(format!(
                "The source identity in the {origin} must be 2-64 characters of [\\w+=,.@-]"
            )));
        }
        if si.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_token(format!(
                "The source identity in the {origin} must not begin with the reserved prefix aws:"
            )));
        }
    }
    Ok(())
}

pub async fn assume_federated(
    cx: &ActionCtx<'_>,
    p: &Params,
    req: FederatedRequest<'_>,
) -> ApiResult<FederatedSession> {
    let mut v = Violations::new();
    let duration = v.int(p, "DurationSeconds", false, MIN_DURATION, MAX_DURATION);
    v.into_result()?;
    check_provider_claims(&req)?;
    let mut params: SessionParams = parse_session_params(cx, p, POLICY_MAX_CHARS, false).await?;
    // Tags come from the provider, never from parameters.
    params.tags = req
        .tags
        .iter()
        .map(|(k, v)| Tag {
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    params.transitive_tag_keys = req.transitive_tag_keys.clone();

    let Some((account, _, role_name)) = parse_role_arn(req.role_arn) else {
        return Err(ApiError::validation(format!(
            "{} is invalid: RoleArn must be an IAM role ARN",
            req.role_arn
        )));
    };
    let Some(role) = authz::role_doc(cx.state, &account, &role_name).await? else {
        return Err(not_authorized(req.action));
    };
    let role_arn = role.arn(&account);
    if role_arn != req.role_arn {
        return Err(not_authorized(req.action));
    }
    let duration = duration.unwrap_or(DEFAULT_DURATION);
    if duration > role.max_session_duration {
        return Err(ApiError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    let mut expires = cx.now + duration;
    if let Some(end) = req.not_after {
        expires = expires.min(end);
    }
    if expires <= cx.now {
        return Err(ApiError::new(
            "ExpiredTokenException",
            http::StatusCode::BAD_REQUEST,
            "The identity provider's session has already ended",
        ));
    }
    let packed = params.packed_size_percent(&[])?;

    // The trust policy alone decides for a federated principal.
    let Some(trust) = authz::parse_cached(cx.state, &role.assume_role_policy, PolicyKind::Trust)
    else {
        return Err(not_authorized(req.action));
    };
    let trust_id = format!("{role_arn}#trust");
    // RCPs of the role's (member) account must not deny; service-linked roles are exempt.
    let rcps = if role.path.starts_with(authz::SERVICE_ROLE_PATH) {
        Vec::new()
    } else {
        crate::org::rcp_levels(cx.state, &account, req.action).await?
    };
    let rcp_refs: Vec<Vec<PolicyRef<'_>>> = rcps
        .iter()
        .map(|level| {
            level
                .iter()
                .map(|p| PolicyRef::new(&p.id, &p.policy))
                .collect()
        })
        .collect();
    let rcp_levels: Vec<&[PolicyRef<'_>]> = rcp_refs.iter().map(Vec::as_slice).collect();
    let mut actions = vec![req.action];
    if !params.tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if req.source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    for action in actions {
        let mut ctx = authz::base_context(cx, req.principal.clone(), action, &role_arn)
            .with_resource_account(account.clone())
            .with_federated_provider(req.provider.clone());
        ctx = crate::actions::sts::assume_role::add_request_keys(
            ctx,
            &role,
            &req.session_name,
            &params,
            req.source_identity.as_deref(),
        );
        for (k, vals) in &req.keys {
            ctx = ctx.with_values(k.clone(), vals.clone());
        }
        let input = opensts_policy::EvaluationInput {
            resource: Some(PolicyRef::new(&trust_id, &trust)),
            rcps: &rcp_levels,
            ..Default::default()
        };
        if !opensts_policy::evaluate(&input, &ctx).allowed() {
            return Err(not_authorized(action));
        }
    }

    let principal = Principal::AssumedRole {
        account_id: account.clone(),
        role_name: role.name.clone(),
        role_path: role.path.clone(),
        role_id: role.role_id.clone(),
        session_name: req.session_name.clone(),
    };
    let assumed_role_id = principal.user_id();
    let arn = principal.arn();
    let mut claims = SessionClaims::new(principal, Secret::default(), req.kind, cx.now, expires);
    claims.federated_provider = Some(req.provider.clone());
    claims.source_identity = req.source_identity.clone();
    claims.tags = req.tags.clone();
    claims.transitive_tag_keys = req.transitive_tag_keys.clone();
    claims.session_policies = params.policy.iter().map(|p| p.to_string()).collect();
    claims.session_policy_arns = params.policy_arns.clone();
    if let Some(once) = &req.one_time {
        if cx
            .state
            .issued_before_claims_horizon(once.issued_at, once.issuer_skew_secs)
        {
            return Err(invalid_token(once.uncertain_message));
        }
        let claimed = cx
            .state
            .store
            .claim_once(once.scope, &once.id, once.expires_at, cx.now)
            .await?;
        if !claimed {
            return Err(invalid_token(once.message));
        }
    }
    let credentials = issue(cx, claims)?;
    Ok(FederatedSession {
        credentials,
        assumed_role_id,
        arn,
        packed_policy_size: packed,
        source_identity: req.source_identity,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn req(
        tags: &[(&str, &str)],
        transitive: &[&str],
        si: Option<&str>,
    ) -> FederatedRequest<'static> {
        FederatedRequest {
            role_arn: "arn:aws:iam::123456789012:role/R",
            session_name: "s".into(),
            action: "sts:AssumeRoleWithSAML",
            principal: RequestPrincipal::saml("arn:aws:iam::123456789012:saml-provider/P"),
            provider: "arn:aws:iam::123456789012:saml-provider/P".into(),
            keys: vec![],
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            transitive_tag_keys: transitive.iter().map(|s| s.to_string()).collect(),
            source_identity: si.map(str::to_string),
            not_after: None,
            kind: SessionKind::Saml,
            origin: "SAML assertion",
            one_time: None,
        }
    }

    fn refused(r: FederatedRequest<'_>) -> String {
        let e = check_provider_claims(&r).unwrap_err();
        assert_eq!(e.code, "InvalidIdentityToken");
        e.message.clone()
    }

    #[test]
    fn good_claims_pass() {
        check_provider_claims(&req(
            &[
                ("Department", "Engineering"),
                ("cost-center", "12 34:/=+-@_."),
            ],
            &["department"],
            Some("alice@example.org"),
        ))
        .unwrap();
        check_provider_claims(&req(&[("Empty", "")], &[], None)).unwrap();
    }

    #[test]
    fn bad_claims_are_refused_naming_the_rule() {
        assert!(refused(req(&[("a;b", "v")], &[], None)).contains("tag key"));
        assert!(refused(req(&[("", "v")], &[], None)).contains("tag key"));
        assert!(refused(req(&[(&"k".repeat(129), "v")], &[], None)).contains("tag key"));
        assert!(refused(req(&[("aws:x", "v")], &[], None)).contains("aws:"));
        assert!(refused(req(&[("k", "semi;colon")], &[], None)).contains("value"));
        assert!(refused(req(&[("k", &"v".repeat(257))], &[], None)).contains("value"));
        assert!(refused(req(&[("K", "1"), ("k", "2")], &[], None)).contains("more than once"));
        assert!(refused(req(&[("K", "1")], &["Other"], None)).contains("transitive"));
        assert!(refused(req(&[], &[], Some("a"))).contains("source identity"));
        assert!(refused(req(&[], &[], Some("has space"))).contains("source identity"));
        assert!(refused(req(&[], &[], Some("aws:me"))).contains("source identity"));
        let many: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        let mut r = req(&[], &[], None);
        r.tags = many;
        assert!(refused(r).contains("at most 50"));
    }
}
