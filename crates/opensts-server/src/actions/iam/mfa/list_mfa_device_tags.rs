//! ListMFADeviceTags with Marker and MaxItems.

use crate::actions::iam::mfa::{load_device_authorized, serial_param};
use crate::actions::iam::{paginate_tags, parse_page, write_page_end, write_tag_list};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let serial = serial_param(&mut v, p);
    let page = parse_page(&mut v, p);
    v.into_result()?;
    let (dev, _) = load_device_authorized(cx, caller, serial.unwrap_or_default()).await?;
    let (tags, next) = paginate_tags(&dev.tags, &page)?;
    let mut x = Xml::new();
    write_tag_list(&mut x, &tags);
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
