//! Outbound web identity federation: the per-account switch of `GetWebIdentityToken`
//! (`EnableOutboundWebIdentityFederation`, `DisableOutboundWebIdentityFederation`,
//! `GetOutboundWebIdentityFederationInfo`). The switch is the entity
//! [`KIND_ACCOUNT_SETTINGS`]/[`OUTBOUND_FEDERATION_SETTING`] of the account; the issuer URL is
//! `<issuer base URL>/accounts/<ACCOUNT>` (see [`crate::oidc_issuer`]).

pub mod disable_outbound_web_identity_federation;
pub mod enable_outbound_web_identity_federation;
pub mod get_outbound_web_identity_federation_info;

use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::{MAX_WRITE_ATTEMPTS, decode_entity};
use crate::actions::{ActionCtx, ActionSpec, Reply, signed};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::oidc_issuer::{
    KIND_ACCOUNT_SETTINGS, OUTBOUND_FEDERATION_SETTING, OutboundFederationDoc,
};
use crate::protocol::{Api, Params};

pub static ACTIONS: &[ActionSpec] = &[
    signed(Api::Iam, "DisableOutboundWebIdentityFederation"),
    signed(Api::Iam, "EnableOutboundWebIdentityFederation"),
    signed(Api::Iam, "GetOutboundWebIdentityFederationInfo"),
];

/// Run one of this family's actions; `None` if the name is not one of them.
pub async fn run(
    name: &str,
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
) -> Option<ApiResult<Reply>> {
    Some(match name {
        "DisableOutboundWebIdentityFederation" => {
            disable_outbound_web_identity_federation::handle(cx, caller, p).await
        }
        "EnableOutboundWebIdentityFederation" => {
            enable_outbound_web_identity_federation::handle(cx, caller, p).await
        }
        "GetOutboundWebIdentityFederationInfo" => {
            get_outbound_web_identity_federation_info::handle(cx, caller, p).await
        }
        _ => return None,
    })
}

/// `FeatureEnabled` (409): Enable when already enabled.
pub fn feature_enabled() -> ApiError {
    ApiError::new(
        "FeatureEnabled",
        http::StatusCode::CONFLICT,
        "Outbound web identity federation is already enabled for this account. Use GetOutboundWebIdentityFederationInfo to get the issuer URL.",
    )
}

/// `FeatureDisabled` (404): Disable when already disabled, or Get before any Enable.
pub fn feature_disabled() -> ApiError {
    ApiError::new(
        "FeatureDisabled",
        http::StatusCode::NOT_FOUND,
        "Outbound web identity federation is not enabled for this account.",
    )
}

/// The account's switch as stored (read from the store, not the cache) with its version.
pub async fn read_setting(
    cx: &ActionCtx<'_>,
    account: &str,
) -> ApiResult<Option<(OutboundFederationDoc, i64)>> {
    let Some(e) = cx
        .state
        .store
        .get_entity(account, KIND_ACCOUNT_SETTINGS, OUTBOUND_FEDERATION_SETTING)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some((decode_entity(&e)?, e.version)))
}

/// Read-modify-write of the switch: `change` gets the current document (`None` if the account
/// never had one) and returns the new one, or an error that aborts. Retried when another
/// writer got there first, then `ConcurrentModification`.
pub async fn write_setting(
    cx: &ActionCtx<'_>,
    account: &str,
    change: impl Fn(Option<&OutboundFederationDoc>) -> ApiResult<OutboundFederationDoc>,
) -> ApiResult<OutboundFederationDoc> {
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let current = read_setting(cx, account).await?;
        let doc = change(current.as_ref().map(|(d, _)| d))?;
        let expect = match &current {
            Some((_, version)) => Expect::Version(*version),
            None => Expect::Absent,
        };
        let write = Write::PutEntity {
            kind: KIND_ACCOUNT_SETTINGS.to_string(),
            name: OUTBOUND_FEDERATION_SETTING.to_string(),
            doc: serde_json::to_value(&doc).map_err(|_| ApiError::internal())?,
            expect,
        };
        match cx.state.store.apply(account, &[write], cx.now).await {
            Ok(()) => {
                // Read-your-writes on this node (others follow within a poll interval).
                cx.state.cache.invalidate_accounts(&[account.to_string()]);
                return Ok(doc);
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::concurrent_modification(
        "The account settings were modified concurrently; retry.",
    ))
}

/// These actions concern the whole account: `iam:<Action>` on `*`.
pub async fn authorize(cx: &ActionCtx<'_>, caller: &Caller) -> ApiResult<()> {
    crate::actions::iam::authorize(cx, caller, "*").await
}
