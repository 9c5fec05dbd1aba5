//! OpenSTS domain core: identifiers, ARNs, principals, the master key, the session-token key
//! ring, session tokens and TOTP.
//!
//! Everything here is pure: no network, no database and no clock. Times are inputs (unix
//! seconds, `i64`). The only I/O is [`crypto::MasterKey::load_or_create`] /
//! [`crypto::MasterKey::load`], which read or write one key file.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod arn;
pub mod authmsg;
pub mod crypto;
pub mod ids;
pub mod keyring;
pub mod principal;
pub mod secret;
pub mod token;
pub mod totp;

pub use arn::Arn;
pub use crypto::{CryptoError, DataKey, KeyFileError, MasterKey};
pub use keyring::{KeyRing, KeyRingError};
pub use principal::Principal;
pub use secret::Secret;
pub use token::{SessionClaims, SessionKind, TokenError};
