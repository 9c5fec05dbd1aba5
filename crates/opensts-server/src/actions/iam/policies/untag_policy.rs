//! UntagPolicy: remove tags of a customer managed policy (absent keys are ignored).

use crate::actions::iam::policies::{load_local_policy, modify_policy, policy_arn};
use crate::actions::iam::{parse_tag_keys, remove_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = policy_arn(&mut v, p);
    v.into_result()?;
    let keys = parse_tag_keys(p)?;
    let Some(arn) = arn else {
        return Err(ApiError::internal());
    };
    let (policy, _) = load_local_policy(cx, caller, arn).await?;
    modify_policy(cx, caller.account_id(), &policy, |d| {
        remove_tags(&mut d.tags, &keys);
        Ok(())
    })
    .await?;
    Ok(None)
}
