//! GetOutboundWebIdentityFederationInfo: the account's issuer URL and whether token vending
//! is enabled. `FeatureDisabled` (404) if the account never enabled it.

use crate::actions::iam::outbound::{authorize, feature_disabled, read_setting};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::Params;
use crate::protocol::xml::Xml;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, _p: &Params) -> ApiResult<Reply> {
    authorize(cx, caller).await?;
    let account = caller.account_id();
    let Some((doc, _)) = read_setting(cx, account).await? else {
        return Err(feature_disabled());
    };
    let mut x = Xml::new();
    x.elem("IssuerIdentifier", &cx.state.oidc_issuer.issuer(account))
        .bool("JwtVendingEnabled", doc.enabled);
    Ok(Some(x.into_string()))
}
