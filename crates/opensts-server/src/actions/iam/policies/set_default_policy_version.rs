//! SetDefaultPolicyVersion: make an existing version of a customer managed policy the one
//! that is in effect.

use crate::actions::iam::policies::get_policy_version::no_such_version;
use crate::actions::iam::policies::{load_local_policy, modify_policy, policy_arn, version_id};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = policy_arn(&mut v, p);
    let version = version_id(&mut v, p);
    v.into_result()?;
    let (Some(arn), Some(version)) = (arn, version) else {
        return Err(ApiError::internal());
    };
    let (policy, _) = load_local_policy(cx, caller, arn).await?;
    modify_policy(cx, caller.account_id(), &policy, |d| {
        if !d.versions.iter().any(|v| v.version_id == version) {
            return Err(no_such_version(arn, version));
        }
        d.default_version_id = version.to_string();
        Ok(())
    })
    .await?;
    Ok(None)
}
