//! GetGroup: the group and its members (paginated with Marker and MaxItems).

use crate::actions::iam::groups::{group_name, load_group, members, write_group};
use crate::actions::iam::{paginate, parse_page, write_page_end, write_user};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = group_name(&mut v, p, "GroupName", true);
    let page = parse_page(&mut v, p);
    v.into_result()?;
    let account = caller.account_id();
    let (group, _) = load_group(cx, caller, name.unwrap_or_default()).await?;
    let users: Vec<_> = members(cx, account, &group.name)
        .await?
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    let (users, next) = paginate(users, |u| u.name.to_lowercase(), &page)?;
    let mut x = Xml::new();
    x.open("Group");
    write_group(&mut x, &group, account);
    x.close("Group");
    x.open("Users");
    for u in &users {
        x.open("member");
        write_user(&mut x, u, account, false);
        x.close("member");
    }
    x.close("Users");
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
