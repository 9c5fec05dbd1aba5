//! ListPolicyVersions: the versions of a managed policy, newest first, without documents
//! (as AWS lists them), paginated.

use crate::actions::iam::policies::{
    ManagedPolicy, authorize_policy, find_policy, policy_arn, policy_not_found, version_number,
    write_policy_version,
};
use crate::actions::iam::{paginate, parse_page, write_page_end};
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
    let account = caller.account_id();
    authorize_policy(cx, caller, arn).await?;
    let Some(policy) = find_policy(cx, account, arn).await? else {
        return Err(policy_not_found(arn));
    };
    // (version id, is default, created)
    let mut versions: Vec<(String, bool, i64)> = match &policy {
        ManagedPolicy::Aws(a) => vec![(a.default_version_id.to_string(), true, a.update_date)],
        ManagedPolicy::Local(d, _) => d
            .versions
            .iter()
            .map(|v| {
                (
                    v.version_id.clone(),
                    v.version_id == d.default_version_id,
                    v.create_date,
                )
            })
            .collect(),
    };
    // Newest first: the key orders by descending version number.
    let key = |v: &(String, bool, i64)| format!("{:010}", u32::MAX - version_number(&v.0));
    versions.sort_by_key(key);
    let (versions, next) = paginate(versions, key, &page)?;
    let mut x = Xml::new();
    x.open("Versions");
    for (id, is_default, created) in &versions {
        x.open("member");
        write_policy_version(&mut x, None, id, *is_default, *created);
        x.close("member");
    }
    x.close("Versions");
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
