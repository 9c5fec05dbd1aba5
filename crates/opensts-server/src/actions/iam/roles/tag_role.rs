//! TagRole: add or overwrite tags on a role (at most 50 in all).

use crate::actions::iam::roles::{modify_role, role_name};
use crate::actions::iam::{merge_tags, parse_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = role_name(&mut v, p);
    if p.struct_list("Tags")?.is_none() {
        v.add(None, "Tags", "Member must not be null");
    }
    v.into_result()?;
    let tags = parse_tags(p)?;
    modify_role(cx, caller, name.unwrap_or_default(), |role| {
        merge_tags(&mut role.tags, tags.clone(), "Role")
    })
    .await?;
    Ok(None)
}
