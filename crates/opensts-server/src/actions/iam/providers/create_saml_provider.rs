//! CreateSAMLProvider: validate the IdP metadata (entity id, signing certificates) and store
//! it under the provider name.

use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::providers::{
    MAX_PROVIDERS_PER_ACCOUNT, parse_saml_metadata, refuse_saml_encryption_options,
    saml_metadata_param, saml_provider_name,
};
use crate::actions::iam::{authorize, parse_tags, write_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{KIND_SAML_PROVIDER, SamlProviderDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let metadata = saml_metadata_param(&mut v, p, true);
    let name = saml_provider_name(&mut v, p);
    v.into_result()?;
    let tags = parse_tags(p)?;
    refuse_saml_encryption_options(p)?;
    let (Some(metadata), Some(name)) = (metadata, name) else {
        return Err(ApiError::internal());
    };
    let account = caller.account_id();
    let arn = opensts_core::arn::saml_provider_arn(account, name);
    authorize(cx, caller, &arn).await?;
    let md = parse_saml_metadata(metadata)?;

    let store = &cx.state.store;
    if store
        .list_entities(account, KIND_SAML_PROVIDER)
        .await?
        .len()
        >= MAX_PROVIDERS_PER_ACCOUNT
    {
        return Err(ApiError::limit_exceeded(format!(
            "Cannot exceed quota for SAMLProvidersPerAccount: {MAX_PROVIDERS_PER_ACCOUNT}"
        )));
    }
    let uuid = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .to_ascii_uppercase();
    let doc = SamlProviderDoc::from_metadata(name, uuid, metadata, &md, cx.now, tags);
    let json = serde_json::to_value(&doc).map_err(|_| ApiError::internal())?;
    let write = Write::PutEntity {
        kind: KIND_SAML_PROVIDER.to_string(),
        name: name.to_string(),
        doc: json,
        expect: Expect::Absent,
    };
    match store.apply(account, &[write], cx.now).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::entity_already_exists(format!(
                "SAMLProvider with name {name} already exists."
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let mut x = Xml::new();
    x.elem("SAMLProviderArn", &arn);
    write_tags(&mut x, &doc.tags);
    Ok(Some(x.into_string()))
}
