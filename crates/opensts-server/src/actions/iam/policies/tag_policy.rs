//! TagPolicy: add or overwrite tags of a customer managed policy (at most 50).

use crate::actions::iam::policies::{load_local_policy, modify_policy, policy_arn};
use crate::actions::iam::{merge_tags, parse_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = policy_arn(&mut v, p);
    if p.struct_list("Tags")?.is_none() {
        v.add(None, "Tags", "Member must not be null");
    }
    v.into_result()?;
    let tags = parse_tags(p)?;
    let Some(arn) = arn else {
        return Err(ApiError::internal());
    };
    let (policy, _) = load_local_policy(cx, caller, arn).await?;
    modify_policy(cx, caller.account_id(), &policy, |d| {
        merge_tags(&mut d.tags, tags.clone(), "Policy")
    })
    .await?;
    Ok(None)
}
