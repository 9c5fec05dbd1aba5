//! IAM groups and membership.
//!
//! Membership is stored on the user (`UserDoc::groups`, group names as spelled at creation).
//! Every write that changes membership also rewrites the group document at the version it
//! read, so adding a member and deleting (or renaming) the group can never both succeed: the
//! second writer fails its precondition, re-reads and sees the first one's result.

pub mod add_user_to_group;
pub mod create_group;
pub mod delete_group;
pub mod get_group;
pub mod list_groups;
pub mod list_groups_for_user;
pub mod remove_user_from_group;
pub mod update_group;

use opensts_store::{Entity, Expect, Write};

use crate::actions::iam::{authorize, no_such_user};
use crate::actions::{ActionCtx, ActionSpec, Reply, signed};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{GroupDoc, KIND_GROUP, KIND_USER, UserDoc};
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Api, CharRule, Params, Violations};

pub static ACTIONS: &[ActionSpec] = &[
    signed(Api::Iam, "AddUserToGroup"),
    signed(Api::Iam, "CreateGroup"),
    signed(Api::Iam, "DeleteGroup"),
    signed(Api::Iam, "GetGroup"),
    signed(Api::Iam, "ListGroups"),
    signed(Api::Iam, "ListGroupsForUser"),
    signed(Api::Iam, "RemoveUserFromGroup"),
    signed(Api::Iam, "UpdateGroup"),
];

/// Run one of this family's actions; `None` if the name is not one of them.
pub async fn run(
    name: &str,
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
) -> Option<ApiResult<Reply>> {
    Some(match name {
        "AddUserToGroup" => add_user_to_group::handle(cx, caller, p).await,
        "CreateGroup" => create_group::handle(cx, caller, p).await,
        "DeleteGroup" => delete_group::handle(cx, caller, p).await,
        "GetGroup" => get_group::handle(cx, caller, p).await,
        "ListGroups" => list_groups::handle(cx, caller, p).await,
        "ListGroupsForUser" => list_groups_for_user::handle(cx, caller, p).await,
        "RemoveUserFromGroup" => remove_user_from_group::handle(cx, caller, p).await,
        "UpdateGroup" => update_group::handle(cx, caller, p).await,
        _ => return None,
    })
}

/// AWS's quota of groups one user may belong to.
pub const MAX_GROUPS_PER_USER: usize = 10;

/// A group name member (`GroupName`, `NewGroupName`): 1–128 of `[\w+=,.@-]`.
pub fn group_name<'a>(
    v: &mut Violations,
    p: &'a Params,
    member: &str,
    required: bool,
) -> Option<&'a str> {
    v.string(p, member, required, 1, 128, Some(CharRule::IamName))
}

/// `UserName` of the membership actions (`existingUserNameType`: 1–128 of `[\w+=,.@-]`).
pub fn member_user_name<'a>(v: &mut Violations, p: &'a Params) -> Option<&'a str> {
    v.string(p, "UserName", true, 1, 128, Some(CharRule::IamName))
}

pub fn no_such_group(name: &str) -> ApiError {
    ApiError::no_such_entity(format!("The group with name {name} cannot be found."))
}

fn decode<T: serde::de::DeserializeOwned>(e: &Entity, what: &str) -> ApiResult<T> {
    serde_json::from_value(e.doc.clone()).map_err(|err| {
        tracing::error!(error = %err, kind = what, "corrupt IAM document");
        ApiError::internal()
    })
}

pub fn decode_group(e: &Entity) -> ApiResult<GroupDoc> {
    decode(e, KIND_GROUP)
}

/// Read a group and authorize the call on it (on `group/<name>` when it does not exist).
/// Returns the document and its store version.
pub async fn load_group(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    name: &str,
) -> ApiResult<(GroupDoc, i64)> {
    let account = caller.account_id();
    let Some(e) = cx.state.store.get_entity(account, KIND_GROUP, name).await? else {
        authorize(
            cx,
            caller,
            &opensts_core::arn::group_arn(account, "/", name),
        )
        .await?;
        return Err(no_such_group(name));
    };
    let group = decode_group(&e)?;
    authorize(cx, caller, &group.arn(account)).await?;
    Ok((group, e.version))
}

/// A user and its store version (`NoSuchEntity` if absent; no authorization).
pub async fn load_user(cx: &ActionCtx<'_>, account: &str, name: &str) -> ApiResult<(UserDoc, i64)> {
    let Some(e) = cx.state.store.get_entity(account, KIND_USER, name).await? else {
        return Err(no_such_user(name));
    };
    Ok((decode(&e, KIND_USER)?, e.version))
}

/// Whether a user's membership list names this group (names compare case-insensitively).
pub fn is_member(user: &UserDoc, group: &str) -> bool {
    user.groups.iter().any(|g| g.eq_ignore_ascii_case(group))
}

/// The members of a group with their store versions, ordered by name.
pub async fn members(
    cx: &ActionCtx<'_>,
    account: &str,
    group: &str,
) -> ApiResult<Vec<(UserDoc, i64)>> {
    let mut out = Vec::new();
    for e in cx.state.store.list_entities(account, KIND_USER).await? {
        let user: UserDoc = decode(&e, KIND_USER)?;
        if is_member(&user, group) {
            out.push((user, e.version));
        }
    }
    Ok(out)
}

/// Write a document of `kind` at the version it was read.
pub fn put_at_version<T: serde::Serialize>(
    kind: &str,
    name: &str,
    doc: &T,
    version: i64,
) -> ApiResult<Write> {
    Ok(Write::PutEntity {
        kind: kind.to_string(),
        name: name.to_string(),
        doc: serde_json::to_value(doc).map_err(|_| ApiError::internal())?,
        expect: Expect::Version(version),
    })
}

/// The `Group` shape.
pub fn write_group(x: &mut Xml, g: &GroupDoc, account_id: &str) {
    x.elem("Path", &g.path)
        .elem("GroupName", &g.name)
        .elem("GroupId", &g.group_id)
        .elem("Arn", &g.arn(account_id))
        .elem("CreateDate", &timestamp(g.create_date));
}

pub fn concurrent() -> ApiError {
    ApiError::concurrent_modification("The group was modified concurrently; retry.")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn group_shape() {
        let g = GroupDoc {
            name: "Admins".into(),
            group_id: "AGPAEXAMPLE0000000001".into(),
            path: "/ops/".into(),
            create_date: 1_590_901_865,
            inline_policies: Default::default(),
            attached_policies: Vec::new(),
        };
        let mut x = Xml::new();
        write_group(&mut x, &g, "111122223333");
        assert_eq!(
            x.into_string(),
            "<Path>/ops/</Path><GroupName>Admins</GroupName><GroupId>AGPAEXAMPLE0000000001</GroupId>\
             <Arn>arn:aws:iam::111122223333:group/ops/Admins</Arn><CreateDate>2020-05-31T05:11:05Z</CreateDate>"
        );
    }

    #[test]
    fn membership_is_case_insensitive() {
        let u: UserDoc = serde_json::from_value(serde_json::json!({
            "name": "bob", "user_id": "AIDAEXAMPLE0000000001", "path": "/",
            "create_date": 0, "groups": ["Admins"]
        }))
        .unwrap();
        assert!(is_member(&u, "admins"));
        assert!(is_member(&u, "Admins"));
        assert!(!is_member(&u, "Admin"));
    }
}
