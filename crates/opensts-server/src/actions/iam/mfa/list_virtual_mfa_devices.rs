//! ListVirtualMFADevices: the account's virtual devices, filtered by `AssignmentStatus`
//! (`Assigned`, `Unassigned` or `Any`, the default), with the user of assigned ones.

use std::collections::HashMap;

use crate::actions::iam::mfa::write_virtual_device;
use crate::actions::iam::{authorize, decode_entity, paginate, parse_page, write_page_end};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::model::{KIND_MFA, KIND_USER, MfaDeviceDoc, UserDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let status = p.get("AssignmentStatus");
    if let Some(s) = status
        && !matches!(s, "Assigned" | "Unassigned" | "Any")
    {
        v.add(
            Some(s),
            "AssignmentStatus",
            "Member must satisfy enum value set: [Assigned, Unassigned, Any]",
        );
    }
    let page = parse_page(&mut v, p);
    v.into_result()?;
    // No resource type in the Service Authorization Reference.
    authorize(cx, caller, "*").await?;
    let account = caller.account_id();
    let store = &cx.state.store;
    let mut devices = Vec::new();
    for e in store.list_entities(account, KIND_MFA).await? {
        let dev: MfaDeviceDoc = decode_entity(&e)?;
        let keep = match status {
            Some("Assigned") => dev.user_name.is_some(),
            Some("Unassigned") => dev.user_name.is_none(),
            _ => true,
        };
        if keep {
            devices.push(dev);
        }
    }
    // list_entities is ordered by the lower-cased name: page on that.
    let (devices, next) = paginate(devices, |d| d.name.to_lowercase(), &page)?;
    let mut users: HashMap<String, UserDoc> = HashMap::new();
    if devices.iter().any(|d| d.user_name.is_some()) {
        for e in store.list_entities(account, KIND_USER).await? {
            let u: UserDoc = decode_entity(&e)?;
            users.insert(u.name.to_lowercase(), u);
        }
    }
    let mut x = Xml::new();
    x.open("VirtualMFADevices");
    for dev in &devices {
        let user = dev
            .user_name
            .as_ref()
            .and_then(|n| users.get(&n.to_lowercase()));
        x.open("member");
        write_virtual_device(&mut x, dev, account, user);
        x.close("member");
    }
    x.close("VirtualMFADevices");
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
