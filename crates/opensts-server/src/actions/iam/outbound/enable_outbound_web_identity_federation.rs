//! EnableOutboundWebIdentityFederation: let the account's principals call
//! `GetWebIdentityToken`; returns the account's issuer URL. The signing keys are generated
//! here if the server has none yet. `FeatureEnabled` (409) if it is enabled already.

use crate::actions::iam::outbound::{authorize, feature_enabled, write_setting};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::oidc_issuer::OutboundFederationDoc;
use crate::protocol::Params;
use crate::protocol::xml::Xml;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, _p: &Params) -> ApiResult<Reply> {
    authorize(cx, caller).await?;
    let account = caller.account_id();
    // Keys first: once the switch is on, the first token must not wait for key generation.
    cx.state
        .oidc_issuer
        .ensure_keys(cx.state.store.as_ref(), &cx.state.master_key, cx.now)
        .await
        .map_err(|e| match e {
            crate::app::StartError::Store(s) => ApiError::from(s),
            other => {
                tracing::error!(error = %other, "cannot create the JWKS signing keys");
                ApiError::internal()
            }
        })?;
    let now = cx.now;
    write_setting(cx, account, |current| match current {
        Some(d) if d.enabled => Err(feature_enabled()),
        other => Ok(OutboundFederationDoc {
            enabled: true,
            enabled_at: Some(now),
            disabled_at: other.and_then(|d| d.disabled_at),
        }),
    })
    .await?;
    let mut x = Xml::new();
    x.elem("IssuerIdentifier", &cx.state.oidc_issuer.issuer(account));
    Ok(Some(x.into_string()))
}
