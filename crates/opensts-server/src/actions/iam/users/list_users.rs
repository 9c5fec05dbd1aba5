//! ListUsers with PathPrefix, Marker and MaxItems.

use crate::actions::iam::{authorize, paginate, parse_page, write_page_end, write_user};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{KIND_USER, UserDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let prefix = v.string(p, "PathPrefix", false, 1, 512, Some(CharRule::PathChars));
    let page = parse_page(&mut v, p);
    v.into_result()?;
    let account = caller.account_id();
    authorize(cx, caller, &format!("arn:aws:iam::{account}:user/")).await?;
    let prefix = prefix.unwrap_or("/");
    let mut users = Vec::new();
    for e in cx.state.store.list_entities(account, KIND_USER).await? {
        let doc: UserDoc = serde_json::from_value(e.doc).map_err(|_| ApiError::internal())?;
        if doc.path.starts_with(prefix) {
            users.push(doc);
        }
    }
    let (users, next) = paginate(users, |u| u.name.to_lowercase(), &page)?;
    let mut x = Xml::new();
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
