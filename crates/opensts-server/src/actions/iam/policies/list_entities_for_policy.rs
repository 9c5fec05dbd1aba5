//! ListEntitiesForPolicy: the groups, users and roles a managed policy is attached to
//! (`PolicyUsageFilter=PermissionsPolicy`) or is the permissions boundary of
//! (`PermissionsBoundary`), filtered by entity type and path, paginated.

use crate::actions::iam::policies::{
    authorize_policy, enum_param, find_policy, policy_arn, policy_not_found,
};
use crate::actions::iam::{check_path, decode_entity, paginate, parse_page, write_page_end};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{GroupDoc, KIND_GROUP, KIND_ROLE, KIND_USER, RoleDoc, UserDoc};
use crate::protocol::xml::Xml;
use crate::protocol::{Params, Violations};

/// One entity using the policy: (sort key, type, name, id).
type Entry = (String, Type, String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Group,
    User,
    Role,
}

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let arn = policy_arn(&mut v, p);
    let filter = enum_param(
        &mut v,
        p,
        "EntityFilter",
        &[
            "User",
            "Role",
            "Group",
            "LocalManagedPolicy",
            "AWSManagedPolicy",
        ],
    );
    let prefix = check_path(&mut v, p, "PathPrefix");
    let usage_filter = enum_param(
        &mut v,
        p,
        "PolicyUsageFilter",
        &["PermissionsPolicy", "PermissionsBoundary"],
    );
    let page = parse_page(&mut v, p);
    v.into_result()?;
    let Some(arn) = arn else {
        return Err(ApiError::internal());
    };
    let account = caller.account_id();
    authorize_policy(cx, caller, arn).await?;
    let Some(policy) = find_policy(cx, account, arn).await? else {
        return Err(policy_not_found(arn));
    };
    let arn = policy.arn(account);
    let prefix = prefix.unwrap_or_else(|| "/".to_string());
    let as_policy = usage_filter != Some("PermissionsBoundary");
    let as_boundary = usage_filter != Some("PermissionsPolicy");
    // The policy-type filters name no entity type: nothing matches them.
    let wants = |t: &str| filter.is_none_or(|f| f == t);
    let uses = |attached: &[String], boundary: Option<&String>| {
        (as_policy && attached.contains(&arn)) || (as_boundary && boundary == Some(&arn))
    };

    let store = &cx.state.store;
    let mut entries: Vec<Entry> = Vec::new();
    if wants("Group") {
        for e in store.list_entities(account, KIND_GROUP).await? {
            let g: GroupDoc = decode_entity(&e)?;
            if g.path.starts_with(&prefix) && uses(&g.attached_policies, None) {
                entries.push((
                    format!("1{}", g.name.to_lowercase()),
                    Type::Group,
                    g.name,
                    g.group_id,
                ));
            }
        }
    }
    if wants("User") {
        for e in store.list_entities(account, KIND_USER).await? {
            let u: UserDoc = decode_entity(&e)?;
            if u.path.starts_with(&prefix)
                && uses(&u.attached_policies, u.permissions_boundary.as_ref())
            {
                entries.push((
                    format!("2{}", u.name.to_lowercase()),
                    Type::User,
                    u.name,
                    u.user_id,
                ));
            }
        }
    }
    if wants("Role") {
        for e in store.list_entities(account, KIND_ROLE).await? {
            let r: RoleDoc = decode_entity(&e)?;
            if r.path.starts_with(&prefix)
                && uses(&r.attached_policies, r.permissions_boundary.as_ref())
            {
                entries.push((
                    format!("3{}", r.name.to_lowercase()),
                    Type::Role,
                    r.name,
                    r.role_id,
                ));
            }
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let (entries, next) = paginate(entries, |e| e.0.clone(), &page)?;

    let mut x = Xml::new();
    for (list, t, name_member, id_member) in [
        ("PolicyGroups", Type::Group, "GroupName", "GroupId"),
        ("PolicyUsers", Type::User, "UserName", "UserId"),
        ("PolicyRoles", Type::Role, "RoleName", "RoleId"),
    ] {
        x.open(list);
        for (_, _, name, id) in entries.iter().filter(|e| e.1 == t) {
            x.open("member")
                .elem(name_member, name)
                .elem(id_member, id)
                .close("member");
        }
        x.close(list);
    }
    write_page_end(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
