//! STS actions (`Version=2011-06-15`).

pub mod assume_role;
pub mod assume_role_with_saml;
pub mod assume_role_with_web_identity;
pub mod decode_authorization_message;
pub mod federated;
pub mod get_access_key_info;
pub mod get_caller_identity;
pub mod get_federation_token;
pub mod get_scoped_credentials;
pub mod get_session_token;
pub mod get_web_identity_token;
pub mod session;

use opensts_core::ids;
use opensts_core::secret::Secret;
use opensts_core::token::{self, SessionClaims};

use crate::actions::ActionCtx;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::{Xml, timestamp};

/// Temporary credentials just issued.
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: String,
    pub expiration: i64,
}

/// Mint temporary credentials for `claims` (its `secret` is filled in here): a fresh `ASIA…`
/// key id that names the account, a fresh secret, and the sealed session token.
pub fn issue(cx: &ActionCtx<'_>, mut claims: SessionClaims) -> ApiResult<IssuedCredentials> {
    let access_key_id = ids::new_access_key_id_for_account("ASIA", claims.principal.account_id());
    let secret = ids::new_secret_access_key();
    claims.secret = Secret::new(secret.clone());
    let ring = cx.state.session_ring();
    let session_token =
        token::seal_token(&ring, &access_key_id, &claims).map_err(|_| ApiError::internal())?;
    Ok(IssuedCredentials {
        access_key_id,
        secret_access_key: Secret::new(secret),
        session_token,
        expiration: claims.exp,
    })
}

/// `<Credentials>…</Credentials>` as AWS writes it.
pub fn write_credentials(x: &mut Xml, c: &IssuedCredentials) {
    x.open("Credentials")
        .elem("AccessKeyId", &c.access_key_id)
        .elem("SecretAccessKey", c.secret_access_key.expose())
        .elem("SessionToken", &c.session_token)
        .elem("Expiration", &timestamp(c.expiration))
        .close("Credentials");
}
