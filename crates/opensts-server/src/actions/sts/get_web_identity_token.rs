//! GetWebIdentityToken: a signed JWT asserting the caller's identity, for external services
//! that trust this server as an OpenID Connect issuer (outbound web identity federation).
//!
//! * `Audience` (1–10 of 1–1000 characters; `aud`), `SigningAlgorithm` (`RS256` | `ES384`),
//!   `DurationSeconds` (60–3600, default 300), `Tags` (≤ 50 request tags → claims).
//! * The account must have enabled the feature (IAM `EnableOutboundWebIdentityFederation`),
//!   else `OutboundWebIdentityFederationDisabledException` (403).
//! * Needs `sts:GetWebIdentityToken` on `*`, with the condition keys
//!   `sts:IdentityTokenAudience` (every audience), `sts:DurationSeconds` (the token lifetime),
//!   `sts:SigningAlgorithm`, and `aws:RequestTag/<key>` / `aws:TagKeys` for the tags.
//! * With temporary credentials the token may not outlive the session: an explicit
//!   `DurationSeconds` past the session's expiry is `SessionDurationEscalationException`
//!   (403); the default lifetime is shortened to the session's instead. Credentials from
//!   `GetSessionToken` and `GetFederationToken` may not call it (AWS's credential-type
//!   table: those sessions call only `AssumeRole` / `GetCallerIdentity`).
//! * The claim set is built by [`crate::oidc_issuer::TokenClaims`]; a payload over
//!   [`crate::oidc_issuer::MAX_JWT_PAYLOAD_BYTES`] is `JWTPayloadSizeExceededException` (400).

use opensts_core::principal::Principal;
use opensts_core::token::SessionKind;

use crate::actions::iam::parse_tags;
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::oidc_issuer::{SigningAlg, TokenClaims, issue_token, outbound_setting};
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Params, Violations};

pub const MIN_DURATION: i64 = 60;
pub const MAX_DURATION: i64 = crate::oidc_issuer::MAX_TOKEN_DURATION_SECS;
pub const DEFAULT_DURATION: i64 = 300;
/// Most `Audience` members.
pub const MAX_AUDIENCES: usize = 10;
/// Longest audience.
pub const MAX_AUDIENCE_CHARS: usize = 1000;

const ACTION: &str = "sts:GetWebIdentityToken";

/// `OutboundWebIdentityFederationDisabledException` (403).
pub fn federation_disabled() -> ApiError {
    ApiError::new(
        "OutboundWebIdentityFederationDisabledException",
        http::StatusCode::FORBIDDEN,
        "The outbound web identity federation feature is not enabled for this account. Enable it with the IAM EnableOutboundWebIdentityFederation operation.",
    )
}

/// `SessionDurationEscalationException` (403).
pub fn duration_escalation(requested: i64, remaining: i64) -> ApiError {
    ApiError::new(
        "SessionDurationEscalationException",
        http::StatusCode::FORBIDDEN,
        format!(
            "The requested token duration of {requested} seconds would extend the session beyond its original expiration time ({remaining} seconds remaining)."
        ),
    )
}

fn parse_audiences(v: &mut Violations, p: &Params) -> ApiResult<Vec<String>> {
    let list = p.list("Audience")?;
    let Some(list) = list else {
        v.add(None, "Audience", "Member must not be null");
        return Ok(Vec::new());
    };
    if list.is_empty() || list.len() > MAX_AUDIENCES {
        v.add(
            Some(&format!("{} audiences", list.len())),
            "Audience",
            &format!(
                "Member must have length less than or equal to {MAX_AUDIENCES}, Member must have length greater than or equal to 1"
            ),
        );
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for a in list {
        let n = a.chars().count();
        if n == 0 || n > MAX_AUDIENCE_CHARS {
            v.add(
                Some(&a),
                "Audience.member",
                &format!(
                    "Member must have length less than or equal to {MAX_AUDIENCE_CHARS}, Member must have length greater than or equal to 1"
                ),
            );
        } else if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

/// The `sub` of the caller's tokens: its principal ARN; for role sessions the role's ARN
/// (as AWS does: the session name is not part of the subject).
pub fn subject(principal: &Principal) -> String {
    principal.role_arn().unwrap_or_else(|| principal.arn())
}

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let audiences = parse_audiences(&mut v, p)?;
    let duration = v.int(p, "DurationSeconds", false, MIN_DURATION, MAX_DURATION);
    let alg = v
        .string(p, "SigningAlgorithm", true, 5, 5, None)
        .map(|s| (s, SigningAlg::parse(s)));
    if let Some((s, None)) = alg {
        v.add(
            Some(s),
            "SigningAlgorithm",
            "Member must satisfy enum value set: [RS256, ES384]",
        );
    }
    v.into_result()?;
    let Some((_, Some(alg))) = alg else {
        return Err(ApiError::internal());
    };
    let tags = parse_tags(p)?;
    if tags
        .iter()
        .any(|t| t.key.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(ApiError::invalid_parameter_value(
            "Tag keys may not start with the reserved prefix aws:",
        ));
    }

    // Credential types that may not call it at all.
    let session = caller.session();
    if let Some(s) = session
        && matches!(
            s.kind,
            SessionKind::FederationToken | SessionKind::SessionToken
        )
    {
        let from = match s.kind {
            SessionKind::FederationToken => "GetFederationToken",
            _ => "GetSessionToken",
        };
        return Err(ApiError::access_denied(format!(
            "User: {} is not authorized to perform: {ACTION} on resource: * because credentials from {from} cannot call it",
            caller.principal().arn()
        )));
    }

    // The lifetime: an explicit duration may not outlive the calling session; the default
    // is shortened to it.
    let mut lifetime = duration.unwrap_or(DEFAULT_DURATION);
    if let Some(s) = session {
        let remaining = s.exp - cx.now;
        if lifetime > remaining {
            match duration {
                Some(d) => return Err(duration_escalation(d, remaining)),
                None => lifetime = remaining.max(1),
            }
        }
    }

    let lifetime_text = lifetime.to_string();
    let tag_keys: Vec<String> = tags.iter().map(|t| t.key.clone()).collect();
    authz::authorize(cx, caller, ACTION, "*", |ctx| {
        let mut ctx = ctx
            .with_values("sts:IdentityTokenAudience", audiences.iter().cloned())
            .with_key("sts:DurationSeconds", lifetime_text.clone())
            .with_key("sts:SigningAlgorithm", alg.as_str());
        for t in &tags {
            ctx = ctx.with_request_tag(&t.key, t.value.clone());
        }
        if !tag_keys.is_empty() {
            ctx = ctx.with_values("aws:TagKeys", tag_keys.iter().cloned());
        }
        ctx
    })
    .await?;

    let account = caller.account_id();
    match outbound_setting(cx.state, account).await? {
        Some(s) if s.enabled => {}
        _ => return Err(federation_disabled()),
    }

    let principal_tags = if caller.is_root() {
        Vec::new()
    } else {
        authz::principal_policies(cx.state, caller)
            .await?
            .principal_tags
    };
    let claims = TokenClaims {
        issuer: cx.state.oidc_issuer.issuer(account),
        subject: subject(caller.principal()),
        audiences,
        issued_at: cx.now,
        expires_at: cx.now + lifetime,
        jti: uuid::Uuid::new_v4().to_string(),
        account_id: account.to_string(),
        region: cx.state.config.region.clone(),
        principal_tags,
        request_tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
        source_identity: session.and_then(|s| s.source_identity.clone()),
    };
    let token = issue_token(cx.state, alg, &claims, cx.now).await?;
    let mut x = Xml::new();
    x.elem("WebIdentityToken", &token)
        .elem("Expiration", &timestamp(claims.expires_at));
    Ok(Some(x.into_string()))
}
