//! CreateUser.

use opensts_core::{arn, ids};
use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::{authorize, check_path, parse_tags, user_name, write_user};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{KIND_USER, UserDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = user_name(&mut v, p, true);
    let path = check_path(&mut v, p, "Path");
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
    let name = name.unwrap_or_default();
    let account = caller.account_id();
    let path = path.unwrap_or_else(|| "/".to_string());
    authorize(cx, caller, &arn::user_arn(account, &path, name)).await?;

    let doc = UserDoc {
        name: name.to_string(),
        user_id: ids::new_unique_id("AIDA"),
        path,
        create_date: cx.now,
        tags,
        permissions_boundary: boundary.map(str::to_string),
        inline_policies: Default::default(),
        attached_policies: Vec::new(),
        groups: Vec::new(),
        mfa_devices: Vec::new(),
    };
    let json = serde_json::to_value(&doc).map_err(|_| ApiError::internal())?;
    let write = Write::PutEntity {
        kind: KIND_USER.to_string(),
        name: name.to_string(),
        doc: json,
        expect: Expect::Absent,
    };
    match cx.state.store.apply(account, &[write], cx.now).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::entity_already_exists(format!(
                "User with name {name} already exists."
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let mut x = Xml::new();
    x.open("User");
    write_user(&mut x, &doc, account, true);
    x.close("User");
    Ok(Some(x.into_string()))
}
