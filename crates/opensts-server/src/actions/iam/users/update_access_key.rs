//! UpdateAccessKey: set a key Active or Inactive.

use opensts_store::{KeyStatus, StoreError, Write};

use crate::actions::iam::{authorize, key_owner, user_name};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::{CharRule, Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = user_name(&mut v, p, false);
    let id = v.string(p, "AccessKeyId", true, 16, 128, Some(CharRule::Word));
    let status = v.string(p, "Status", true, 1, 16, None);
    let status = match status {
        Some("Active") => Some(KeyStatus::Active),
        Some("Inactive") => Some(KeyStatus::Inactive),
        Some(other) => {
            v.add(
                Some(other),
                "Status",
                "Member must satisfy enum value set: [Active, Inactive]",
            );
            None
        }
        None => None,
    };
    v.into_result()?;
    let (Some(id), Some(status)) = (id, status) else {
        return Err(ApiError::internal());
    };
    let account = caller.account_id();
    let owner = key_owner(cx, caller, name).await?;
    let resource = match &owner {
        Some(u) => u.arn(account),
        None => caller.principal().arn(),
    };
    authorize(cx, caller, &resource).await?;
    let key = owned_key(cx, account, owner.as_ref().map(|u| u.name.as_str()), id).await?;
    let write = Write::UpdateAccessKeyStatus {
        access_key_id: key,
        status,
    };
    match cx.state.store.apply(account, &[write], cx.now).await {
        Ok(()) => Ok(None),
        Err(StoreError::Conflict { .. }) => Err(no_such_key(id)),
        Err(e) => Err(e.into()),
    }
}

pub fn no_such_key(id: &str) -> ApiError {
    ApiError::no_such_entity(format!("The Access Key with id {id} cannot be found."))
}

/// The key, if it belongs to this owner (`None` = the account root) in this account.
pub async fn owned_key(
    cx: &ActionCtx<'_>,
    account: &str,
    owner: Option<&str>,
    id: &str,
) -> ApiResult<String> {
    let Some(rec) = cx.state.store.get_access_key(id).await? else {
        return Err(no_such_key(id));
    };
    let same_owner = match (&rec.user_name, owner) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    if rec.account_id != account || !same_owner {
        return Err(no_such_key(id));
    }
    Ok(rec.access_key_id)
}
