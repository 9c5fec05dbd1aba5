//! GetScopedCredentials: new credentials for the *same* session (same principal, session name,
//! tags, source identity), narrowed by a scope-down `Policy` and/or a shorter lifetime.
//!
//! * Temporary credentials only: long-term keys (IAM users, root) get
//!   `InvalidSubjectCredentials` (400).
//! * `Policy` (1–2048 characters, a session policy) becomes a new scope-down layer of the
//!   session; every layer must allow (they intersect, see `opensts_policy::EvaluationInput::
//!   scope_layers`). At most [`MAX_SCOPE_LAYERS`]: a fourth layer is `AccessDenied`.
//! * `DurationSeconds` (1–129600) may not reach past the caller's expiry
//!   (`InsufficientSessionLifetime`, 400); without it the caller's expiry is kept.
//!   At least one of `Policy` and `DurationSeconds` is required (`ValidationError`).
//! * `MinimumSessionTokenSize` (0–4096) pads the session token to at least that many bytes;
//!   a token over [`opensts_core::token::MAX_TOKEN_LEN`] is `PackedPolicyTooLarge`.
//! * `ScopedSessionDescription` (2–256 characters) is recorded in the audit trail only.
//! * Needs `sts:GetScopedCredentials` on `*` from the calling session's own permissions
//!   (including its earlier layers), with `sts:DurationSeconds` when a duration is given.

use opensts_core::token::{self, MAX_TOKEN_LEN, SessionClaims};

use crate::actions::sts::session::compact_json;
use crate::actions::sts::{IssuedCredentials, write_credentials};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

pub const MIN_DURATION: i64 = 1;
pub const MAX_DURATION: i64 = 129_600;
/// Longest scope-down policy (characters).
pub const MAX_POLICY_CHARS: usize = 2048;
/// Most scope-down layers one session may carry.
pub const MAX_SCOPE_LAYERS: usize = 3;
/// Largest `MinimumSessionTokenSize`.
pub const MAX_MINIMUM_TOKEN_SIZE: i64 = 4096;
/// `ScopedSessionDescription` length bounds.
pub const MIN_DESCRIPTION_CHARS: usize = 2;
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// Where the token padding lives in the claims (ignored by every reader).
const PAD_CLAIM: &str = "pad";

const ACTION: &str = "sts:GetScopedCredentials";

/// `InvalidSubjectCredentials` (400).
fn invalid_subject() -> ApiError {
    ApiError::new(
        "InvalidSubjectCredentials",
        http::StatusCode::BAD_REQUEST,
        "GetScopedCredentials can only be called with temporary security credentials.",
    )
}

/// `InsufficientSessionLifetime` (400).
fn insufficient_lifetime(requested: i64, remaining: i64) -> ApiError {
    ApiError::new(
        "InsufficientSessionLifetime",
        http::StatusCode::BAD_REQUEST,
        format!(
            "The requested DurationSeconds ({requested}) is greater than the remaining lifetime of the calling session ({remaining} seconds)."
        ),
    )
}

/// `PackedPolicyTooLarge` (400) for a token of `size` bytes.
fn token_too_large(size: usize) -> ApiError {
    ApiError::new(
        "PackedPolicyTooLarge",
        http::StatusCode::BAD_REQUEST,
        format!(
            "The session token would be {size} bytes, more than the maximum of {MAX_TOKEN_LEN} bytes."
        ),
    )
}

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let policy = v.string(
        p,
        "Policy",
        false,
        1,
        MAX_POLICY_CHARS,
        Some(CharRule::PolicyChars),
    );
    let duration = v.int(p, "DurationSeconds", false, MIN_DURATION, MAX_DURATION);
    let min_size = v.int(
        p,
        "MinimumSessionTokenSize",
        false,
        0,
        MAX_MINIMUM_TOKEN_SIZE,
    );
    // recorded by the audit trail from the request parameters; only validated here
    let _description = v.string(
        p,
        "ScopedSessionDescription",
        false,
        MIN_DESCRIPTION_CHARS,
        MAX_DESCRIPTION_CHARS,
        Some(CharRule::PolicyChars),
    );
    v.into_result()?;
    if policy.is_none() && duration.is_none() {
        return Err(ApiError::validation(
            "A request must provide at least one of Policy or DurationSeconds.",
        ));
    }

    let Some(session) = caller.session() else {
        return Err(invalid_subject());
    };
    let remaining = session.exp - cx.now;
    if let Some(d) = duration
        && d > remaining
    {
        return Err(insufficient_lifetime(d, remaining));
    }

    let duration_text = duration.map(|d| d.to_string());
    authz::authorize(cx, caller, ACTION, "*", |ctx| match &duration_text {
        Some(d) => ctx.with_key("sts:DurationSeconds", d.clone()),
        None => ctx,
    })
    .await?;

    let mut claims: SessionClaims = session.clone();
    if let Some(doc) = policy {
        opensts_policy::Policy::parse(doc, opensts_policy::PolicyKind::Session)
            .map_err(|e| ApiError::malformed_policy_document(e.message()))?;
        if claims.scope_layers.len() >= MAX_SCOPE_LAYERS {
            return Err(ApiError::access_denied(format!(
                "User: {} is not authorized to perform: {ACTION} because the session already has {MAX_SCOPE_LAYERS} scope-down policies, the maximum",
                caller.principal().arn()
            )));
        }
        claims.scope_layers.push(compact_json(doc));
    }
    claims.tid = token::new_token_id();
    claims.iat = cx.now;
    if let Some(d) = duration {
        claims.exp = cx.now + d;
    }
    claims.extra.remove(PAD_CLAIM);
    let layers = claims.scope_layers.len();
    let source_identity = claims.source_identity.clone();
    let creds = issue_padded(
        cx,
        claims,
        usize::try_from(min_size.unwrap_or(0)).unwrap_or(0),
    )?;

    let principal = caller.principal();
    let size = creds.session_token.len();
    let utilization = (size * 100).div_ceil(MAX_TOKEN_LEN);
    let mut x = Xml::new();
    write_credentials(&mut x, &creds);
    x.open("SessionInfo")
        .elem("ScopedSessionId", &principal.user_id())
        .elem("Arn", &principal.arn())
        .close("SessionInfo");
    x.num(
        "SessionTokenUtilization",
        i64::try_from(utilization).unwrap_or(i64::MAX),
    )
    .num("SessionTokenSize", i64::try_from(size).unwrap_or(i64::MAX))
    .num(
        "ScopedPoliciesCount",
        i64::try_from(layers).unwrap_or(i64::MAX),
    );
    if let Some(si) = &source_identity {
        x.elem("SourceIdentity", si);
    }
    Ok(Some(x.into_string()))
}

/// Issue credentials whose token is at least `min_size` bytes (padding inside the sealed
/// claims), and at most [`MAX_TOKEN_LEN`].
fn issue_padded(
    cx: &ActionCtx<'_>,
    claims: SessionClaims,
    min_size: usize,
) -> ApiResult<IssuedCredentials> {
    // base64 turns 3 bytes into 4; a couple of rounds always reach the target
    const MAX_ROUNDS: usize = 4;
    let mut pad = 0usize;
    for _ in 0..MAX_ROUNDS {
        let mut c = claims.clone();
        if pad > 0 {
            c.extra.insert(
                PAD_CLAIM.to_string(),
                serde_json::Value::String("0".repeat(pad)),
            );
        }
        let creds = crate::actions::sts::issue(cx, c)?;
        let size = creds.session_token.len();
        if size > MAX_TOKEN_LEN {
            return Err(token_too_large(size));
        }
        if size >= min_size {
            return Ok(creds);
        }
        // the pad claim's own framing (`,"pad":""`) is covered by the extra rounds
        pad += (min_size - size).div_ceil(4) * 3;
    }
    Err(ApiError::internal())
}
