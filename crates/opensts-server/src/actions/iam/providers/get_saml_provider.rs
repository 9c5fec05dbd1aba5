//! GetSAMLProvider: the metadata document, dates and tags.

use crate::actions::iam::providers::{load_saml, saml_arn_param};
use crate::actions::iam::write_tags;
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = saml_arn_param(&mut v, p);
    v.into_result()?;
    let (doc, _) = load_saml(cx, caller, arn.unwrap_or_default()).await?;
    let mut x = Xml::new();
    x.elem("SAMLProviderUUID", &doc.uuid)
        .elem("SAMLMetadataDocument", &doc.metadata)
        .elem("CreateDate", &timestamp(doc.create_date))
        .elem("ValidUntil", &timestamp(doc.reported_valid_until()));
    write_tags(&mut x, &doc.tags);
    Ok(Some(x.into_string()))
}
