//! AttachUserPolicy: attach a managed policy (customer managed in this account, or AWS managed); attaching twice is a no-op, more than 10 is `LimitExceeded`.

use crate::actions::iam::policies::attach;
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::UserDoc;
use crate::protocol::Params;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    attach::<UserDoc>(cx, caller, p, 64).await
}
