//! DecodeAuthorizationMessage: the decision behind an `Encoded authorization failure message`,
//! as AWS's JSON. Needs `sts:DecodeAuthorizationMessage`; only principals of the account the
//! message was sealed for can read it.

use opensts_core::authmsg::{self, AuthMessageError};

use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let msg = v.string(p, "EncodedMessage", true, 1, authmsg::MAX_ENCODED_LEN, None);
    v.into_result()?;
    let msg = msg.unwrap_or_default();
    authz::authorize(cx, caller, "sts:DecodeAuthorizationMessage", "*", |c| c).await?;
    let decoded = authmsg::open_message(&cx.state.message_ring(), caller.account_id(), msg, cx.now)
        .map_err(|e| {
            let text = match e {
                AuthMessageError::Expired => "The encoded authorization message has expired.",
                _ => "The encoded authorization message is invalid.",
            };
            ApiError::new(
                "InvalidAuthorizationMessageException",
                http::StatusCode::BAD_REQUEST,
                text,
            )
        })?;
    let mut x = Xml::new();
    x.elem("DecodedMessage", &decoded.to_string());
    Ok(Some(x.into_string()))
}
