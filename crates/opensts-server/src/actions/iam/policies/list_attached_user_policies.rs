//! ListAttachedUserPolicies: the attached managed policies (`PathPrefix` on the policy path, paginated).

use crate::actions::iam::policies::list_attached;
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::UserDoc;
use crate::protocol::Params;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    list_attached::<UserDoc>(cx, caller, p, 64).await
}
