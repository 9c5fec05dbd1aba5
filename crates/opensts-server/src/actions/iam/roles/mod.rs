//! IAM roles: create, read, update, delete, tags, permissions boundaries.

pub mod create_role;
pub mod delete_role;
pub mod delete_role_permissions_boundary;
pub mod get_role;
pub mod list_role_tags;
pub mod list_roles;
pub mod put_role_permissions_boundary;
pub mod tag_role;
pub mod untag_role;
pub mod update_assume_role_policy;
pub mod update_role;
pub mod update_role_description;

use opensts_policy::{Policy, PolicyKind};
use opensts_store::{Entity, Expect, StoreError, Write};

use crate::actions::iam::{MAX_WRITE_ATTEMPTS, authorize, encode_policy_document, write_tags};
use crate::actions::{ActionCtx, ActionSpec, Reply, signed};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{KIND_ROLE, RoleDoc};
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Api, CharRule, Params, Violations};

pub static ACTIONS: &[ActionSpec] = &[
    signed(Api::Iam, "CreateRole"),
    signed(Api::Iam, "DeleteRole"),
    signed(Api::Iam, "DeleteRolePermissionsBoundary"),
    signed(Api::Iam, "GetRole"),
    signed(Api::Iam, "ListRoleTags"),
    signed(Api::Iam, "ListRoles"),
    signed(Api::Iam, "PutRolePermissionsBoundary"),
    signed(Api::Iam, "TagRole"),
    signed(Api::Iam, "UntagRole"),
    signed(Api::Iam, "UpdateAssumeRolePolicy"),
    signed(Api::Iam, "UpdateRole"),
    signed(Api::Iam, "UpdateRoleDescription"),
];

/// Run one of this family's actions; `None` if the name is not one of them.
pub async fn run(
    name: &str,
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
) -> Option<ApiResult<Reply>> {
    Some(match name {
        "CreateRole" => create_role::handle(cx, caller, p).await,
        "DeleteRole" => delete_role::handle(cx, caller, p).await,
        "DeleteRolePermissionsBoundary" => {
            delete_role_permissions_boundary::handle(cx, caller, p).await
        }
        "GetRole" => get_role::handle(cx, caller, p).await,
        "ListRoleTags" => list_role_tags::handle(cx, caller, p).await,
        "ListRoles" => list_roles::handle(cx, caller, p).await,
        "PutRolePermissionsBoundary" => put_role_permissions_boundary::handle(cx, caller, p).await,
        "TagRole" => tag_role::handle(cx, caller, p).await,
        "UntagRole" => untag_role::handle(cx, caller, p).await,
        "UpdateAssumeRolePolicy" => update_assume_role_policy::handle(cx, caller, p).await,
        "UpdateRole" => update_role::handle(cx, caller, p).await,
        "UpdateRoleDescription" => update_role_description::handle(cx, caller, p).await,
        _ => return None,
    })
}

/// `RoleName` (1–64 of `[\w+=,.@-]`).
pub fn role_name<'a>(v: &mut Violations, p: &'a Params) -> Option<&'a str> {
    v.string(p, "RoleName", true, 1, 64, Some(CharRule::IamName))
}

/// `Description` of a role: 0–1000 characters of `[\t\n\r\u0020-\u007E\u00A1-\u00FF]`.
pub fn role_description<'a>(v: &mut Violations, p: &'a Params, required: bool) -> Option<&'a str> {
    let d = v.string(p, "Description", required, 0, 1000, None)?;
    let ok = d.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r')
            || (' '..='\u{7e}').contains(&c)
            || ('\u{a1}'..='\u{ff}').contains(&c)
    });
    if ok {
        Some(d)
    } else {
        v.add(
            Some(d),
            "Description",
            "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*",
        );
        None
    }
}

/// `MaxSessionDuration` (3600–43200 seconds).
pub fn max_session_duration(v: &mut Violations, p: &Params) -> Option<i64> {
    v.int(
        p,
        "MaxSessionDuration",
        false,
        crate::iam::model::role::MIN_MAX_SESSION_DURATION,
        crate::iam::model::role::MAX_MAX_SESSION_DURATION,
    )
}

/// A trust policy document (`AssumeRolePolicyDocument`, `PolicyDocument`): 1–131072
/// characters of the policy character class.
pub fn policy_document<'a>(v: &mut Violations, p: &'a Params, member: &str) -> Option<&'a str> {
    v.string(p, member, true, 1, 131_072, Some(CharRule::PolicyChars))
}

/// Validate a trust policy as IAM does: `MalformedPolicyDocument` with the engine's message,
/// `LimitExceeded` (`Cannot exceed quota for ACLSizePerRole: 2048`) when it is too large.
pub fn check_trust_policy(doc: &str) -> ApiResult<()> {
    match Policy::parse(doc, PolicyKind::Trust) {
        Ok(_) => Ok(()),
        Err(e) if e.is_too_large() => Err(ApiError::limit_exceeded(e.message())),
        Err(e) => Err(ApiError::malformed_policy_document(e.message())),
    }
}

pub fn no_such_role(name: &str) -> ApiError {
    ApiError::no_such_entity(format!("The role with name {name} cannot be found."))
}

pub fn decode_role(e: &Entity) -> ApiResult<RoleDoc> {
    serde_json::from_value(e.doc.clone()).map_err(|err| {
        tracing::error!(error = %err, "corrupt role document");
        ApiError::internal()
    })
}

/// Read a role and authorize the call on it (on `role/<name>` when it does not exist, so a
/// caller without permission learns nothing). Returns the document and its store version.
pub async fn load_role(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    name: &str,
) -> ApiResult<(RoleDoc, i64)> {
    let account = caller.account_id();
    let Some(e) = cx.state.store.get_entity(account, KIND_ROLE, name).await? else {
        authorize(cx, caller, &opensts_core::arn::role_arn(account, "/", name)).await?;
        return Err(no_such_role(name));
    };
    let role = decode_role(&e)?;
    authorize(cx, caller, &role.arn(account)).await?;
    Ok((role, e.version))
}

/// Read-modify-write of a role: read it (authorizing the call), let `change` edit it, and
/// write it back only if nobody wrote it in between (retried a few times, then
/// `ConcurrentModification`). Returns the document as written.
pub async fn modify_role(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    name: &str,
    mut change: impl FnMut(&mut RoleDoc) -> ApiResult<()>,
) -> ApiResult<RoleDoc> {
    let account = caller.account_id();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let (mut role, version) = load_role(cx, caller, name).await?;
        change(&mut role)?;
        let doc = serde_json::to_value(&role).map_err(|_| ApiError::internal())?;
        let write = Write::PutEntity {
            kind: KIND_ROLE.to_string(),
            name: role.name.clone(),
            doc,
            expect: Expect::Version(version),
        };
        match cx.state.store.apply(account, &[write], cx.now).await {
            Ok(()) => return Ok(role),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::concurrent_modification(
        "The role was modified concurrently; retry.",
    ))
}

/// Which members of the `Role` shape a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleView {
    /// GetRole, CreateRole, UpdateRoleDescription: everything.
    Full,
    /// ListRoles: AWS leaves out PermissionsBoundary, Tags and RoleLastUsed.
    Listed,
}

/// The `Role` shape (members in the model's order).
pub fn write_role(x: &mut Xml, r: &RoleDoc, account_id: &str, view: RoleView) {
    x.elem("Path", &r.path)
        .elem("RoleName", &r.name)
        .elem("RoleId", &r.role_id)
        .elem("Arn", &r.arn(account_id))
        .elem("CreateDate", &timestamp(r.create_date))
        .elem(
            "AssumeRolePolicyDocument",
            &encode_policy_document(&r.assume_role_policy),
        );
    x.opt("Description", r.description.as_deref());
    x.num("MaxSessionDuration", r.max_session_duration);
    if view == RoleView::Listed {
        return;
    }
    if let Some(b) = &r.permissions_boundary {
        x.open("PermissionsBoundary")
            .elem("PermissionsBoundaryType", "PermissionsBoundaryPolicy")
            .elem("PermissionsBoundaryArn", b)
            .close("PermissionsBoundary");
    }
    write_tags(x, &r.tags);
    x.open("RoleLastUsed");
    if let Some(t) = r.last_used {
        x.elem("LastUsedDate", &timestamp(t));
        x.opt("Region", r.last_used_region.as_deref());
    }
    x.close("RoleLastUsed");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn role() -> RoleDoc {
        RoleDoc {
            name: "Deploy".into(),
            role_id: "AROAEXAMPLE0000000001".into(),
            path: "/ci/".into(),
            create_date: 1_590_901_865,
            assume_role_policy: r#"{"Version":"2012-10-17"}"#.into(),
            description: Some("a & b".into()),
            max_session_duration: 3600,
            tags: vec![crate::iam::model::Tag {
                key: "k".into(),
                value: "v".into(),
            }],
            permissions_boundary: None,
            inline_policies: Default::default(),
            attached_policies: Vec::new(),
            last_used: None,
            last_used_region: None,
        }
    }

    #[test]
    fn role_shape_full_and_listed() {
        let mut x = Xml::new();
        write_role(&mut x, &role(), "111122223333", RoleView::Full);
        assert_eq!(
            x.into_string(),
            "<Path>/ci/</Path><RoleName>Deploy</RoleName><RoleId>AROAEXAMPLE0000000001</RoleId>\
             <Arn>arn:aws:iam::111122223333:role/ci/Deploy</Arn><CreateDate>2020-05-31T05:11:05Z</CreateDate>\
             <AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%7D</AssumeRolePolicyDocument>\
             <Description>a &amp; b</Description><MaxSessionDuration>3600</MaxSessionDuration>\
             <Tags><member><Key>k</Key><Value>v</Value></member></Tags><RoleLastUsed></RoleLastUsed>"
        );
        let mut x = Xml::new();
        write_role(&mut x, &role(), "111122223333", RoleView::Listed);
        let s = x.into_string();
        assert!(
            s.ends_with("<MaxSessionDuration>3600</MaxSessionDuration>"),
            "{s}"
        );
    }

    #[test]
    fn trust_policy_errors_map_to_iam_codes() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        check_trust_policy(ok).unwrap();
        let e = check_trust_policy("{not json").unwrap_err();
        assert_eq!(e.code, "MalformedPolicyDocument");
        let no_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#;
        assert_eq!(
            check_trust_policy(no_principal).unwrap_err().code,
            "MalformedPolicyDocument"
        );
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Principal":{{"Service":"ec2.amazonaws.com"}},"Action":"sts:AssumeRole"}}]}}"#,
            "a".repeat(3000)
        );
        let e = check_trust_policy(&big).unwrap_err();
        assert_eq!(e.code, "LimitExceeded");
        assert_eq!(e.message, "Cannot exceed quota for ACLSizePerRole: 2048");
    }

    #[test]
    fn description_pattern() {
        let p = Params::decode(&[b"Description=caf%C3%A9"]).unwrap();
        let mut v = Violations::new();
        assert_eq!(role_description(&mut v, &p, true), Some("café"));
        assert!(v.is_empty());
        let p = Params::decode(&[b"Description=%E2%82%AC"]).unwrap();
        let mut v = Violations::new();
        assert_eq!(role_description(&mut v, &p, true), None);
        assert!(v.into_result().unwrap_err().message.contains("description"));
    }

    // The shared helpers this family introduced (actions/iam/mod.rs).

    #[test]
    fn policy_documents_are_rfc3986_encoded() {
        use crate::actions::iam::encode_policy_document;
        assert_eq!(
            encode_policy_document("{\"a\": \"b-c_d.e~f*g\"}\n"),
            "%7B%22a%22%3A%20%22b-c_d.e~f%2Ag%22%7D%0A"
        );
        assert_eq!(encode_policy_document("é"), "%C3%A9");
    }

    #[test]
    fn managed_policy_arns() {
        use crate::actions::iam::managed_policy_arn_parts;
        assert_eq!(
            managed_policy_arn_parts("arn:aws:iam::111122223333:policy/a/b/P"),
            Some(("111122223333".into(), "/a/b/".into(), "P".into()))
        );
        assert_eq!(
            managed_policy_arn_parts("arn:aws:iam::aws:policy/ReadOnlyAccess"),
            Some(("aws".into(), "/".into(), "ReadOnlyAccess".into()))
        );
        for bad in [
            "arn:aws:iam::111122223333:role/P",
            "arn:aws:iam::111122223333:policy/",
            "arn:aws:iam::1111:policy/P",
            "arn:aws:s3:::bucket/policy/x",
            "arn:aws-cn:iam::111122223333:policy/P",
            "arn:aws:iam:us-east-1:111122223333:policy/P",
            "policy/P",
        ] {
            assert_eq!(managed_policy_arn_parts(bad), None, "{bad}");
        }
    }

    #[test]
    fn tags_merge_remove_and_page() {
        use crate::actions::iam::{Page, merge_tags, paginate_tags, remove_tags};
        use crate::iam::model::Tag;
        let t = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        let mut tags = vec![t("a", "1"), t("b", "2")];
        merge_tags(&mut tags, vec![t("A", "9"), t("c", "3")], "Role").unwrap();
        assert_eq!(tags, vec![t("A", "9"), t("b", "2"), t("c", "3")]);
        let many: Vec<Tag> = (0..48).map(|i| t(&format!("k{i}"), "")).collect();
        let e = merge_tags(&mut tags, many, "Role").unwrap_err();
        assert_eq!(e.code, "LimitExceeded");
        assert_eq!(e.message, "Cannot exceed quota for TagsPerRole: 50");
        assert_eq!(tags.len(), 3, "a refused merge changes nothing");
        remove_tags(&mut tags, &["B".into(), "zz".into()]);
        assert_eq!(tags, vec![t("A", "9"), t("c", "3")]);

        let tags: Vec<Tag> = (0..5).map(|i| t(&format!("k{i}"), "")).collect();
        let mut page = Page {
            marker: None,
            max_items: 2,
        };
        let mut seen = Vec::new();
        loop {
            let (items, next) = paginate_tags(&tags, &page).unwrap();
            seen.extend(items);
            match next {
                Some(m) => page.marker = Some(m),
                None => break,
            }
        }
        assert_eq!(seen, tags);
    }
}
