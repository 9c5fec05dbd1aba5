//! UpdateSAMLProvider: replace the metadata document (new signing certificates: several may
//! be listed during a rotation).

use crate::actions::iam::providers::{
    modify_saml, parse_saml_metadata, refuse_saml_encryption_options, saml_arn_param,
    saml_metadata_param,
};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let metadata = saml_metadata_param(&mut v, p, false);
    let arn = saml_arn_param(&mut v, p);
    v.into_result()?;
    refuse_saml_encryption_options(p)?;
    let arn = arn.unwrap_or_default();
    // Validate before touching the store; the write re-checks nothing else.
    let md = metadata.map(parse_saml_metadata).transpose()?;
    modify_saml(cx, caller, arn, |doc| {
        if let (Some(xml), Some(md)) = (metadata, md.as_ref()) {
            doc.set_metadata(xml, md);
        }
        Ok(())
    })
    .await?;
    let mut x = Xml::new();
    x.elem("SAMLProviderArn", arn);
    Ok(Some(x.into_string()))
}
