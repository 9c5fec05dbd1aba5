//! PutGroupPolicy: create or replace an inline policy (validated as an identity policy; the group's inline policies together must stay within the aggregate size limit).

use crate::actions::iam::policies::put_inline;
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::GroupDoc;
use crate::protocol::Params;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    put_inline::<GroupDoc>(cx, caller, p, 128).await
}
