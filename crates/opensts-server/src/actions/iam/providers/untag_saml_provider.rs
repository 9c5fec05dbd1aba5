//! UntagSAMLProvider: remove tags by key (absent keys are ignored).

use crate::actions::iam::providers::{modify_saml, saml_arn_param};
use crate::actions::iam::{parse_tag_keys, remove_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = saml_arn_param(&mut v, p);
    v.into_result()?;
    let keys = parse_tag_keys(p)?;
    modify_saml(cx, caller, arn.unwrap_or_default(), |doc| {
        remove_tags(&mut doc.tags, &keys);
        Ok(())
    })
    .await?;
    Ok(None)
}
