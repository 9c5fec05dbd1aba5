//! CreateGroup.

use opensts_core::{arn, ids};
use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::groups::{group_name, write_group};
use crate::actions::iam::{authorize, check_path};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{GroupDoc, KIND_GROUP};
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = group_name(&mut v, p, "GroupName", true);
    let path = check_path(&mut v, p, "Path");
    v.into_result()?;
    let name = name.unwrap_or_default();
    let account = caller.account_id();
    let path = path.unwrap_or_else(|| "/".to_string());
    authorize(cx, caller, &arn::group_arn(account, &path, name)).await?;

    let doc = GroupDoc {
        name: name.to_string(),
        group_id: ids::new_unique_id("AGPA"),
        path,
        create_date: cx.now,
        inline_policies: Default::default(),
        attached_policies: Vec::new(),
    };
    let json = serde_json::to_value(&doc).map_err(|_| ApiError::internal())?;
    let write = Write::PutEntity {
        kind: KIND_GROUP.to_string(),
        name: name.to_string(),
        doc: json,
        expect: Expect::Absent,
    };
    match cx.state.store.apply(account, &[write], cx.now).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::entity_already_exists(format!(
                "Group with name {name} already exists."
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let mut x = Xml::new();
    x.open("Group");
    write_group(&mut x, &doc, account);
    x.close("Group");
    Ok(Some(x.into_string()))
}
