//! UpdateRoleDescription: set the description; answers with the updated role.

use crate::actions::iam::roles::{RoleView, modify_role, role_description, role_name, write_role};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = role_name(&mut v, p);
    let description = role_description(&mut v, p, true);
    v.into_result()?;
    let description = description.unwrap_or_default();
    let role = modify_role(cx, caller, name.unwrap_or_default(), |role| {
        role.description = Some(description.to_string());
        Ok(())
    })
    .await?;
    let mut x = Xml::new();
    x.open("Role");
    write_role(&mut x, &role, caller.account_id(), RoleView::Full);
    x.close("Role");
    Ok(Some(x.into_string()))
}
