//! ResyncMFADevice: re-check a device whose clock drifted, with two consecutive codes and a
//! wider window (±5 minutes); the later code's step becomes the last used one.

use crate::actions::iam::MAX_WRITE_ATTEMPTS;
use crate::actions::iam::mfa::{
    RESYNC_SKEW_STEPS, auth_codes, concurrent, existing_user_name, invalid_codes,
    load_user_authorized, no_such_device, put_device_and_user, serial_param,
};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
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
        let (user, _) = load_user_authorized(cx, caller, user_name).await?;
        let (mut dev, dev_version) = load_device(cx.state, account, serial)
            .await?
            .ok_or_else(|| no_such_device(serial))?;
        if !dev
            .user_name
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(&user.name))
        {
            return Err(no_such_device(serial));
        }
        let seed = open_seed(cx.state, account, &dev)?;
        let step = opensts_core::totp::verify_totp_pair(&seed, c1, c2, cx.now, RESYNC_SKEW_STEPS)
            .ok_or_else(invalid_codes)?;
        if dev.last_used_step.is_some_and(|last| step - 1 <= last) {
            return Err(invalid_codes());
        }
        dev.last_used_step = Some(step);
        match put_device_and_user(cx, account, (&dev, dev_version), None).await {
            Ok(()) => return Ok(None),
            Err(opensts_store::StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(concurrent())
}
