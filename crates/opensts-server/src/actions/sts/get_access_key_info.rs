//! GetAccessKeyInfo: the account an access key belongs to. Like AWS, the account is encoded in
//! the key id itself, so this works for any key (long-term or temporary, even deleted) without
//! a lookup and says nothing about the key's state.

use opensts_core::ids;

use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

pub async fn handle(_cx: &ActionCtx<'_>, _caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let id = v.string(p, "AccessKeyId", true, 16, 128, Some(CharRule::Word));
    v.into_result()?;
    let id = id.unwrap_or_default();
    let account = ids::account_from_access_key_id(id).ok_or_else(|| {
        ApiError::invalid_parameter_value(format!("Access key {id} is not a valid access key id"))
    })?;
    let mut x = Xml::new();
    x.elem("Account", &account);
    Ok(Some(x.into_string()))
}
