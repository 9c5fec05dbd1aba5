//! DisableOutboundWebIdentityFederation: stop `GetWebIdentityToken` for the account. Tokens
//! issued before stay valid (the issuer's discovery document and JWKS stay published).
//! `FeatureDisabled` (404) if it is not enabled.

use crate::actions::iam::outbound::{authorize, feature_disabled, write_setting};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::oidc_issuer::OutboundFederationDoc;
use crate::protocol::Params;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, _p: &Params) -> ApiResult<Reply> {
    authorize(cx, caller).await?;
    let now = cx.now;
    write_setting(cx, caller.account_id(), |current| match current {
        Some(d) if d.enabled => Ok(OutboundFederationDoc {
            enabled: false,
            enabled_at: d.enabled_at,
            disabled_at: Some(now),
        }),
        _ => Err(feature_disabled()),
    })
    .await?;
    Ok(None)
}
