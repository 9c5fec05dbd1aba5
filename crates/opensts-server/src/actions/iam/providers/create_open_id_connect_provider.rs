//! CreateOpenIDConnectProvider: an `https://` issuer URL with its client ids (audiences) and
//! optional server certificate thumbprints, keyed by the URL without `https://`.

use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::providers::{
    MAX_CLIENT_IDS, MAX_PROVIDERS_PER_ACCOUNT, check_client_ids, check_thumbprints,
    client_id_limit, oidc_url_key,
};
use crate::actions::iam::{authorize, parse_tags, write_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{KIND_OIDC_PROVIDER, OidcProviderDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let url = v.string(p, "Url", true, 1, 255, None);
    let client_ids = p.list("ClientIDList")?.unwrap_or_default();
    let client_ids = check_client_ids(&mut v, "ClientIDList.member", &client_ids);
    let thumbprints = p.list("ThumbprintList")?.unwrap_or_default();
    v.into_result()?;
    let tags = parse_tags(p)?;
    let url = url.unwrap_or_default();
    let key = oidc_url_key(url)?;
    let thumbprints = check_thumbprints(&thumbprints)?;
    if client_ids.len() > MAX_CLIENT_IDS {
        return Err(client_id_limit());
    }
    let account = caller.account_id();
    let doc = OidcProviderDoc {
        url: key.clone(),
        client_ids,
        thumbprints,
        create_date: cx.now,
        tags,
    };
    let arn = doc.arn(account);
    authorize(cx, caller, &arn).await?;

    let store = &cx.state.store;
    if store
        .list_entities(account, KIND_OIDC_PROVIDER)
        .await?
        .len()
        >= MAX_PROVIDERS_PER_ACCOUNT
    {
        return Err(ApiError::limit_exceeded(format!(
            "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {MAX_PROVIDERS_PER_ACCOUNT}"
        )));
    }
    let json = serde_json::to_value(&doc).map_err(|_| ApiError::internal())?;
    let write = Write::PutEntity {
        kind: KIND_OIDC_PROVIDER.to_string(),
        name: key,
        doc: json,
        expect: Expect::Absent,
    };
    match store.apply(account, &[write], cx.now).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::entity_already_exists(format!(
                "Provider with url {url} already exists."
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let mut x = Xml::new();
    x.elem("OpenIDConnectProviderArn", &arn);
    write_tags(&mut x, &doc.tags);
    Ok(Some(x.into_string()))
}
