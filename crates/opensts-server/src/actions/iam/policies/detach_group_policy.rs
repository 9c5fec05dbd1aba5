//! DetachGroupPolicy: detach a managed policy; `NoSuchEntity` if it is not attached.

use crate::actions::iam::policies::detach;
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::GroupDoc;
use crate::protocol::Params;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    detach::<GroupDoc>(cx, caller, p, 128).await
}
