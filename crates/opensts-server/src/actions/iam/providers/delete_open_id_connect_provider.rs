//! DeleteOpenIDConnectProvider.

use opensts_store::{Expect, Write};

use crate::actions::iam::providers::{load_oidc, oidc_arn_param};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::KIND_OIDC_PROVIDER;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = oidc_arn_param(&mut v, p);
    v.into_result()?;
    let (_, key) = load_oidc(cx, caller, arn.unwrap_or_default()).await?;
    let write = Write::DeleteEntity {
        kind: KIND_OIDC_PROVIDER.to_string(),
        name: key,
        expect: Expect::Any,
    };
    cx.state
        .store
        .apply(caller.account_id(), &[write], cx.now)
        .await?;
    Ok(None)
}
