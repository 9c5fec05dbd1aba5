//! The policy simulator (SimulatePrincipalPolicy, SimulateCustomPolicy).

use crate::actions::{ActionCtx, ActionSpec, Reply};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::protocol::Params;

pub static ACTIONS: &[ActionSpec] = &[];

/// Run one of this family's actions; `None` if the name is not one of them.
pub async fn run(
    name: &str,
    cx: &ActionCtx<'_>,
    caller: &Caller,
    p: &Params,
) -> Option<ApiResult<Reply>> {
    let _ = (name, cx, caller, p);
    None
}
