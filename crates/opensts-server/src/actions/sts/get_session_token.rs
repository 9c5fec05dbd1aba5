//! GetSessionToken: temporary credentials for the caller's own identity. Long-term credentials
//! only; 900–129600 s (default 43200); an account root's sessions are clamped to 3600 s.

use opensts_core::secret::Secret;
use opensts_core::token::{SessionClaims, SessionKind};

use crate::actions::sts::session::verify_caller_mfa;
use crate::actions::sts::{issue, write_credentials};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

pub const MIN_DURATION: i64 = 900;
pub const MAX_DURATION: i64 = 129_600;
pub const DEFAULT_DURATION: i64 = 43_200;
pub const ROOT_MAX_DURATION: i64 = 3_600;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let duration = v.int(p, "DurationSeconds", false, MIN_DURATION, MAX_DURATION);
    let serial = v.string(
        p,
        "SerialNumber",
        false,
        9,
        256,
        Some(CharRule::SerialNumber),
    );
    let code = v.string(p, "TokenCode", false, 6, 6, Some(CharRule::Digits));
    v.into_result()?;

    if caller.session().is_some() {
        return Err(ApiError::access_denied(
            "Cannot call GetSessionToken with session credentials",
        ));
    }
    let mfa_auth_time = verify_caller_mfa(cx, caller, serial, code).await?;
    let mut duration = duration.unwrap_or(DEFAULT_DURATION);
    if caller.is_root() {
        duration = duration.min(ROOT_MAX_DURATION);
    }
    let mut claims = SessionClaims::new(
        caller.principal().clone(),
        Secret::new(String::new()),
        SessionKind::SessionToken,
        cx.now,
        cx.now + duration,
    );
    claims.mfa_auth_time = mfa_auth_time;
    let creds = issue(cx, claims)?;
    let mut x = Xml::new();
    write_credentials(&mut x, &creds);
    Ok(Some(x.into_string()))
}
