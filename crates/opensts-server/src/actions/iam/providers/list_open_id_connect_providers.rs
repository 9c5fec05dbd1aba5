//! ListOpenIDConnectProviders: the ARNs of the account's OIDC providers (not paginated).

use crate::actions::iam::{authorize, decode_entity};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::{KIND_OIDC_PROVIDER, OidcProviderDoc};
use crate::protocol::Params;
use crate::protocol::xml::Xml;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, _p: &Params) -> ApiResult<Reply> {
    // No resource type in the Service Authorization Reference.
    authorize(cx, caller, "*").await?;
    let account = caller.account_id();
    let mut x = Xml::new();
    x.open("OpenIDConnectProviderList");
    for e in cx
        .state
        .store
        .list_entities(account, KIND_OIDC_PROVIDER)
        .await?
    {
        let doc: OidcProviderDoc = decode_entity(&e)?;
        x.open("member")
            .elem("Arn", &doc.arn(account))
            .close("member");
    }
    x.close("OpenIDConnectProviderList");
    Ok(Some(x.into_string()))
}
