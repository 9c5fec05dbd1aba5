//! Integration tests: real servers on port 0 with an injected clock, driven by raw HTTP and
//! requests signed by `opensts-sigv4`'s signer. (The aws CLI / boto3 suite lives in /tests.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod assume_root;
mod authorize_api;
mod bootstrap;
mod helpers;
mod limiting_policies;
mod sessions;
mod store_conformance;
mod store_down;
mod web_identity_token;
