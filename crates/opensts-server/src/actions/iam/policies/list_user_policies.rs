//! ListUserPolicies: the names of the inline policies (paginated).

use crate::actions::iam::policies::list_inline;
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::UserDoc;
use crate::protocol::Params;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    list_inline::<UserDoc>(cx, caller, p, 128).await
}
