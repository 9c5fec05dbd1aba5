//! The OpenSTS server: an AWS STS and IAM endpoint (awsQuery over HTTP).
//!
//! The request path, one module each:
//! [`http`] (axum, body limit, request id) → [`protocol`] (awsQuery decode) → [`auth`]
//! (SigV4 → [`auth::Caller`]) → [`actions`] (one file per action; policy engine; store) →
//! [`protocol::xml`] (responses; errors from [`error`] rendered in one place).

pub mod actions;
pub mod app;
pub mod auth;
pub mod authz;
pub mod config;
pub mod error;
pub mod http;
pub mod iam;
pub mod protocol;
pub mod state;

pub use app::{Application, GeneratedRoot, StartError};
pub use config::Config;
