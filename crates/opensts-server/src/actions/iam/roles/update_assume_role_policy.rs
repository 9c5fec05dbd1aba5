//! UpdateAssumeRolePolicy: replace a role's trust policy (validated as a trust policy).

use crate::actions::iam::roles::{check_trust_policy, modify_role, policy_document, role_name};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = role_name(&mut v, p);
    let doc = policy_document(&mut v, p, "PolicyDocument");
    v.into_result()?;
    let doc = doc.unwrap_or_default();
    // The role is read (and the call authorized) before the document is judged.
    modify_role(cx, caller, name.unwrap_or_default(), |role| {
        check_trust_policy(doc)?;
        role.assume_role_policy = doc.to_string();
        Ok(())
    })
    .await?;
    Ok(None)
}
