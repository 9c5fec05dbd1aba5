//! TagMFADevice: add or overwrite tags on a virtual device (at most 50 in all).

use crate::actions::iam::mfa::{modify_device, serial_param};
use crate::actions::iam::{merge_tags, parse_tags};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let serial = serial_param(&mut v, p);
    if p.struct_list("Tags")?.is_none() {
        v.add(None, "Tags", "Member must not be null");
    }
    v.into_result()?;
    let tags = parse_tags(p)?;
    modify_device(cx, caller, serial.unwrap_or_default(), |dev| {
        merge_tags(&mut dev.tags, tags.clone(), "MFADevice")
    })
    .await?;
    Ok(None)
}
