//! DeleteUser: refused with DeleteConflict while the user still has access keys, policies,
//! group memberships or MFA devices, as in AWS.

use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::{authorize, no_such_user, user_name};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::KIND_USER;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = user_name(&mut v, p, true);
    v.into_result()?;
    let name = name.unwrap_or_default();
    let account = caller.account_id();
    let store = &cx.state.store;
    let Some(entity) = store.get_entity(account, KIND_USER, name).await? else {
        authorize(cx, caller, &opensts_core::arn::user_arn(account, "/", name)).await?;
        return Err(no_such_user(name));
    };
    let user: crate::iam::model::UserDoc =
        serde_json::from_value(entity.doc.clone()).map_err(|_| ApiError::internal())?;
    authorize(cx, caller, &user.arn(account)).await?;

    if !store
        .list_access_keys(account, Some(name))
        .await?
        .is_empty()
    {
        return Err(ApiError::delete_conflict(
            "Cannot delete entity, must delete access keys first.",
        ));
    }
    if !user.inline_policies.is_empty() {
        return Err(ApiError::delete_conflict(
            "Cannot delete entity, must delete policies first.",
        ));
    }
    if !user.attached_policies.is_empty() {
        return Err(ApiError::delete_conflict(
            "Cannot delete entity, must detach all policies first.",
        ));
    }
    if !user.groups.is_empty() {
        return Err(ApiError::delete_conflict(
            "Cannot delete entity, must remove users from group first.",
        ));
    }
    if !user.mfa_devices.is_empty() {
        return Err(ApiError::delete_conflict(
            "Cannot delete entity, must delete MFA device first.",
        ));
    }
    let write = Write::DeleteEntity {
        kind: KIND_USER.to_string(),
        name: name.to_string(),
        expect: Expect::Version(entity.version),
    };
    match store.apply(account, &[write], cx.now).await {
        Ok(()) => Ok(None),
        Err(StoreError::Conflict { .. }) => Err(ApiError::concurrent_modification(
            "The user was modified concurrently; retry.",
        )),
        Err(e) => Err(e.into()),
    }
}
