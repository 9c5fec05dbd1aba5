//! ListAccessKeys: the keys of a user (or of the caller).

use crate::actions::iam::{authorize, key_owner, paginate, parse_page, user_name, write_page_end};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = user_name(&mut v, p, false);
    let page = parse_page(&mut v, p);
    v.into_result()?;
    let account = caller.account_id();
    let owner = key_owner(cx, caller, name).await?;
    let resource = match &owner {
        Some(u) => u.arn(account),
        None => caller.principal().arn(),
    };
    authorize(cx, caller, &resource).await?;
    let owner_name = owner.as_ref().map(|u| u.name.clone());
    let keys = cx
        .state
        .store
        .list_access_keys(account, owner_name.as_deref())
        .await?;
    let (keys, next) = paginate(keys, |k| k.access_key_id.clone(), &page)?;
    let mut x = Xml::new();
    x.opt("UserName", owner_name.as_deref());
    x.open("AccessKeyMetadata");
    for k in &keys {
        x.open("member");
        x.opt("UserName", owner_name.as_deref());
        x.elem("AccessKeyId", &k.access_key_id)
            .elem("Status", k.status.as_str())
            .elem("CreateDate", &timestamp(k.created_at))
            .close("member");
    }
    x.close("AccessKeyMetadata");
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
