//! DeleteAccessKey.

use opensts_store::{StoreError, Write};

use crate::actions::iam::users::update_access_key::{no_such_key, owned_key};
use crate::actions::iam::{authorize, key_owner, user_name};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{CharRule, Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = user_name(&mut v, p, false);
    let id = v.string(p, "AccessKeyId", true, 16, 128, Some(CharRule::Word));
    v.into_result()?;
    let id = id.unwrap_or_default();
    let account = caller.account_id();
    let owner = key_owner(cx, caller, name).await?;
    let resource = match &owner {
        Some(u) => u.arn(account),
        None => caller.principal().arn(),
    };
    authorize(cx, caller, &resource).await?;
    let key = owned_key(cx, account, owner.as_ref().map(|u| u.name.as_str()), id).await?;
    let write = Write::DeleteAccessKey { access_key_id: key };
    match cx.state.store.apply(account, &[write], cx.now).await {
        Ok(()) => Ok(None),
        Err(StoreError::Conflict { .. }) => Err(no_such_key(id)),
        Err(e) => Err(e.into()),
    }
}
