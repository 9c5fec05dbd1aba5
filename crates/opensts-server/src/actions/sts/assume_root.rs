//! AssumeRoot: a short privileged session as the root user of a member account of the
//! organization, scoped by one of AWS's root-task policies. Only principals of the management
//! account (not its root user) may call it, and their policies must allow `sts:AssumeRoot`
//! on `arn:aws:iam::<member>:root` (condition key `sts:TaskPolicyArn`).
//!
//! The session's principal is the member's root (`arn:aws:iam::<member>:root`); its session
//! policies are root's implicit allow-all plus the (deny-only) task policy, and the member
//! account's SCPs still apply.

use opensts_core::arn::{Arn, root_arn};
use opensts_core::principal::Principal;
use opensts_core::secret::Secret;
use opensts_core::token::{SessionClaims, SessionKind};

use crate::actions::sts::root_task::{ROOT_SESSION_ALLOW_ALL, task_policy};
use crate::actions::sts::{issue, write_credentials};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

/// Longest privileged root session (seconds), also the default.
pub const MAX_DURATION: i64 = 900;
/// Shortest (AWS accepts 0).
pub const MIN_DURATION: i64 = 0;

/// `TargetPrincipal`: an account id or `arn:aws:iam::<account>:root` → the account id.
fn target_account(target: &str) -> Option<String> {
    if opensts_core::ids::is_valid_account_id(target) {
        return Some(target.to_string());
    }
    let a = Arn::parse(target).ok()?;
    (a.service == "iam"
        && a.resource == "root"
        && opensts_core::ids::is_valid_account_id(&a.account))
    .then(|| a.account.clone())
}

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let target = v.string(
        p,
        "TargetPrincipal",
        true,
        12,
        2048,
        Some(CharRule::ArnChars),
    );
    let task_arn = v.string(
        p,
        "TaskPolicyArn.arn",
        true,
        20,
        2048,
        Some(CharRule::ArnChars),
    );
    let duration = v.int(p, "DurationSeconds", false, MIN_DURATION, MAX_DURATION);
    v.into_result()?;
    let (Some(target), Some(task_arn)) = (target, task_arn) else {
        return Err(ApiError::internal());
    };
    let Some(member) = target_account(target) else {
        return Err(ApiError::validation(format!(
            "{target} is invalid: TargetPrincipal must be an account id or an account root ARN"
        )));
    };
    let Some(task_doc) = task_policy(task_arn) else {
        return Err(ApiError::validation(format!(
            "{task_arn} is not a valid TaskPolicyArn: use one of the arn:aws:iam::aws:policy/root-task/ policies"
        )));
    };
    let resource = root_arn(&member);
    let denied = || {
        ApiError::access_denied(format!(
            "User: {} is not authorized to perform: sts:AssumeRoot on resource: {resource}",
            caller.principal().arn()
        ))
    };
    // Root user credentials may not call it; only the management account's principals may.
    if caller.is_root() || !crate::org::is_management(cx.state, caller.account_id()) {
        return Err(denied());
    }
    // The organization, not a resource-based policy, lets the management account act on its
    // members: the caller's own policies decide, as for a request in its own account.
    let own_account = caller.account_id().to_string();
    authz::authorize(cx, caller, "sts:AssumeRoot", &resource, |c| {
        c.with_resource_account(own_account)
            .with_key("sts:TaskPolicyArn", task_arn)
    })
    .await?;
    // Only member accounts (not the management account itself, not unknown ids).
    if crate::org::is_management(cx.state, &member)
        || cx.state.store.get_account(&member).await?.is_none()
    {
        return Err(denied());
    }

    let duration = duration.unwrap_or(MAX_DURATION);
    let mut claims = SessionClaims::new(
        Principal::Root {
            account_id: member.clone(),
        },
        Secret::default(),
        SessionKind::Root,
        cx.now,
        cx.now + duration,
    );
    // Inline session policies, so that a node that does not know root sessions still limits
    // the session to the task.
    claims.session_policies = vec![ROOT_SESSION_ALLOW_ALL.to_string(), task_doc.to_string()];
    claims.parent = Some(caller.principal().clone());
    claims.source_identity = caller.session().and_then(|s| s.source_identity.clone());
    claims.extra.insert(
        "task".to_string(),
        serde_json::Value::String(task_arn.to_string()),
    );
    let source_identity = claims.source_identity.clone();
    let creds = issue(cx, claims)?;
    let mut x = Xml::new();
    write_credentials(&mut x, &creds);
    x.opt("SourceIdentity", source_identity.as_deref());
    Ok(Some(x.into_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_an_account_id_or_root_arn() {
        assert_eq!(
            target_account("111122223333").as_deref(),
            Some("111122223333")
        );
        assert_eq!(
            target_account("arn:aws:iam::111122223333:root").as_deref(),
            Some("111122223333")
        );
        assert_eq!(target_account("arn:aws:iam::111122223333:user/x"), None);
        assert_eq!(target_account("11112222333"), None);
    }
}
