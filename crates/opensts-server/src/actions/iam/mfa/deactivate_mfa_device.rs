//! DeactivateMFADevice: unassign a device from its user (the virtual device stays, unassigned,
//! until DeleteVirtualMFADevice).

use crate::actions::iam::mfa::{
    concurrent, existing_user_name, load_user_authorized, no_such_device, put_device_and_user,
    serial_param,
};
use crate::actions::iam::{MAX_WRITE_ATTEMPTS, authorize};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::mfa::load_device;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let user_name = existing_user_name(&mut v, p, false);
    let serial = serial_param(&mut v, p);
    v.into_result()?;
    let serial = serial.unwrap_or_default();
    let account = caller.account_id();
    let not_enabled = |owner: &str| {
        ApiError::no_such_entity(format!(
            "MFA Device with serial number {serial} is not enabled for user {owner}."
        ))
    };
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let Some((mut dev, dev_version)) = load_device(cx.state, account, serial).await? else {
            // Authorize before telling whether the device exists.
            match user_name {
                Some(n) => drop(load_user_authorized(cx, caller, n).await?),
                None => authorize(cx, caller, serial).await?,
            }
            return Err(no_such_device(serial));
        };
        // The user named, or (without UserName) the one the device is enabled for.
        let owner = match (user_name, dev.user_name.as_deref()) {
            (Some(n), _) => n.to_string(),
            (None, Some(o)) => o.to_string(),
            (None, None) => {
                authorize(cx, caller, serial).await?;
                return Err(ApiError::no_such_entity(format!(
                    "MFA Device with serial number {serial} is not enabled."
                )));
            }
        };
        let (mut user, user_version) = load_user_authorized(cx, caller, &owner).await?;
        if !dev
            .user_name
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(&user.name))
        {
            return Err(not_enabled(&owner));
        }
        dev.user_name = None;
        dev.enable_date = None;
        user.mfa_devices.retain(|s| s != serial);
        match put_device_and_user(
            cx,
            account,
            (&dev, dev_version),
            Some((&user, user_version)),
        )
        .await
        {
            Ok(()) => return Ok(None),
            Err(opensts_store::StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(concurrent())
}
