//! ListGroups with PathPrefix, Marker and MaxItems.

use crate::actions::iam::groups::{decode_group, write_group};
use crate::actions::iam::{authorize, paginate, parse_page, write_page_end};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::KIND_GROUP;
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let prefix = v.string(p, "PathPrefix", false, 1, 512, Some(CharRule::PathChars));
    let page = parse_page(&mut v, p);
    v.into_result()?;
    let account = caller.account_id();
    authorize(cx, caller, &format!("arn:aws:iam::{account}:group/")).await?;
    let prefix = prefix.unwrap_or("/");
    let mut groups = Vec::new();
    for e in cx.state.store.list_entities(account, KIND_GROUP).await? {
        let doc = decode_group(&e)?;
        if doc.path.starts_with(prefix) {
            groups.push(doc);
        }
    }
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
