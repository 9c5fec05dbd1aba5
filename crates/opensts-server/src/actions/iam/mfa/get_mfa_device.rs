//! GetMFADevice: the user and enable date of an enabled device.

use crate::actions::iam::mfa::{
    existing_user_name, load_device_authorized, no_such_device, serial_param,
};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let serial = serial_param(&mut v, p);
    let user_name = existing_user_name(&mut v, p, false);
    v.into_result()?;
    let serial = serial.unwrap_or_default();
    let (dev, _) = load_device_authorized(cx, caller, serial).await?;
    let (Some(owner), Some(enabled)) = (dev.user_name.as_deref(), dev.enable_date) else {
        return Err(no_such_device(serial));
    };
    if user_name.is_some_and(|u| !u.eq_ignore_ascii_case(owner)) {
        return Err(no_such_device(serial));
    }
    let mut x = Xml::new();
    x.elem("UserName", owner)
        .elem("SerialNumber", serial)
        .elem("EnableDate", &timestamp(enabled));
    Ok(Some(x.into_string()))
}
