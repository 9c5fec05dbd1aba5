//! ListPolicies: AWS managed and/or customer managed policies (`Scope`), optionally only those
//! in use (`OnlyAttached`, `PolicyUsageFilter`), under a path, paginated.

use crate::actions::iam::policies::{
    Counts, ManagedPolicy, PolicyView, bool_param, enum_param, policy_path, usage, write_policy,
};
use crate::actions::iam::{authorize, decode_entity, paginate, parse_page, write_page_end};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::iam::aws_managed;
use crate::iam::model::{KIND_POLICY, PolicyDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let scope = enum_param(&mut v, p, "Scope", &["All", "AWS", "Local"]);
    let only_attached = bool_param(&mut v, p, "OnlyAttached");
    let prefix = policy_path(&mut v, p, "PathPrefix");
    let usage_filter = enum_param(
        &mut v,
        p,
        "PolicyUsageFilter",
        &["PermissionsPolicy", "PermissionsBoundary"],
    );
    let page = parse_page(&mut v, p);
    v.into_result()?;
    let account = caller.account_id();
    authorize(cx, caller, &format!("arn:aws:iam::{account}:policy/")).await?;

    let scope = scope.unwrap_or("All");
    let prefix = prefix.unwrap_or_else(|| "/".to_string());
    let mut policies: Vec<ManagedPolicy> = Vec::new();
    if scope != "Local" {
        policies.extend(
            aws_managed::all()
                .iter()
                .filter(|pol| pol.path.starts_with(&prefix))
                .map(ManagedPolicy::Aws),
        );
    }
    if scope != "AWS" {
        for e in cx.state.store.list_entities(account, KIND_POLICY).await? {
            let doc: PolicyDoc = decode_entity(&e)?;
            if doc.path.starts_with(&prefix) {
                policies.push(ManagedPolicy::Local(Box::new(doc), e.version));
            }
        }
    }
    let counts = usage(cx, account).await?;
    let mut listed: Vec<(String, ManagedPolicy, Counts)> = policies
        .into_iter()
        .filter_map(|pol| {
            let arn = pol.arn(account);
            let c = counts.get(&arn).copied().unwrap_or_default();
            // The usage filter picks how the policy must be in use; OnlyAttached asks that it
            // be in use that way (either way without a usage filter).
            let in_use = match usage_filter {
                Some("PermissionsPolicy") => c.attachments > 0,
                Some("PermissionsBoundary") => c.boundaries > 0,
                _ => c.attachments > 0 || c.boundaries > 0,
            };
            let keep = if only_attached == Some(true) || usage_filter.is_some() {
                in_use
            } else {
                true
            };
            keep.then(|| (format!("{}\u{1}{arn}", pol.name().to_lowercase()), pol, c))
        })
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    let (listed, next) = paginate(listed, |(k, _, _)| k.clone(), &page)?;

    let mut x = Xml::new();
    x.open("Policies");
    for (_, pol, c) in &listed {
        x.open("member");
        write_policy(&mut x, pol, account, *c, PolicyView::Listed);
        x.close("member");
    }
    x.close("Policies");
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
