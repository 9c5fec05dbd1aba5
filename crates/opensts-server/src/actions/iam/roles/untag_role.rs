//! UntagRole: remove tags from a role by key (keys it does not have are ignored).

use crate::actions::iam::roles::{modify_role, role_name};
use crate::actions::iam::{parse_tag_keys, remove_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = role_name(&mut v, p);
    v.into_result()?;
    let keys = parse_tag_keys(p)?;
    modify_role(cx, caller, name.unwrap_or_default(), |role| {
        remove_tags(&mut role.tags, &keys);
        Ok(())
    })
    .await?;
    Ok(None)
}
