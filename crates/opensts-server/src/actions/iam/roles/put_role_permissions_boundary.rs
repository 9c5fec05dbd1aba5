//! PutRolePermissionsBoundary: set (or replace) a role's permissions boundary, a managed
//! policy that must exist.

use crate::actions::iam::check_permissions_boundary;
use crate::actions::iam::roles::{load_role, modify_role, role_name};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{CharRule, Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = role_name(&mut v, p);
    let boundary = v.string(
        p,
        "PermissionsBoundary",
        true,
        20,
        2048,
        Some(CharRule::ArnChars),
    );
    v.into_result()?;
    let name = name.unwrap_or_default();
    let boundary = boundary.unwrap_or_default();
    // Authorize on (and find) the role before looking at the policy.
    load_role(cx, caller, name).await?;
    check_permissions_boundary(cx, caller.account_id(), boundary).await?;
    modify_role(cx, caller, name, |role| {
        role.permissions_boundary = Some(boundary.to_string());
        Ok(())
    })
    .await?;
    Ok(None)
}
