//! CreatePolicy: a customer managed policy (version `v1`, the default), with optional path,
//! description and tags. The document is validated as a managed identity policy.

use opensts_core::{arn, ids};
use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::policies::{
    Counts, ManagedPolicy, PolicyView, check_managed_document, policy_document, policy_name,
    policy_path, write_policy,
};
use crate::actions::iam::{authorize, parse_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{KIND_POLICY, PolicyDoc, PolicyVersionDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = policy_name(&mut v, p);
    let path = policy_path(&mut v, p, "Path");
    let document = policy_document(&mut v, p);
    let description = v.string(p, "Description", false, 0, 1000, None);
    v.into_result()?;
    let tags = parse_tags(p)?;
    let (Some(name), Some(document)) = (name, document) else {
        return Err(ApiError::internal());
    };
    let account = caller.account_id();
    let path = path.unwrap_or_else(|| "/".to_string());
    authorize(cx, caller, &arn::policy_arn(account, &path, name)).await?;
    check_managed_document(document)?;

    let doc = PolicyDoc {
        name: name.to_string(),
        policy_id: ids::new_unique_id("ANPA"),
        path,
        description: description.map(str::to_string),
        create_date: cx.now,
        update_date: cx.now,
        default_version_id: "v1".to_string(),
        next_version: 2,
        versions: vec![PolicyVersionDoc {
            version_id: "v1".to_string(),
            document: document.to_string(),
            create_date: cx.now,
        }],
        tags,
    };
    let json = serde_json::to_value(&doc).map_err(|_| ApiError::internal())?;
    let write = Write::PutEntity {
        kind: KIND_POLICY.to_string(),
        name: name.to_string(),
        doc: json,
        expect: Expect::Absent,
    };
    match cx.state.store.apply(account, &[write], cx.now).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::entity_already_exists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let mut x = Xml::new();
    x.open("Policy");
    write_policy(
        &mut x,
        &ManagedPolicy::Local(Box::new(doc), 1),
        account,
        Counts::default(),
        PolicyView::Full,
    );
    x.close("Policy");
    Ok(Some(x.into_string()))
}
