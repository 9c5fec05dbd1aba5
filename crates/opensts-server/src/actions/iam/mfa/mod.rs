//! Virtual MFA devices: create (sealed TOTP seed, QR code), enable for a user with two
//! consecutive codes, deactivate, resync, list, delete, tags. Code checks for STS live in
//! [`crate::iam::mfa`].

pub mod create_virtual_mfa_device;
pub mod deactivate_mfa_device;
pub mod delete_virtual_mfa_device;
pub mod enable_mfa_device;
pub mod get_mfa_device;
pub mod list_mfa_device_tags;
pub mod list_mfa_devices;
pub mod list_virtual_mfa_devices;
pub mod qr;
pub mod resync_mfa_device;
pub mod tag_mfa_device;
pub mod untag_mfa_device;

use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::{authorize, decode_entity, no_such_user, write_tags, write_user};
use crate::actions::{ActionCtx, ActionSpec, Reply, signed};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::mfa::load_device;
use crate::iam::model::{KIND_MFA, KIND_USER, MfaDeviceDoc, UserDoc};
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Api, CharRule, Params, Violations};

pub static ACTIONS: &[ActionSpec] = &[
    signed(Api::Iam, "CreateVirtualMFADevice"),
    signed(Api::Iam, "DeactivateMFADevice"),
    signed(Api::Iam, "DeleteVirtualMFADevice"),
    signed(Api::Iam, "EnableMFADevice"),
    signed(Api::Iam, "GetMFADevice"),
    signed(Api::Iam, "ListMFADeviceTags"),
    signed(Api::Iam, "ListMFADevices"),
    signed(Api::Iam, "ListVirtualMFADevices"),
    signed(Api::Iam, "ResyncMFADevice"),
    signed(Api::Iam, "TagMFADevice"),
    signed(Api::Iam, "UntagMFADevice"),
];

/// Run one of this family's actions; `None` if the name is not one of them.
pub async fn run(
    name: &str,
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
) -> Option<ApiResult<Reply>> {
    Some(match name {
        "CreateVirtualMFADevice" => create_virtual_mfa_device::handle(cx, caller, p).await,
        "DeactivateMFADevice" => deactivate_mfa_device::handle(cx, caller, p).await,
        "DeleteVirtualMFADevice" => delete_virtual_mfa_device::handle(cx, caller, p).await,
        "EnableMFADevice" => enable_mfa_device::handle(cx, caller, p).await,
        "GetMFADevice" => get_mfa_device::handle(cx, caller, p).await,
        "ListMFADeviceTags" => list_mfa_device_tags::handle(cx, caller, p).await,
        "ListMFADevices" => list_mfa_devices::handle(cx, caller, p).await,
        "ListVirtualMFADevices" => list_virtual_mfa_devices::handle(cx, caller, p).await,
        "ResyncMFADevice" => resync_mfa_device::handle(cx, caller, p).await,
        "TagMFADevice" => tag_mfa_device::handle(cx, caller, p).await,
        "UntagMFADevice" => untag_mfa_device::handle(cx, caller, p).await,
        _ => return None,
    })
}

/// Most MFA devices enabled for one user (AWS's quota).
pub const MAX_DEVICES_PER_USER: usize = 8;
/// Time steps of drift accepted by EnableMFADevice (±30 s).
pub const ENABLE_SKEW_STEPS: u64 = 1;
/// Time steps of drift accepted by ResyncMFADevice (±5 minutes).
pub const RESYNC_SKEW_STEPS: u64 = opensts_core::totp::MAX_SKEW_STEPS;

/// `SerialNumber`: 9–256 of `[\w+=/:,.@-]`.
pub fn serial_param<'a>(v: &mut Violations, p: &'a Params) -> Option<&'a str> {
    v.string(
        p,
        "SerialNumber",
        true,
        9,
        256,
        Some(CharRule::SerialNumber),
    )
}

/// `UserName` of an existing user (`existingUserNameType`: 1–128 of `[\w+=,.@-]`).
pub fn existing_user_name<'a>(
    v: &mut Violations,
    p: &'a Params,
    required: bool,
) -> Option<&'a str> {
    v.string(p, "UserName", required, 1, 128, Some(CharRule::IamName))
}

/// `AuthenticationCode1` and `AuthenticationCode2`: 6 digits each.
pub fn auth_codes<'a>(v: &mut Violations, p: &'a Params) -> (Option<&'a str>, Option<&'a str>) {
    let c1 = v.string(p, "AuthenticationCode1", true, 6, 6, Some(CharRule::Digits));
    let c2 = v.string(p, "AuthenticationCode2", true, 6, 6, Some(CharRule::Digits));
    (c1, c2)
}

pub fn no_such_device(serial: &str) -> ApiError {
    ApiError::no_such_entity(format!(
        "VirtualMFADevice with serial number {serial} doesn't exist."
    ))
}

pub fn invalid_codes() -> ApiError {
    ApiError::invalid_authentication_code("Authentication code for device is not valid.")
}

/// Authorize the call on the device (its serial number is its ARN), then read it.
pub async fn load_device_authorized(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    serial: &str,
) -> ApiResult<(MfaDeviceDoc, i64)> {
    authorize(cx, caller, serial).await?;
    load_device(cx.state, caller.account_id(), serial)
        .await?
        .ok_or_else(|| no_such_device(serial))
}

/// Read a user (authorizing the call on it; on `user/<name>` when it does not exist).
/// Returns the document and its store version.
pub async fn load_user_authorized(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    name: &str,
) -> ApiResult<(UserDoc, i64)> {
    let account = caller.account_id();
    let Some(e) = cx.state.store.get_entity(account, KIND_USER, name).await? else {
        authorize(cx, caller, &opensts_core::arn::user_arn(account, "/", name)).await?;
        return Err(no_such_user(name));
    };
    let user: UserDoc = decode_entity(&e)?;
    authorize(cx, caller, &user.arn(account)).await?;
    Ok((user, e.version))
}

/// Put a device document, and the user document when given, in one atomic write, each only
/// if unchanged since it was read.
pub async fn put_device_and_user(
    cx: &ActionCtx<'_>,
    account: &str,
    device: (&MfaDeviceDoc, i64),
    user: Option<(&UserDoc, i64)>,
) -> Result<(), StoreError> {
    let json = |d: serde_json::Result<serde_json::Value>| {
        d.map_err(|e| StoreError::Other(format!("serialize: {e}")))
    };
    let mut writes = vec![Write::PutEntity {
        kind: KIND_MFA.to_string(),
        name: device.0.name.clone(),
        doc: json(serde_json::to_value(device.0))?,
        expect: Expect::Version(device.1),
    }];
    if let Some((u, version)) = user {
        writes.push(Write::PutEntity {
            kind: KIND_USER.to_string(),
            name: u.name.clone(),
            doc: json(serde_json::to_value(u))?,
            expect: Expect::Version(version),
        });
    }
    cx.state.store.apply(account, &writes, cx.now).await
}

pub fn concurrent() -> ApiError {
    ApiError::concurrent_modification("The MFA device was modified concurrently; retry.")
}

/// The `VirtualMFADevice` shape without the bootstrap data (ListVirtualMFADevices).
pub fn write_virtual_device(
    x: &mut Xml,
    dev: &MfaDeviceDoc,
    account: &str,
    user: Option<&UserDoc>,
) {
    x.elem("SerialNumber", &dev.serial(account));
    if let Some(u) = user {
        x.open("User");
        write_user(x, u, account, false);
        x.close("User");
    }
    if let Some(d) = dev.enable_date {
        x.elem("EnableDate", &timestamp(d));
    }
    write_tags(x, &dev.tags);
}

/// Authorize the call on the device, then read-modify-write it (tags).
pub async fn modify_device(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    serial: &str,
    mut change: impl FnMut(&mut MfaDeviceDoc) -> ApiResult<()>,
) -> ApiResult<MfaDeviceDoc> {
    authorize(cx, caller, serial).await?;
    let account = caller.account_id();
    let Some((_, name)) = crate::iam::mfa::parse_serial(account, serial) else {
        return Err(no_such_device(serial));
    };
    crate::actions::iam::modify_entity(
        cx,
        account,
        KIND_MFA,
        name,
        || no_such_device(serial),
        |dev: &mut MfaDeviceDoc| {
            if dev.serial(account) != serial {
                return Err(no_such_device(serial));
            }
            change(dev)
        },
    )
    .await
}
