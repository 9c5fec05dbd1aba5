//! DeleteRole: refused with DeleteConflict while the role still has inline or attached
//! policies, as in AWS.

use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::MAX_WRITE_ATTEMPTS;
use crate::actions::iam::roles::{load_role, role_name};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::KIND_ROLE;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = role_name(&mut v, p);
    v.into_result()?;
    let name = name.unwrap_or_default();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let (role, version) = load_role(cx, caller, name).await?;
        if !role.inline_policies.is_empty() {
            return Err(ApiError::delete_conflict(
                "Cannot delete entity, must delete policies first.",
            ));
        }
        if !role.attached_policies.is_empty() {
            return Err(ApiError::delete_conflict(
                "Cannot delete entity, must detach all policies first.",
            ));
        }
        // Only the version that was checked may be deleted: a policy put in between makes
        // this attempt fail (and the next one see it) rather than leave it orphaned.
        let write = Write::DeleteEntity {
            kind: KIND_ROLE.to_string(),
            name: role.name.clone(),
            expect: Expect::Version(version),
        };
        match cx
            .state
            .store
            .apply(caller.account_id(), &[write], cx.now)
            .await
        {
            Ok(()) => return Ok(None),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::concurrent_modification(
        "The role was modified concurrently; retry.",
    ))
}
