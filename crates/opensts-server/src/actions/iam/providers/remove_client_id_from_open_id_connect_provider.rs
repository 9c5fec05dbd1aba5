//! RemoveClientIDFromOpenIDConnectProvider: remove an audience (no error if it is absent).

use crate::actions::iam::providers::{check_client_ids, modify_oidc, oidc_arn_param};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = oidc_arn_param(&mut v, p);
    let id = match p.get("ClientID") {
        Some(id) => check_client_ids(&mut v, "ClientID", &[id.to_string()])
            .into_iter()
            .next(),
        None => {
            v.add(None, "ClientID", "Member must not be null");
            None
        }
    };
    v.into_result()?;
    let id = id.unwrap_or_default();
    modify_oidc(cx, caller, arn.unwrap_or_default(), |doc| {
        doc.client_ids.retain(|c| c != &id);
        Ok(())
    })
    .await?;
    Ok(None)
}
