//! GetUserPolicy: an inline policy, its document URL-encoded as IAM returns it.

use crate::actions::iam::policies::get_inline;
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::UserDoc;
use crate::protocol::Params;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    get_inline::<UserDoc>(cx, caller, p, 128).await
}
