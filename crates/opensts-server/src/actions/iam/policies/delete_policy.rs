//! DeletePolicy: refused with DeleteConflict while the policy is attached (or is a
//! permissions boundary) or still has versions besides the default one, as in AWS. AWS
//! managed policies cannot be deleted.

use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::policies::{load_local_policy, policy_arn, usage};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::KIND_POLICY;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = policy_arn(&mut v, p);
    v.into_result()?;
    let Some(arn) = arn else {
        return Err(ApiError::internal());
    };
    let account = caller.account_id();
    let (policy, version) = load_local_policy(cx, caller, arn).await?;
    let counts = usage(cx, account)
        .await?
        .get(&policy.arn(account))
        .copied()
        .unwrap_or_default();
    if counts.attachments > 0 || counts.boundaries > 0 {
        return Err(ApiError::delete_conflict(
            "Cannot delete a policy attached to entities.",
        ));
    }
    if policy.versions.len() > 1 {
        return Err(ApiError::delete_conflict(
            "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
        ));
    }
    let write = Write::DeleteEntity {
        kind: KIND_POLICY.to_string(),
        name: policy.name.clone(),
        expect: Expect::Version(version),
    };
    match cx.state.store.apply(account, &[write], cx.now).await {
        Ok(()) => Ok(None),
        Err(StoreError::Conflict { .. }) => Err(ApiError::concurrent_modification(
            "The policy was modified concurrently; retry.",
        )),
        Err(e) => Err(e.into()),
    }
}
