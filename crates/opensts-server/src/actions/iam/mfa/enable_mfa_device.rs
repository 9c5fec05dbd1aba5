//! EnableMFADevice: assign a virtual device to a user after checking two consecutive codes.
//! The later code's time step is recorded, so neither code can be used again.

use crate::actions::iam::MAX_WRITE_ATTEMPTS;
use crate::actions::iam::mfa::{
    ENABLE_SKEW_STEPS, MAX_DEVICES_PER_USER, auth_codes, concurrent, existing_user_name,
    invalid_codes, load_user_authorized, no_such_device, put_device_and_user, serial_param,
};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::mfa::{load_device, open_seed};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let user_name = existing_user_name(&mut v, p, true);
    let serial = serial_param(&mut v, p);
    let (c1, c2) = auth_codes(&mut v, p);
    v.into_result()?;
    let (user_name, serial) = (user_name.unwrap_or_default(), serial.unwrap_or_default());
    let (c1, c2) = (c1.unwrap_or_default(), c2.unwrap_or_default());
    let account = caller.account_id();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let (mut user, user_version) = load_user_authorized(cx, caller, user_name).await?;
        let (mut dev, dev_version) = load_device(cx.state, account, serial)
            .await?
            .ok_or_else(|| no_such_device(serial))?;
        if dev.user_name.is_some() {
            return Err(ApiError::entity_already_exists(
                "MFA Device is already in use.",
            ));
        }
        if user.mfa_devices.len() >= MAX_DEVICES_PER_USER {
            return Err(ApiError::limit_exceeded(format!(
                "Cannot exceed quota for MFADevicesPerUser: {MAX_DEVICES_PER_USER}"
            )));
        }
        let seed = open_seed(cx.state, account, &dev)?;
        let step = opensts_core::totp::verify_totp_pair(&seed, c1, c2, cx.now, ENABLE_SKEW_STEPS)
            .ok_or_else(invalid_codes)?;
        if dev.last_used_step.is_some_and(|last| step - 1 <= last) {
            return Err(invalid_codes());
        }
        dev.user_name = Some(user.name.clone());
        dev.enable_date = Some(cx.now);
        dev.last_used_step = Some(step);
        user.mfa_devices.push(serial.to_string());
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
