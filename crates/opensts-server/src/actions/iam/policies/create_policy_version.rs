//! CreatePolicyVersion: a new version of a customer managed policy (at most 5 are kept),
//! optionally made the default.

use crate::actions::iam::policies::{
    bool_param, check_managed_document, load_local_policy, modify_policy, policy_arn,
    policy_document, version_number, write_policy_version,
};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::PolicyVersionDoc;
use crate::iam::model::policy::MAX_POLICY_VERSIONS;
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = policy_arn(&mut v, p);
    let document = policy_document(&mut v, p);
    let set_as_default = bool_param(&mut v, p, "SetAsDefault").unwrap_or(false);
    v.into_result()?;
    let (Some(arn), Some(document)) = (arn, document) else {
        return Err(ApiError::internal());
    };
    let account = caller.account_id();
    let (policy, _) = load_local_policy(cx, caller, arn).await?;
    check_managed_document(document)?;
    let mut created = String::new();
    let updated = modify_policy(cx, account, &policy, |d| {
        if d.versions.len() >= MAX_POLICY_VERSIONS {
            return Err(ApiError::limit_exceeded(format!(
                "A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a new version, you must delete an existing version."
            )));
        }
        let highest = d
            .versions
            .iter()
            .map(|v| version_number(&v.version_id))
            .max()
            .unwrap_or(0);
        let n = d.next_version.max(highest.saturating_add(1));
        let id = format!("v{n}");
        d.next_version = n.saturating_add(1);
        d.versions.push(PolicyVersionDoc {
            version_id: id.clone(),
            document: document.to_string(),
            create_date: cx.now,
        });
        if set_as_default {
            d.default_version_id = id.clone();
        }
        d.update_date = cx.now;
        created = id;
        Ok(())
    })
    .await?;
    let mut x = Xml::new();
    x.open("PolicyVersion");
    write_policy_version(
        &mut x,
        None,
        &created,
        updated.default_version_id == created,
        cx.now,
    );
    x.close("PolicyVersion");
    Ok(Some(x.into_string()))
}
