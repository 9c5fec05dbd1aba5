//! AddUserToGroup: idempotent; at most 10 groups per user. The group document is rewritten
//! at the version read together with the user, so a concurrent DeleteGroup cannot leave the
//! user in a group that no longer exists.

use opensts_store::StoreError;

use crate::actions::iam::MAX_WRITE_ATTEMPTS;
use crate::actions::iam::groups::{
    MAX_GROUPS_PER_USER, concurrent, group_name, is_member, load_group, load_user,
    member_user_name, put_at_version,
};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{KIND_GROUP, KIND_USER};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let group = group_name(&mut v, p, "GroupName", true);
    let user = member_user_name(&mut v, p);
    v.into_result()?;
    let (group, user) = (group.unwrap_or_default(), user.unwrap_or_default());
    let account = caller.account_id();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let (g, gv) = load_group(cx, caller, group).await?;
        let (mut u, uv) = load_user(cx, account, user).await?;
        if is_member(&u, &g.name) {
            return Ok(None);
        }
        if u.groups.len() >= MAX_GROUPS_PER_USER {
            return Err(ApiError::limit_exceeded(format!(
                "Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}"
            )));
        }
        u.groups.push(g.name.clone());
        let writes = [
            put_at_version(KIND_GROUP, &g.name, &g, gv)?,
            put_at_version(KIND_USER, &u.name, &u, uv)?,
        ];
        match cx.state.store.apply(account, &writes, cx.now).await {
            Ok(()) => return Ok(None),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(concurrent())
}
