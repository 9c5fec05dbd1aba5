//! The JSON documents IAM entities are stored as (one `entities` row each; see
//! `opensts-store`). Field names are stable: they are the on-disk format.
//! One file per entity family.

pub mod group;
pub mod mfa;
pub mod policy;
pub mod provider;
pub mod role;
pub mod user;

pub use group::{GroupDoc, KIND_GROUP};
pub use mfa::{KIND_MFA, MfaDeviceDoc, mfa_seed_aad};
pub use policy::{KIND_POLICY, PolicyDoc, PolicyVersionDoc};
pub use provider::{KIND_OIDC_PROVIDER, KIND_SAML_PROVIDER, OidcProviderDoc, SamlProviderDoc};
pub use role::{KIND_ROLE, RoleDoc};
pub use user::{KIND_USER, UserDoc};

use serde::{Deserialize, Serialize};

/// A tag on an IAM entity or a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}
