//! ListSAMLProviders: every SAML provider of the account (not paginated, as in AWS).

use crate::actions::iam::{authorize, decode_entity};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::{KIND_SAML_PROVIDER, SamlProviderDoc};
use crate::protocol::Params;
use crate::protocol::xml::{Xml, timestamp};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, _p: &Params) -> ApiResult<Reply> {
    // ListSAMLProviders has no resource type in the Service Authorization Reference.
    authorize(cx, caller, "*").await?;
    let account = caller.account_id();
    let mut x = Xml::new();
    x.open("SAMLProviderList");
    for e in cx
        .state
        .store
        .list_entities(account, KIND_SAML_PROVIDER)
        .await?
    {
        let doc: SamlProviderDoc = decode_entity(&e)?;
        x.open("member")
            .elem("Arn", &doc.arn(account))
            .elem("ValidUntil", &timestamp(doc.reported_valid_until()))
            .elem("CreateDate", &timestamp(doc.create_date))
            .close("member");
    }
    x.close("SAMLProviderList");
    Ok(Some(x.into_string()))
}
