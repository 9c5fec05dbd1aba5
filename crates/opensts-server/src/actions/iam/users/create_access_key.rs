//! CreateAccessKey: a new `AKIA…` key for a user (or, without `UserName`, for the caller —
//! the account root's own keys when root calls). At most two keys per principal.

use opensts_core::ids;
use opensts_store::{AccessKeyRecord, KeyStatus, Write};

use crate::actions::iam::{authorize, key_owner, user_name};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Params, Violations};

/// AWS's quota of access keys per user.
pub const MAX_KEYS_PER_USER: usize = 2;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = user_name(&mut v, p, false);
    v.into_result()?;
    let account = caller.account_id();
    let owner = key_owner(cx, caller, name).await?;
    let resource = match &owner {
        Some(u) => u.arn(account),
        None => caller.principal().arn(),
    };
    authorize(cx, caller, &resource).await?;
    let owner_name = owner.as_ref().map(|u| u.name.clone());
    let existing = cx
        .state
        .store
        .list_access_keys(account, owner_name.as_deref())
        .await?;
    if existing.len() >= MAX_KEYS_PER_USER {
        return Err(ApiError::limit_exceeded(format!(
            "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}"
        )));
    }
    let access_key_id = ids::new_access_key_id_for_account("AKIA", account);
    let secret = ids::new_secret_access_key();
    let record = AccessKeyRecord {
        access_key_id: access_key_id.clone(),
        account_id: account.to_string(),
        user_name: owner_name.clone(),
        secret_sealed: cx.state.seal_access_secret(&access_key_id, &secret)?,
        status: KeyStatus::Active,
        created_at: cx.now,
    };
    cx.state
        .store
        .apply(account, &[Write::InsertAccessKey(record)], cx.now)
        .await?;
    let mut x = Xml::new();
    x.open("AccessKey");
    x.opt("UserName", owner_name.as_deref());
    x.elem("AccessKeyId", &access_key_id)
        .elem("Status", "Active")
        .elem("SecretAccessKey", &secret)
        .elem("CreateDate", &timestamp(cx.now))
        .close("AccessKey");
    Ok(Some(x.into_string()))
}
