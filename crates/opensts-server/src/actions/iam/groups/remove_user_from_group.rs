//! RemoveUserFromGroup.

use opensts_store::StoreError;

use crate::actions::iam::MAX_WRITE_ATTEMPTS;
use crate::actions::iam::groups::{
    concurrent, group_name, is_member, load_group, load_user, member_user_name, put_at_version,
};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::KIND_USER;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let group = group_name(&mut v, p, "GroupName", true);
    let user = member_user_name(&mut v, p);
    v.into_result()?;
    let (group, user) = (group.unwrap_or_default(), user.unwrap_or_default());
    let account = caller.account_id();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let (g, _) = load_group(cx, caller, group).await?;
        let (mut u, uv) = load_user(cx, account, user).await?;
        if !is_member(&u, &g.name) {
            return Err(ApiError::no_such_entity(format!(
                "User {} is not in group {}.",
                u.name, g.name
            )));
        }
        u.groups.retain(|n| !n.eq_ignore_ascii_case(&g.name));
        let write = put_at_version(KIND_USER, &u.name, &u, uv)?;
        match cx.state.store.apply(account, &[write], cx.now).await {
            Ok(()) => return Ok(None),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(concurrent())
}
