//! IAM actions (`Version=2010-05-08`) and what they share: authorization, validation of
//! common members, pagination and the XML of common shapes.

pub mod groups;
pub mod mfa;
pub mod outbound;
pub mod policies;
pub mod providers;
pub mod roles;
pub mod simulate;
pub mod users;

use crate::actions::ActionSpec;

/// The IAM action families. Each has a directory with one file per action, an `ACTIONS`
/// table and a `run` dispatcher; adding a family means adding it here.
pub static FAMILIES: &[&[ActionSpec]] = &[
    users::ACTIONS,
    roles::ACTIONS,
    groups::ACTIONS,
    policies::ACTIONS,
    providers::ACTIONS,
    mfa::ACTIONS,
    simulate::ACTIONS,
    outbound::ACTIONS,
];

pub fn lookup(action: &str) -> Option<&'static ActionSpec> {
    FAMILIES
        .iter()
        .flat_map(|f| f.iter())
        .find(|s| s.name == action)
}

/// Run an IAM action.
pub async fn run(name: &str, cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    if let Some(r) = users::run(name, cx, caller, p).await {
        return r;
    }
    if let Some(r) = roles::run(name, cx, caller, p).await {
        return r;
    }
    if let Some(r) = groups::run(name, cx, caller, p).await {
        return r;
    }
    if let Some(r) = policies::run(name, cx, caller, p).await {
        return r;
    }
    if let Some(r) = providers::run(name, cx, caller, p).await {
        return r;
    }
    if let Some(r) = mfa::run(name, cx, caller, p).await {
        return r;
    }
    if let Some(r) = simulate::run(name, cx, caller, p).await {
        return r;
    }
    if let Some(r) = outbound::run(name, cx, caller, p).await {
        return r;
    }
    Err(ApiError::invalid_action_for_version(
        name,
        crate::protocol::IAM_VERSION,
    ))
}

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::{Tag, UserDoc};
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{CharRule, Params, Violations};

/// Most tags on one IAM entity.
pub const MAX_TAGS: usize = 50;
/// Default and largest `MaxItems` of list operations.
pub const DEFAULT_MAX_ITEMS: i64 = 100;
pub const MAX_MAX_ITEMS: i64 = 1000;
/// How many times a read-modify-write of an entity is tried when another writer got there
/// first (then `ConcurrentModification`).
pub const MAX_WRITE_ATTEMPTS: usize = 3;

/// Authorize an IAM call: the root of an account may do anything in its account; every other
/// principal needs `iam:<Action>` on the resource allowed by its policies (identity policies,
/// groups, permissions boundary, session policies — see [`crate::authz`]).
pub async fn authorize(cx: &ActionCtx<'_>, caller: &Caller, resource_arn: &str) -> ApiResult<()> {
    let action = format!("iam:{}", cx.action);
    crate::authz::authorize(cx, caller, &action, resource_arn, |c| c).await
}

/// `Path`: `/` or `/segments/`, 1–512 characters of U+0021–U+007E.
pub fn check_path(v: &mut Violations, p: &Params, member: &str) -> Option<String> {
    let path = v.string(p, member, false, 1, 512, Some(CharRule::PathChars))?;
    if path.starts_with('/') && path.ends_with('/') {
        Some(path.to_string())
    } else {
        v.add(
            Some(path),
            member,
            &format!(
                "Member must satisfy regular expression pattern: {}",
                CharRule::PathChars.pattern()
            ),
        );
        None
    }
}

/// `Tags.member.N.{Key,Value}`: at most 50, keys 1–128 and values 0–256 characters of the
/// tag character class, keys unique (case-insensitively).
pub fn parse_tags(p: &Params) -> ApiResult<Vec<Tag>> {
    let Some(items) = p.struct_list("Tags")? else {
        return Ok(Vec::new());
    };
    let mut v = Violations::new();
    if items.len() > MAX_TAGS {
        v.add(
            Some(&format!("{} tags", items.len())),
            "Tags",
            &format!("Member must have length less than or equal to {MAX_TAGS}"),
        );
    }
    let mut tags = Vec::with_capacity(items.len());
    for item in &items {
        let key = item.get("Key").map(String::as_str);
        let value = item.get("Value").map(String::as_str);
        match key {
            None => v.add(None, "Tags.member.key", "Member must not be null"),
            Some(k) if k.is_empty() || k.chars().count() > 128 => v.add(
                Some(k),
                "Tags.member.key",
                "Member must have length between 1 and 128",
            ),
            Some(k) if !k.chars().all(|c| CharRule::TagChars.allows(c)) => v.add(
                Some(k),
                "Tags.member.key",
                &format!(
                    "Member must satisfy regular expression pattern: {}",
                    CharRule::TagChars.pattern()
                ),
            ),
            Some(_) => {}
        }
        match value {
            None => v.add(None, "Tags.member.value", "Member must not be null"),
            Some(val) if val.chars().count() > 256 => v.add(
                Some(val),
                "Tags.member.value",
                "Member must have length less than or equal to 256",
            ),
            Some(val) if !val.chars().all(|c| CharRule::TagChars.allows(c)) => v.add(
                Some(val),
                "Tags.member.value",
                &format!(
                    "Member must satisfy regular expression pattern: {}",
                    CharRule::TagChars.pattern()
                ),
            ),
            Some(_) => {}
        }
        if let (Some(k), Some(val)) = (key, value) {
            tags.push(Tag {
                key: k.to_string(),
                value: val.to_string(),
            });
        }
    }
    v.into_result()?;
    for (i, t) in tags.iter().enumerate() {
        if tags[..i].iter().any(|o| o.key.eq_ignore_ascii_case(&t.key)) {
            return Err(ApiError::invalid_parameter_value(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
    }
    Ok(tags)
}

pub fn write_tags(x: &mut Xml, tags: &[Tag]) {
    if tags.is_empty() {
        return;
    }
    x.open("Tags");
    for t in tags {
        x.open("member")
            .elem("Key", &t.key)
            .elem("Value", &t.value)
            .close("member");
    }
    x.close("Tags");
}

/// The `User` shape.
pub fn write_user(x: &mut Xml, u: &UserDoc, account_id: &str, with_tags: bool) {
    x.elem("Path", &u.path)
        .elem("UserName", &u.name)
        .elem("UserId", &u.user_id)
        .elem("Arn", &u.arn(account_id))
        .elem("CreateDate", &timestamp(u.create_date));
    if let Some(b) = &u.permissions_boundary {
        x.open("PermissionsBoundary")
            .elem("PermissionsBoundaryType", "PermissionsBoundaryPolicy")
            .elem("PermissionsBoundaryArn", b)
            .close("PermissionsBoundary");
    }
    if with_tags {
        write_tags(x, &u.tags);
    }
}

pub fn no_such_user(name: &str) -> ApiError {
    ApiError::no_such_entity(format!("The user with name {name} cannot be found."))
}

/// `Marker` / `MaxItems` of list operations.
pub struct Page {
    pub marker: Option<String>,
    pub max_items: usize,
}

pub fn parse_page(v: &mut Violations, p: &Params) -> Page {
    let marker = v
        .string(p, "Marker", false, 1, 320, Some(CharRule::PolicyChars))
        .map(str::to_string);
    let max = v
        .int(p, "MaxItems", false, 1, MAX_MAX_ITEMS)
        .unwrap_or(DEFAULT_MAX_ITEMS);
    Page {
        marker,
        max_items: usize::try_from(max).unwrap_or(100),
    }
}

/// Apply a page to items sorted by `key`. Returns the page and the marker of the next one.
pub fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    page: &Page,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let start_key = match &page.marker {
        Some(m) => Some(
            URL_SAFE_NO_PAD
                .decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::validation("Invalid Marker"))?,
        ),
        None => None,
    };
    let mut out = Vec::new();
    let mut next = None;
    for item in items {
        let k = key(&item);
        if let Some(s) = &start_key
            && k.as_str() < s.as_str()
        {
            continue;
        }
        if out.len() == page.max_items {
            next = Some(URL_SAFE_NO_PAD.encode(k.as_bytes()));
            break;
        }
        out.push(item);
    }
    Ok((out, next))
}

pub fn write_page_end(x: &mut Xml, next: Option<&str>) {
    x.bool("IsTruncated", next.is_some());
    if let Some(m) = next {
        x.elem("Marker", m);
    }
}

/// `UserName` as IAM validates it (1–64 of `[\w+=,.@-]`).
pub fn user_name<'a>(v: &mut Violations, p: &'a Params, required: bool) -> Option<&'a str> {
    v.string(p, "UserName", required, 1, 64, Some(CharRule::IamName))
}

/// Resolve the user an access-key operation is about: the named one, or (without `UserName`)
/// the caller itself — `None` meaning the account root.
pub async fn key_owner(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    name: Option<&str>,
) -> ApiResult<Option<UserDoc>> {
    let account = caller.account_id();
    match name {
        Some(n) => match cx.state.get_user_doc(account, n).await? {
            Some(u) => Ok(Some(u)),
            None => Err(no_such_user(n)),
        },
        None => match caller.principal() {
            opensts_core::principal::Principal::User { name, .. } => {
                match cx.state.get_user_doc(account, name).await? {
                    Some(u) => Ok(Some(u)),
                    None => Err(no_such_user(name)),
                }
            }
            opensts_core::principal::Principal::Root { .. } => Ok(None),
            _ => Err(ApiError::validation(
                "Must specify userName when calling with non-User credentials",
            )),
        },
    }
}

/// What IAM leaves unencoded in policy documents it returns: RFC 3986 unreserved characters.
const POLICY_DOCUMENT_ENCODE_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A policy document as IAM returns it in responses: URL-encoded (UTF-8, RFC 3986); the aws
/// CLI and boto3 decode it.
pub fn encode_policy_document(doc: &str) -> String {
    percent_encoding::utf8_percent_encode(doc, POLICY_DOCUMENT_ENCODE_SET).to_string()
}

/// `(account, path, name)` of a managed policy ARN (`arn:aws:iam::<account|aws>:policy/<path>name`),
/// `None` if the string is not one.
pub fn managed_policy_arn_parts(policy_arn: &str) -> Option<(String, String, String)> {
    let a = opensts_core::arn::Arn::parse(policy_arn).ok()?;
    if a.partition != opensts_core::arn::PARTITION || a.service != "iam" || !a.region.is_empty() {
        return None;
    }
    let account_ok = a.account == "aws" || opensts_core::ids::is_valid_account_id(&a.account);
    let (kind, path, name) = a.iam_path_and_name()?;
    if !account_ok || kind != "policy" {
        return None;
    }
    Some((a.account.clone(), path.to_string(), name.to_string()))
}

/// Check a `PermissionsBoundary` ARN: a customer managed policy of this account or an AWS
/// managed policy. `InvalidInput` for what is not a policy ARN, `NoSuchEntity` for a policy
/// that does not exist.
pub async fn check_permissions_boundary(
    cx: &ActionCtx<'_>,
    account: &str,
    policy_arn: &str,
) -> ApiResult<()> {
    let Some((owner, path, name)) = managed_policy_arn_parts(policy_arn) else {
        return Err(ApiError::new(
            "InvalidInput",
            http::StatusCode::BAD_REQUEST,
            format!("ARN {policy_arn} is not valid."),
        ));
    };
    let missing = || {
        ApiError::no_such_entity(format!(
            "Policy {policy_arn} does not exist or is not attachable."
        ))
    };
    if owner == crate::iam::aws_managed::AWS_ACCOUNT {
        return match crate::iam::aws_managed::get(policy_arn) {
            Some(_) => Ok(()),
            None => Err(missing()),
        };
    }
    if owner != account {
        return Err(missing());
    }
    let Some(e) = cx
        .state
        .store
        .get_entity(account, crate::iam::model::KIND_POLICY, &name)
        .await?
    else {
        return Err(missing());
    };
    let doc: crate::iam::model::PolicyDoc =
        serde_json::from_value(e.doc).map_err(|_| ApiError::internal())?;
    if doc.path != path || doc.name != name {
        return Err(missing());
    }
    Ok(())
}

/// Add or overwrite tags (keys compare case-insensitively, as IAM's do; an overwritten tag
/// takes the new spelling). `LimitExceeded` if the entity would carry more than [`MAX_TAGS`];
/// `entity` names the quota (`Role` → `TagsPerRole`).
pub fn merge_tags(existing: &mut Vec<Tag>, new: Vec<Tag>, entity: &str) -> ApiResult<()> {
    let mut merged = existing.clone();
    for t in new {
        match merged
            .iter_mut()
            .find(|o| o.key.eq_ignore_ascii_case(&t.key))
        {
            Some(o) => *o = t,
            None => merged.push(t),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(ApiError::limit_exceeded(format!(
            "Cannot exceed quota for TagsPer{entity}: {MAX_TAGS}"
        )));
    }
    *existing = merged;
    Ok(())
}

/// `TagKeys.member.N` of the Untag* actions: required, at most 50 keys of 1–128 characters.
pub fn parse_tag_keys(p: &Params) -> ApiResult<Vec<String>> {
    let mut v = Violations::new();
    let keys = p.list("TagKeys")?;
    match &keys {
        None => v.add(None, "TagKeys", "Member must not be null"),
        Some(k) if k.len() > MAX_TAGS => v.add(
            Some(&format!("{} keys", k.len())),
            "TagKeys",
            &format!("Member must have length less than or equal to {MAX_TAGS}"),
        ),
        Some(k) => {
            for key in k {
                if key.is_empty() || key.chars().count() > 128 {
                    v.add(
                        Some(key),
                        "TagKeys.member",
                        "Member must have length between 1 and 128",
                    );
                } else if !key.chars().all(|c| CharRule::TagChars.allows(c)) {
                    v.add(
                        Some(key),
                        "TagKeys.member",
                        &format!(
                            "Member must satisfy regular expression pattern: {}",
                            CharRule::TagChars.pattern()
                        ),
                    );
                }
            }
        }
    }
    v.into_result()?;
    Ok(keys.unwrap_or_default())
}

/// Remove the tags with these keys (case-insensitively); absent keys are ignored, as in AWS.
pub fn remove_tags(existing: &mut Vec<Tag>, keys: &[String]) {
    existing.retain(|t| !keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
}

/// A page of tags (`ListRoleTags`, …): tags keep their order; the marker is the position.
pub fn paginate_tags(tags: &[Tag], page: &Page) -> ApiResult<(Vec<Tag>, Option<String>)> {
    let indexed: Vec<(usize, Tag)> = tags.iter().cloned().enumerate().collect();
    let (items, next) = paginate(indexed, |(i, _)| format!("{i:08}"), page)?;
    Ok((items.into_iter().map(|(_, t)| t).collect(), next))
}

/// The members of a tag list response (`<Tags>` always present, even when empty).
pub fn write_tag_list(x: &mut Xml, tags: &[Tag]) {
    x.open("Tags");
    for t in tags {
        x.open("member")
            .elem("Key", &t.key)
            .elem("Value", &t.value)
            .close("member");
    }
    x.close("Tags");
}

/// Decode a stored entity document (`InternalFailure` if it is corrupt).
pub fn decode_entity<T: serde::de::DeserializeOwned>(e: &opensts_store::Entity) -> ApiResult<T> {
    serde_json::from_value(e.doc.clone()).map_err(|err| {
        tracing::error!(error = %err, kind = %e.kind, "corrupt entity document");
        ApiError::internal()
    })
}

/// Read-modify-write of one entity document of any kind: read it (`missing()` if it does not
/// exist), let `change` edit it, and write it back only if nobody wrote it in between (retried
/// [`MAX_WRITE_ATTEMPTS`] times, then `ConcurrentModification`). Authorize before calling.
/// Returns the document as written.
pub async fn modify_entity<T: serde::Serialize + serde::de::DeserializeOwned>(
    cx: &ActionCtx<'_>,
    account: &str,
    kind: &str,
    name: &str,
    missing: impl Fn() -> ApiError,
    mut change: impl FnMut(&mut T) -> ApiResult<()>,
) -> ApiResult<T> {
    use opensts_store::{Expect, StoreError, Write};
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let Some(e) = cx.state.store.get_entity(account, kind, name).await? else {
            return Err(missing());
        };
        let mut doc: T = decode_entity(&e)?;
        change(&mut doc)?;
        let json = serde_json::to_value(&doc).map_err(|_| ApiError::internal())?;
        let write = Write::PutEntity {
            kind: kind.to_string(),
            name: e.name.clone(),
            doc: json,
            expect: Expect::Version(e.version),
        };
        match cx.state.store.apply(account, &[write], cx.now).await {
            Ok(()) => return Ok(doc),
            Err(StoreError::Conflict { .. }) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::concurrent_modification(
        "The entity was modified concurrently; retry.",
    ))
}
