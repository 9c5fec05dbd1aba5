//! UpdateRole: change the description and/or the maximum session duration.

use crate::actions::iam::roles::{max_session_duration, modify_role, role_description, role_name};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = role_name(&mut v, p);
    let description = role_description(&mut v, p, false);
    let max_session = max_session_duration(&mut v, p);
    v.into_result()?;
    modify_role(cx, caller, name.unwrap_or_default(), |role| {
        if let Some(d) = description {
            role.description = Some(d.to_string());
        }
        if let Some(m) = max_session {
            role.max_session_duration = m;
        }
        Ok(())
    })
    .await?;
    // UpdateRoleResponse has an empty result element.
    Ok(Some(String::new()))
}
