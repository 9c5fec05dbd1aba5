//! ListRoles with PathPrefix, Marker and MaxItems. As in AWS, listed roles carry no tags,
//! permissions boundary or last-use information (GetRole has them).

use crate::actions::iam::roles::{RoleView, decode_role, write_role};
use crate::actions::iam::{authorize, paginate, parse_page, write_page_end};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::KIND_ROLE;
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let prefix = v.string(p, "PathPrefix", false, 1, 512, Some(CharRule::PathChars));
    let page = parse_page(&mut v, p);
    v.into_result()?;
    let account = caller.account_id();
    authorize(cx, caller, &format!("arn:aws:iam::{account}:role/")).await?;
    let prefix = prefix.unwrap_or("/");
    let mut roles = Vec::new();
    for e in cx.state.store.list_entities(account, KIND_ROLE).await? {
        let doc = decode_role(&e)?;
        if doc.path.starts_with(prefix) {
            roles.push(doc);
        }
    }
    let (roles, next) = paginate(roles, |r| r.name.to_lowercase(), &page)?;
    let mut x = Xml::new();
    x.open("Roles");
    for r in &roles {
        x.open("member");
        write_role(&mut x, r, account, RoleView::Listed);
        x.close("member");
    }
    x.close("Roles");
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
