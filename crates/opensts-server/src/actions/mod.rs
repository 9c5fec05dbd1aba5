//! Action handlers, one file per action, and the table that maps `(Version, Action)` to them.

pub mod iam;
pub mod sts;

use std::net::IpAddr;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::{Api, Params};
use crate::state::AppState;

/// One operation of the API.
#[derive(Debug)]
pub struct ActionSpec {
    pub api: Api,
    pub name: &'static str,
    /// May be called without a signature (AssumeRoleWithSAML, AssumeRoleWithWebIdentity).
    pub unsigned: bool,
}

pub const fn signed(api: Api, name: &'static str) -> ActionSpec {
    ActionSpec {
        api,
        name,
        unsigned: false,
    }
}

/// The STS operations this server answers.
pub static STS_ACTIONS: &[ActionSpec] = &[
    signed(Api::Sts, "GetCallerIdentity"),
    signed(Api::Sts, "GetAccessKeyInfo"),
    signed(Api::Sts, "GetSessionToken"),
    signed(Api::Sts, "AssumeRole"),
    signed(Api::Sts, "GetFederationToken"),
    signed(Api::Sts, "DecodeAuthorizationMessage"),
    signed(Api::Sts, "GetWebIdentityToken"),
    signed(Api::Sts, "GetScopedCredentials"),
    ActionSpec {
        api: Api::Sts,
        name: "AssumeRoleWithSAML",
        unsigned: true,
    },
    ActionSpec {
        api: Api::Sts,
        name: "AssumeRoleWithWebIdentity",
        unsigned: true,
    },
];

/// Find an operation. Action names are case-sensitive, as in AWS.
pub fn lookup(api: Api, action: &str) -> Option<&'static ActionSpec> {
    match api {
        Api::Sts => STS_ACTIONS.iter().find(|s| s.name == action),
        Api::Iam => iam::lookup(action),
    }
}

/// What a handler can see of the request besides its parameters and caller.
pub struct ActionCtx<'a> {
    pub state: &'a AppState,
    pub api: Api,
    pub action: &'static str,
    /// Request time (unix seconds), read once per request.
    pub now: i64,
    pub source_ip: IpAddr,
    pub user_agent: &'a str,
    pub secure_transport: bool,
}

/// The inner XML of the `<ActionResult>` element, or `None` for result-less responses.
pub type Reply = Option<String>;

/// Run an operation. Signed operations get the verified caller; the HTTP layer has already
/// refused unsigned requests to them.
pub async fn run(
    spec: &ActionSpec,
    cx: &ActionCtx<'_>,
    caller: Option<&Caller>,
    p: &Params,
) -> ApiResult<Reply> {
    let signed = || caller.ok_or_else(ApiError::missing_authentication_token);
    match (spec.api, spec.name) {
        (Api::Sts, "GetCallerIdentity") => sts::get_caller_identity::handle(cx, signed()?, p).await,
        (Api::Sts, "GetAccessKeyInfo") => sts::get_access_key_info::handle(cx, signed()?, p).await,
        (Api::Sts, "GetSessionToken") => sts::get_session_token::handle(cx, signed()?, p).await,
        (Api::Sts, "AssumeRole") => sts::assume_role::handle(cx, signed()?, p).await,
        (Api::Sts, "DecodeAuthorizationMessage") => {
            sts::decode_authorization_message::handle(cx, signed()?, p).await
        }
        (Api::Sts, "GetWebIdentityToken") => {
            sts::get_web_identity_token::handle(cx, signed()?, p).await
        }
        (Api::Sts, "GetScopedCredentials") => {
            sts::get_scoped_credentials::handle(cx, signed()?, p).await
        }
        (Api::Sts, "AssumeRoleWithSAML") => sts::assume_role_with_saml::handle(cx, p).await,
        (Api::Sts, "AssumeRoleWithWebIdentity") => {
            sts::assume_role_with_web_identity::handle(cx, p).await
        }
        (Api::Sts, "GetFederationToken") => {
            sts::get_federation_token::handle(cx, signed()?, p).await
        }
        (Api::Iam, name) => iam::run(name, cx, signed()?, p).await,
        _ => Err(ApiError::invalid_action_for_version(
            spec.name,
            match spec.api {
                Api::Sts => crate::protocol::STS_VERSION,
                Api::Iam => crate::protocol::IAM_VERSION,
            },
        )),
    }
}
