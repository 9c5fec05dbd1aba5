//! UpdateOpenIDConnectProviderThumbprint: replace the whole thumbprint list.

use crate::actions::iam::providers::{check_thumbprints, modify_oidc, oidc_arn_param};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = oidc_arn_param(&mut v, p);
    let list = p.list("ThumbprintList")?;
    if list.is_none() {
        v.add(None, "ThumbprintList", "Member must not be null");
    }
    v.into_result()?;
    let thumbprints = check_thumbprints(&list.unwrap_or_default())?;
    modify_oidc(cx, caller, arn.unwrap_or_default(), |doc| {
        doc.thumbprints = thumbprints.clone();
        Ok(())
    })
    .await?;
    Ok(None)
}
