//! CreateRole: a role with a trust policy (validated as IAM does), optional path,
//! description, maximum session duration, tags and permissions boundary.

use opensts_core::{arn, ids};
use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::roles::{
    RoleView, check_trust_policy, max_session_duration, policy_document, role_description,
    role_name, write_role,
};
use crate::actions::iam::{authorize, check_path, check_permissions_boundary, parse_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::role::MIN_MAX_SESSION_DURATION;
use crate::iam::model::{KIND_ROLE, RoleDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = role_name(&mut v, p);
    let path = check_path(&mut v, p, "Path");
    let trust = policy_document(&mut v, p, "AssumeRolePolicyDocument");
    let description = role_description(&mut v, p, false);
    let max_session = max_session_duration(&mut v, p);
    let boundary = v.string(
        p,
        "PermissionsBoundary",
        false,
        20,
        2048,
        Some(CharRule::ArnChars),
    );
    v.into_result()?;
    let tags = parse_tags(p)?;
    let (Some(name), Some(trust)) = (name, trust) else {
        return Err(ApiError::internal());
    };
    let account = caller.account_id();
    let path = path.unwrap_or_else(|| "/".to_string());
    authorize(cx, caller, &arn::role_arn(account, &path, name)).await?;
    check_trust_policy(trust)?;
    if let Some(b) = boundary {
        check_permissions_boundary(cx, account, b).await?;
    }

    let doc = RoleDoc {
        name: name.to_string(),
        role_id: ids::new_unique_id("AROA"),
        path,
        create_date: cx.now,
        assume_role_policy: trust.to_string(),
        description: description.map(str::to_string),
        max_session_duration: max_session.unwrap_or(MIN_MAX_SESSION_DURATION),
        tags,
        permissions_boundary: boundary.map(str::to_string),
        inline_policies: Default::default(),
        attached_policies: Vec::new(),
        last_used: None,
        last_used_region: None,
    };
    let json = serde_json::to_value(&doc).map_err(|_| ApiError::internal())?;
    let write = Write::PutEntity {
        kind: KIND_ROLE.to_string(),
        name: name.to_string(),
        doc: json,
        expect: Expect::Absent,
    };
    match cx.state.store.apply(account, &[write], cx.now).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::entity_already_exists(format!(
                "Role with name {name} already exists."
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let mut x = Xml::new();
    x.open("Role");
    write_role(&mut x, &doc, account, RoleView::Full);
    x.close("Role");
    Ok(Some(x.into_string()))
}
