//! Encoded authorization messages: an authorization decision sealed for the account it
//! concerns, so only a principal of that account (with `sts:DecodeAuthorizationMessage`) can
//! read it through DecodeAuthorizationMessage.
//!
//! Format: `base64url_nopad( 0x01 | key_id u32 BE | sealed )` where `sealed` is the key ring's
//! AES-256-GCM output over `{"a": account, "e": expires_at, "m": <decision JSON>}` and the
//! associated data is `"opensts-authz-v1" | key_id BE | account`. A message cannot be moved to
//! another account, altered, or read after `expires_at`.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::keyring::KeyRing;

const VERSION: u8 = 1;
const AAD_PREFIX: &[u8] = b"opensts-authz-v1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// Longest encoded message accepted by DecodeAuthorizationMessage (`encodedMessageType`).
pub const MAX_ENCODED_LEN: usize = 10_240;
/// How long an encoded message can be decoded.
pub const MESSAGE_LIFETIME_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthMessageError {
    #[error("the message is malformed")]
    Malformed,
    #[error("the message is invalid")]
    Invalid,
    #[error("the message has expired")]
    Expired,
    #[error("the message could not be sealed")]
    Seal,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    a: String,
    e: i64,
    m: serde_json::Value,
}

fn aad(key_id: u32, account: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(AAD_PREFIX.len() + 4 + account.len());
    v.extend_from_slice(AAD_PREFIX);
    v.extend_from_slice(&key_id.to_be_bytes());
    v.extend_from_slice(account.as_bytes());
    v
}

/// Seal `decision` (the DecodeAuthorizationMessage JSON) for `account`, readable until
/// `now + MESSAGE_LIFETIME_SECS`.
pub fn seal_message(
    ring: &KeyRing,
    account: &str,
    decision: serde_json::Value,
    now: i64,
) -> Result<String, AuthMessageError> {
    let env = Envelope {
        a: account.to_string(),
        e: now.saturating_add(MESSAGE_LIFETIME_SECS),
        m: decision,
    };
    let plain = serde_json::to_vec(&env).map_err(|_| AuthMessageError::Seal)?;
    let key_id = ring.current_id();
    let (id, sealed) = ring
        .seal(&plain, &aad(key_id, account))
        .map_err(|_| AuthMessageError::Seal)?;
    let mut out = Vec::with_capacity(5 + sealed.len());
    out.push(VERSION);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&sealed);
    Ok(B64.encode(out))
}

/// Open a message for a caller of `account`. A message of another account, a tampered or
/// foreign one (another deployment's ring) is `Invalid`; an old one `Expired`.
pub fn open_message(
    ring: &KeyRing,
    account: &str,
    encoded: &str,
    now: i64,
) -> Result<serde_json::Value, AuthMessageError> {
    if encoded.is_empty() || encoded.len() > MAX_ENCODED_LEN {
        return Err(AuthMessageError::Malformed);
    }
    let raw = B64
        .decode(encoded.trim())
        .map_err(|_| AuthMessageError::Malformed)?;
    if raw.len() < 6 || raw[0] != VERSION {
        return Err(AuthMessageError::Malformed);
    }
    let key_id = u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]);
    let plain = ring
        .open(key_id, &raw[5..], &aad(key_id, account))
        .map_err(|_| AuthMessageError::Invalid)?;
    let env: Envelope = serde_json::from_slice(&plain).map_err(|_| AuthMessageError::Invalid)?;
    if env.a != account {
        return Err(AuthMessageError::Invalid);
    }
    if now >= env.e {
        return Err(AuthMessageError::Expired);
    }
    Ok(env.m)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::DataKey;

    fn ring() -> KeyRing {
        KeyRing::single(1, DataKey::generate())
    }

    #[test]
    fn round_trip_and_binding() {
        let r = ring();
        let m = serde_json::json!({"allowed": false});
        let enc = seal_message(&r, "111122223333", m.clone(), 100).unwrap();
        assert_eq!(open_message(&r, "111122223333", &enc, 101).unwrap(), m);
        assert_eq!(
            open_message(&r, "444455556666", &enc, 101),
            Err(AuthMessageError::Invalid)
        );
        assert_eq!(
            open_message(&r, "111122223333", &enc, 100 + MESSAGE_LIFETIME_SECS),
            Err(AuthMessageError::Expired)
        );
        assert_eq!(
            open_message(&ring(), "111122223333", &enc, 101),
            Err(AuthMessageError::Invalid)
        );
        let mut bytes = enc.into_bytes();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(open_message(&r, "111122223333", &tampered, 101).is_err());
        assert_eq!(
            open_message(&r, "111122223333", "not base64 !", 101),
            Err(AuthMessageError::Malformed)
        );
    }
}
