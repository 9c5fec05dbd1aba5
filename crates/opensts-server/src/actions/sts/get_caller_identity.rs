//! GetCallerIdentity: who signed this request. Needs no permission (AWS ignores a Deny).

use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::Params;
use crate::protocol::xml::Xml;

pub async fn handle(_cx: &ActionCtx<'_>, caller: &Caller, _p: &Params) -> ApiResult<Reply> {
    let pr = caller.principal();
    let mut x = Xml::new();
    x.elem("Arn", &pr.arn())
        .elem("UserId", &pr.user_id())
        .elem("Account", pr.account_id());
    Ok(Some(x.into_string()))
}
