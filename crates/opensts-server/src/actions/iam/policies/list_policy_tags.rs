//! ListPolicyTags: the tags of a managed policy (AWS managed policies have none), paginated.

use crate::actions::iam::policies::{
    ManagedPolicy, authorize_policy, find_policy, policy_arn, policy_not_found,
};
use crate::actions::iam::{paginate_tags, parse_page, write_page_end, write_tag_list};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = policy_arn(&mut v, p);
    let page = parse_page(&mut v, p);
    v.into_result()?;
    let Some(arn) = arn else {
        return Err(ApiError::internal());
    };
    authorize_policy(cx, caller, arn).await?;
    let tags = match find_policy(cx, caller.account_id(), arn).await? {
        Some(ManagedPolicy::Local(d, _)) => d.tags,
        Some(ManagedPolicy::Aws(_)) => Vec::new(),
        None => return Err(policy_not_found(arn)),
    };
    let (tags, next) = paginate_tags(&tags, &page)?;
    let mut x = Xml::new();
    write_tag_list(&mut x, &tags);
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
