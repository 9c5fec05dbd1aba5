//! AddClientIDToOpenIDConnectProvider: add an audience (no error if it is already there).

use crate::actions::iam::providers::{
    MAX_CLIENT_IDS, check_client_ids, client_id_limit, modify_oidc, oidc_arn_param,
};
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
        if !doc.client_ids.contains(&id) {
            if doc.client_ids.len() >= MAX_CLIENT_IDS {
                return Err(client_id_limit());
            }
            doc.client_ids.push(id.clone());
        }
        Ok(())
    })
    .await?;
    Ok(None)
}
