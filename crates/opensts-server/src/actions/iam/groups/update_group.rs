//! UpdateGroup: rename a group and/or change its path. A rename moves the group document to
//! the new name and rewrites every member's membership list in the same atomic batch.

use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::groups::{concurrent, group_name, load_group, members, put_at_version};
use crate::actions::iam::{MAX_WRITE_ATTEMPTS, authorize, check_path};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{GroupDoc, KIND_GROUP, KIND_USER};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = group_name(&mut v, p, "GroupName", true);
    let new_path = check_path(&mut v, p, "NewPath");
    let new_name = group_name(&mut v, p, "NewGroupName", false);
    v.into_result()?;
    let name = name.unwrap_or_default();
    let account = caller.account_id();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let (old, gv) = load_group(cx, caller, name).await?;
        let updated = GroupDoc {
            name: new_name.unwrap_or(&old.name).to_string(),
            path: new_path.clone().unwrap_or_else(|| old.path.clone()),
            ..old.clone()
        };
        // The new name and path must be allowed too.
        authorize(cx, caller, &updated.arn(account)).await?;
        let same_key = updated.name.eq_ignore_ascii_case(&old.name);
        let mut writes = Vec::new();
        if same_key {
            writes.push(put_at_version(KIND_GROUP, &updated.name, &updated, gv)?);
        } else {
            if cx
                .state
                .store
                .get_entity(account, KIND_GROUP, &updated.name)
                .await?
                .is_some()
            {
                return Err(ApiError::entity_already_exists(format!(
                    "Group with name {} already exists.",
                    updated.name
                )));
            }
            writes.push(Write::PutEntity {
                kind: KIND_GROUP.to_string(),
                name: updated.name.clone(),
                doc: serde_json::to_value(&updated).map_err(|_| ApiError::internal())?,
                expect: Expect::Absent,
            });
            writes.push(Write::DeleteEntity {
                kind: KIND_GROUP.to_string(),
                name: old.name.clone(),
                expect: Expect::Version(gv),
            });
        }
        if updated.name != old.name {
            for (mut u, uv) in members(cx, account, &old.name).await? {
                rename_membership(&mut u.groups, &old.name, &updated.name);
                writes.push(put_at_version(KIND_USER, &u.name, &u, uv)?);
            }
        }
        match cx.state.store.apply(account, &writes, cx.now).await {
            Ok(()) => return Ok(None),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(concurrent())
}

/// Replace `old` (case-insensitively) by `new` in a membership list.
fn rename_membership(groups: &mut [String], old: &str, new: &str) {
    for g in groups.iter_mut() {
        if g.eq_ignore_ascii_case(old) {
            *g = new.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_only_the_matching_membership() {
        let mut g = vec!["Admins".to_string(), "devs".to_string()];
        rename_membership(&mut g, "admins", "Operators");
        assert_eq!(g, vec!["Operators".to_string(), "devs".to_string()]);
    }
}
