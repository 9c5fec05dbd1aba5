//! DeleteGroupPolicy: delete an inline policy.

use crate::actions::iam::policies::delete_inline;
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::GroupDoc;
use crate::protocol::Params;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    delete_inline::<GroupDoc>(cx, caller, p, 128).await
}
