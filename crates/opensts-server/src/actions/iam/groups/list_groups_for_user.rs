//! ListGroupsForUser with Marker and MaxItems.

use crate::actions::iam::groups::{decode_group, load_user, member_user_name, write_group};
use crate::actions::iam::{authorize, paginate, parse_page, write_page_end};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::KIND_GROUP;
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = member_user_name(&mut v, p);
    let page = parse_page(&mut v, p);
    v.into_result()?;
    let name = name.unwrap_or_default();
    let account = caller.account_id();
    let user = match load_user(cx, account, name).await {
        Ok((u, _)) => u,
        Err(e) => {
            authorize(cx, caller, &opensts_core::arn::user_arn(account, "/", name)).await?;
            return Err(e);
        }
    };
    authorize(cx, caller, &user.arn(account)).await?;
    let mut groups = Vec::with_capacity(user.groups.len());
    for g in &user.groups {
        if let Some(e) = cx.state.store.get_entity(account, KIND_GROUP, g).await? {
            groups.push(decode_group(&e)?);
        }
    }
    groups.sort_by_key(|g| g.name.to_lowercase());
    let (groups, next) = paginate(groups, |g| g.name.to_lowercase(), &page)?;
    let mut x = Xml::new();
    x.open("Groups");
    for g in &groups {
        x.open("member");
        write_group(&mut x, g, account);
        x.close("member");
    }
    x.close("Groups");
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
