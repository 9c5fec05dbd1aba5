//! GetPolicy: a customer managed or AWS managed policy, with its attachment counts in this
//! account.

use crate::actions::iam::policies::{
    PolicyView, authorize_policy, find_policy, policy_arn, policy_not_found, usage, write_policy,
};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = policy_arn(&mut v, p);
    v.into_result()?;
    let Some(arn) = arn else {
        return Err(ApiError::internal());
    };
    let account = caller.account_id();
    authorize_policy(cx, caller, arn).await?;
    let Some(policy) = find_policy(cx, account, arn).await? else {
        return Err(policy_not_found(arn));
    };
    let counts = usage(cx, account)
        .await?
        .get(&policy.arn(account))
        .copied()
        .unwrap_or_default();
    let mut x = Xml::new();
    x.open("Policy");
    write_policy(&mut x, &policy, account, counts, PolicyView::Full);
    x.close("Policy");
    Ok(Some(x.into_string()))
}
