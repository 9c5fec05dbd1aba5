//! The OpenSTS server: an AWS STS and IAM endpoint (awsQuery over HTTP).
//!
//! The request path, one module each:
//! [`http`] (axum, body limit, request id) → [`protocol`] (awsQuery decode) → [`auth`]
//! (SigV4 → [`auth::Caller`]) → [`actions`] (one file per action; policy engine; store) →
//! [`protocol::xml`] (responses; errors from [`error`] rendered in one place).
//!
//! Around it: [`listen`] (accept loop, TLS via [`tls`], connection limits), [`throttle`]
//! (per-source before authentication, per-account after), [`audit`] and [`metrics`] (after the
//! outcome is known), [`keys`] (key-ring rotation), [`authorize_api`] (`POST /opensts/authorize`:
//! resource servers check their clients' signed requests).

pub mod actions;
pub mod app;
pub mod audit;
pub mod auth;
pub mod authorize_api;
pub mod authz;
pub mod config;
pub mod error;
pub mod http;
pub mod iam;
pub mod keys;
pub mod listen;
pub mod metrics;
pub mod oidc_issuer;
pub mod org;
pub mod organizations;
pub mod protocol;
pub mod state;
pub mod throttle;
pub mod tls;

pub use app::{Application, GeneratedRoot, StartError};
pub use config::Config;
