//! GetPolicyVersion: one version of a managed policy, with its document (URL-encoded, as IAM
//! returns documents). AWS managed policies have their default version.

use crate::actions::iam::policies::{
    ManagedPolicy, authorize_policy, find_policy, policy_arn, policy_not_found, version_id,
    write_policy_version,
};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

/// `NoSuchEntity` for a version a policy does not have.
pub fn no_such_version(arn: &str, version: &str) -> ApiError {
    ApiError::no_such_entity(format!(
        "Policy {arn} version {version} does not exist or is not attachable."
    ))
}

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = policy_arn(&mut v, p);
    let version = version_id(&mut v, p);
    v.into_result()?;
    let (Some(arn), Some(version)) = (arn, version) else {
        return Err(ApiError::internal());
    };
    let account = caller.account_id();
    authorize_policy(cx, caller, arn).await?;
    let Some(policy) = find_policy(cx, account, arn).await? else {
        return Err(policy_not_found(arn));
    };
    let (document, is_default, created) = match &policy {
        ManagedPolicy::Aws(a) if a.default_version_id == version => {
            (a.document.to_string(), true, a.update_date)
        }
        ManagedPolicy::Aws(_) => return Err(no_such_version(arn, version)),
        ManagedPolicy::Local(d, _) => {
            let Some(found) = d.versions.iter().find(|v| v.version_id == version) else {
                return Err(no_such_version(arn, version));
            };
            (
                found.document.clone(),
                d.default_version_id == version,
                found.create_date,
            )
        }
    };
    let mut x = Xml::new();
    x.open("PolicyVersion");
    write_policy_version(&mut x, Some(&document), version, is_default, created);
    x.close("PolicyVersion");
    Ok(Some(x.into_string()))
}
