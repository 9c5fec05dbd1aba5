//! TagSAMLProvider: add or overwrite tags (at most 50 in all).

use crate::actions::iam::providers::{modify_saml, saml_arn_param};
use crate::actions::iam::{merge_tags, parse_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = saml_arn_param(&mut v, p);
    if p.struct_list("Tags")?.is_none() {
        v.add(None, "Tags", "Member must not be null");
    }
    v.into_result()?;
    let tags = parse_tags(p)?;
    modify_saml(cx, caller, arn.unwrap_or_default(), |doc| {
        merge_tags(&mut doc.tags, tags.clone(), "SAMLProvider")
    })
    .await?;
    Ok(None)
}
