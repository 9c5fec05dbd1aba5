//! DeleteVirtualMFADevice: refused with DeleteConflict while the device is enabled.

use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::mfa::{load_device_authorized, serial_param};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::KIND_MFA;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let serial = serial_param(&mut v, p);
    v.into_result()?;
    let (dev, version) = load_device_authorized(cx, caller, serial.unwrap_or_default()).await?;
    if dev.user_name.is_some() {
        return Err(ApiError::delete_conflict("MFA Device is already in use."));
    }
    let write = Write::DeleteEntity {
        kind: KIND_MFA.to_string(),
        name: dev.name,
        expect: Expect::Version(version),
    };
    match cx
        .state
        .store
        .apply(caller.account_id(), &[write], cx.now)
        .await
    {
        Ok(()) => Ok(None),
        Err(StoreError::Conflict { .. }) => Err(ApiError::concurrent_modification(
            "The MFA device was modified concurrently; retry.",
        )),
        Err(e) => Err(e.into()),
    }
}
