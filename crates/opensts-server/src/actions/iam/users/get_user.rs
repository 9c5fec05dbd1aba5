//! GetUser: a named user, or (without `UserName`) the caller.

use opensts_core::principal::Principal;

use crate::actions::iam::{authorize, no_such_user, user_name, write_user};
use crate::actions::{ActionCtx, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::protocol::xml::{Xml, timestamp};
use crate::protocol::{Params, Violations};

pub async fn handle(cx: &ActionCtx<'_>, caller: &Caller, p: &Params) -> ApiResult<Reply> {
    let mut v = Violations::new();
    let name = user_name(&mut v, p, false);
    v.into_result()?;
    let account = caller.account_id();
    let name = match (name, caller.principal()) {
        (Some(n), _) => n.to_string(),
        (None, Principal::User { name, .. }) => name.clone(),
        (None, Principal::Root { account_id }) => {
            // The root user: AWS answers with the account as the user id and the root ARN.
            let created = match cx.state.store.get_account(account_id).await? {
                Some(a) => a.created_at,
                None => cx.now,
            };
            let mut x = Xml::new();
            x.open("User")
                .elem("UserId", account_id)
                .elem("Arn", &caller.principal().arn())
                .elem("CreateDate", &timestamp(created))
                .close("User");
            return Ok(Some(x.into_string()));
        }
        (None, _) => {
            return Err(ApiError::validation(
                "Must specify userName when calling with non-User credentials",
            ));
        }
    };
    let Some(user) = cx.state.get_user_doc(account, &name).await? else {
        authorize(
            cx,
            caller,
            &opensts_core::arn::user_arn(account, "/", &name),
        )
        .await?;
        return Err(no_such_user(&name));
    };
    authorize(cx, caller, &user.arn(account)).await?;
    let mut x = Xml::new();
    x.open("User");
    write_user(&mut x, &user, account, true);
    x.close("User");
    Ok(Some(x.into_string()))
}
