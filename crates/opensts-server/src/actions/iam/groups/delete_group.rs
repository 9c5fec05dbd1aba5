//! DeleteGroup: refused with DeleteConflict while the group has members or policies, as in
//! AWS. Deleted only at the version checked, so a member added meanwhile is seen on retry.

use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::MAX_WRITE_ATTEMPTS;
use crate::actions::iam::groups::{concurrent, group_name, load_group, members};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::KIND_GROUP;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = group_name(&mut v, p, "GroupName", true);
    v.into_result()?;
    let name = name.unwrap_or_default();
    let account = caller.account_id();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let (g, gv) = load_group(cx, caller, name).await?;
        if !members(cx, account, &g.name).await?.is_empty() {
            return Err(ApiError::delete_conflict(
                "Cannot delete entity, must remove users from group first.",
            ));
        }
        if !g.inline_policies.is_empty() {
            return Err(ApiError::delete_conflict(
                "Cannot delete entity, must delete policies first.",
            ));
        }
        if !g.attached_policies.is_empty() {
            return Err(ApiError::delete_conflict(
                "Cannot delete entity, must detach all policies first.",
            ));
        }
        let write = Write::DeleteEntity {
            kind: KIND_GROUP.to_string(),
            name: g.name.clone(),
            expect: Expect::Version(gv),
        };
        match cx.state.store.apply(account, &[write], cx.now).await {
            Ok(()) => return Ok(None),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(concurrent())
}
