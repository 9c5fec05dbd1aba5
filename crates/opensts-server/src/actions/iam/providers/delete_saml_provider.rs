//! DeleteSAMLProvider.

use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::providers::{load_saml, saml_arn_param};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::KIND_SAML_PROVIDER;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = saml_arn_param(&mut v, p);
    v.into_result()?;
    let (doc, version) = load_saml(cx, caller, arn.unwrap_or_default()).await?;
    let write = Write::DeleteEntity {
        kind: KIND_SAML_PROVIDER.to_string(),
        name: doc.name,
        expect: Expect::Version(version),
    };
    match cx
        .state
        .store
        .apply(caller.account_id(), &[write], cx.now)
        .await
    {
        Ok(()) => Ok(None),
        Err(StoreError::Conflict { .. }) => Err(ApiError::concurrent_modification(
            "The SAML provider was modified concurrently; retry.",
        )),
        Err(e) => Err(e.into()),
    }
}
