//! IAM users and their access keys.

pub mod create_access_key;
pub mod create_user;
pub mod delete_access_key;
pub mod delete_user;
pub mod get_user;
pub mod list_access_keys;
pub mod list_users;
pub mod update_access_key;

use crate::actions::{ActionCtx, ActionSpec, Reply, signed};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::{Api, Params};

pub static ACTIONS: &[ActionSpec] = &[
    signed(Api::Iam, "CreateAccessKey"),
    signed(Api::Iam, "CreateUser"),
    signed(Api::Iam, "DeleteAccessKey"),
    signed(Api::Iam, "DeleteUser"),
    signed(Api::Iam, "GetUser"),
    signed(Api::Iam, "ListAccessKeys"),
    signed(Api::Iam, "ListUsers"),
    signed(Api::Iam, "UpdateAccessKey"),
];

/// Run one of this family's actions; `None` if the name is not one of them.
pub async fn run(
    name: &str,
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
) -> Option<ApiResult<Reply>> {
    Some(match name {
        "CreateAccessKey" => create_access_key::handle(cx, caller, p).await,
        "CreateUser" => create_user::handle(cx, caller, p).await,
        "DeleteAccessKey" => delete_access_key::handle(cx, caller, p).await,
        "DeleteUser" => delete_user::handle(cx, caller, p).await,
        "GetUser" => get_user::handle(cx, caller, p).await,
        "ListAccessKeys" => list_access_keys::handle(cx, caller, p).await,
        "ListUsers" => list_users::handle(cx, caller, p).await,
        "UpdateAccessKey" => update_access_key::handle(cx, caller, p).await,
        _ => return None,
    })
}
