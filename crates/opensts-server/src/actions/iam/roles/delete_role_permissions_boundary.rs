//! DeleteRolePermissionsBoundary: remove a role's permissions boundary (a role without one
//! is left as it is).

use crate::actions::iam::roles::{modify_role, role_name};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = role_name(&mut v, p);
    v.into_result()?;
    modify_role(cx, caller, name.unwrap_or_default(), |role| {
        role.permissions_boundary = None;
        Ok(())
    })
    .await?;
    Ok(None)
}
