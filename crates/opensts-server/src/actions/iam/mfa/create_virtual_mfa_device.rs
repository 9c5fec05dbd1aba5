//! CreateVirtualMFADevice: a new TOTP seed, sealed by the master key at rest; the seed
//! (`Base32StringSeed`: base64 of the base32 text) and its QR code (`QRCodePNG`) are returned
//! only here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use opensts_store::{Expect, StoreError, Write};

use crate::actions::iam::mfa::qr;
use crate::actions::iam::{authorize, check_path, parse_tags, write_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::mfa::seal_seed;
use crate::iam::model::{KIND_MFA, MfaDeviceDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

/// Longest serial number (`serialNumberType`).
const MAX_SERIAL_LEN: usize = 256;

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let path = check_path(&mut v, p, "Path");
    // `arn:aws:iam::<12 digits>:mfa/` is 30 characters of the 256 a serial number may have.
    let name = v.string(
        p,
        "VirtualMFADeviceName",
        true,
        1,
        MAX_SERIAL_LEN - 30,
        Some(CharRule::IamName),
    );
    v.into_result()?;
    let tags = parse_tags(p)?;
    let name = name.unwrap_or_default();
    let path = path.unwrap_or_else(|| "/".to_string());
    let account = caller.account_id();
    let serial = opensts_core::arn::mfa_arn(account, &path, name);
    if serial.chars().count() > MAX_SERIAL_LEN {
        return Err(ApiError::invalid_input(format!(
            "The serial number of the device (path and name) must be at most {MAX_SERIAL_LEN} characters long."
        )));
    }
    authorize(cx, caller, &serial).await?;

    let seed = opensts_core::totp::new_seed();
    let b32 = zeroize::Zeroizing::new(opensts_core::totp::base32_encode(&seed));
    let uri = zeroize::Zeroizing::new(qr::otpauth_uri(name, account, &b32));
    let png = qr::qr_png(&uri).ok_or_else(ApiError::internal)?;
    let doc = MfaDeviceDoc {
        name: name.to_string(),
        path,
        create_date: cx.now,
        seed_sealed: seal_seed(cx.state, account, &serial, &seed)?,
        tags,
        user_name: None,
        enable_date: None,
        last_used_step: None,
    };
    let json = serde_json::to_value(&doc).map_err(|_| ApiError::internal())?;
    let write = Write::PutEntity {
        kind: KIND_MFA.to_string(),
        name: name.to_string(),
        doc: json,
        expect: Expect::Absent,
    };
    match cx.state.store.apply(account, &[write], cx.now).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::entity_already_exists(
                "MFADevice entity at the same path and name already exists.",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let mut x = Xml::new();
    x.open("VirtualMFADevice")
        .elem("SerialNumber", &serial)
        .elem("Base32StringSeed", &STANDARD.encode(b32.as_bytes()))
        .elem("QRCodePNG", &STANDARD.encode(&png));
    write_tags(&mut x, &doc.tags);
    x.close("VirtualMFADevice");
    Ok(Some(x.into_string()))
}
