//! ListMFADevices: the devices enabled for a user (the caller without `UserName`).

use crate::actions::iam::mfa::existing_user_name;
use crate::actions::iam::{authorize, key_owner, paginate, parse_page, write_page_end};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::mfa::load_device;
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = existing_user_name(&mut v, p, false);
    let page = parse_page(&mut v, p);
    v.into_result()?;
    let account = caller.account_id();
    let owner = match name {
        Some(n) => crate::actions::iam::mfa::load_user_authorized(cx, caller, n)
            .await
            .map(|(u, _)| Some(u))?,
        None => {
            let owner = key_owner(cx, caller, None).await?;
            let resource = match &owner {
                Some(u) => u.arn(account),
                None => opensts_core::arn::root_arn(account),
            };
            authorize(cx, caller, &resource).await?;
            owner
        }
    };
    let mut devices = Vec::new();
    if let Some(user) = &owner {
        for serial in &user.mfa_devices {
            if let Some((dev, _)) = load_device(cx.state, account, serial).await?
                && let Some(enabled) = dev.enable_date
            {
                devices.push((serial.clone(), enabled));
            }
        }
    }
    devices.sort();
    let (devices, next) = paginate(devices, |(s, _)| s.clone(), &page)?;
    let mut x = Xml::new();
    x.open("MFADevices");
    if let Some(user) = &owner {
        for (serial, enabled) in &devices {
            x.open("member")
                .elem("UserName", &user.name)
                .elem("SerialNumber", serial)
                .elem("EnableDate", &timestamp(*enabled))
                .close("member");
        }
    }
    x.close("MFADevices");
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
