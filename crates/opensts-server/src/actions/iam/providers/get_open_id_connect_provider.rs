//! GetOpenIDConnectProvider: URL (without `https://`, as AWS returns it), client ids,
//! thumbprints, creation date and tags.

use crate::actions::iam::providers::{load_oidc, oidc_arn_param};
use crate::actions::iam::write_tags;
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = oidc_arn_param(&mut v, p);
    v.into_result()?;
    let (doc, _) = load_oidc(cx, caller, arn.unwrap_or_default()).await?;
    let mut x = Xml::new();
    x.elem("Url", &doc.url);
    x.open("ClientIDList");
    for id in &doc.client_ids {
        x.elem("member", id);
    }
    x.close("ClientIDList");
    x.open("ThumbprintList");
    for t in &doc.thumbprints {
        x.elem("member", t);
    }
    x.close("ThumbprintList");
    x.elem("CreateDate", &timestamp(doc.create_date));
    write_tags(&mut x, &doc.tags);
    Ok(Some(x.into_string()))
}
