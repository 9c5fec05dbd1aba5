//! Session tokens: self-contained, encrypted session claims.
//!
//! Format: `base64url_nopad( 0x01 | key_id u32 BE | nonce (12) | AES-256-GCM(json(claims)) )`
//! with AAD = `"opensts-session-v1" | key_id u32 BE | access key id bytes`. The AAD binds the
//! token to the `ASIA…` access key id it was issued with, so it cannot be paired with another
//! one, and any node holding the [`KeyRing`] verifies it without a store lookup.
//!
//! Expiry is not checked here (no clock): compare [`SessionClaims::exp`] with the current time.
//!
//! Claims use short JSON names. Unknown claim fields are rejected (fail closed: an older node
//! must not ignore a restriction a newer node added); fields that are safe to ignore go into
//! [`SessionClaims::extra`].

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{self, CryptoError, NONCE_LEN, TAG_LEN};
use crate::ids::fill_random;
use crate::keyring::KeyRing;
use crate::principal::Principal;
use crate::secret::Secret;

/// First byte of every token.
pub const TOKEN_VERSION: u8 = 1;
/// Claims format version ([`SessionClaims::v`]); tokens with a higher version are rejected.
pub const CLAIMS_VERSION: u8 = 1;
/// Longest token string [`open_token`] accepts (checked before decoding).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// AAD prefix.
pub const TOKEN_AAD_PREFIX: &[u8] = b"opensts-session-v1";

const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How the session was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionKind {
    /// GetSessionToken (IAM user or root).
    #[serde(rename = "st")]
    SessionToken,
    /// AssumeRole.
    #[serde(rename = "ar")]
    AssumedRole,
    /// GetFederationToken.
    #[serde(rename = "ft")]
    FederationToken,
    /// AssumeRoleWithWebIdentity.
    #[serde(rename = "wi")]
    WebIdentity,
    /// AssumeRoleWithSAML.
    #[serde(rename = "saml")]
    Saml,
    /// AssumeRoot (privileged root task session).
    #[serde(rename = "root")]
    Root,
}

/// Everything a session token carries. Optional fields are omitted from the JSON when empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionClaims {
    /// Claims format version, [`CLAIMS_VERSION`].
    pub v: u8,
    /// Token id (random; see [`new_token_id`]), for deny-lists and audit.
    pub tid: String,
    /// The session's principal.
    #[serde(rename = "p")]
    pub principal: Principal,
    /// The temporary secret access key.
    #[serde(rename = "s")]
    pub secret: Secret,
    /// Issued at, unix seconds (`aws:TokenIssueTime`).
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
    #[serde(rename = "k")]
    pub kind: SessionKind,
    /// When MFA was authenticated (unix seconds), if it was.
    #[serde(rename = "mfa", default, skip_serializing_if = "Option::is_none")]
    pub mfa_auth_time: Option<i64>,
    #[serde(rename = "si", default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// Session (principal) tags, in order.
    #[serde(rename = "tg", default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(rename = "tt", default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    /// Inline session policy documents (JSON text).
    #[serde(rename = "sp", default, skip_serializing_if = "Vec::is_empty")]
    pub session_policies: Vec<String>,
    /// Managed session policy ARNs.
    #[serde(rename = "spa", default, skip_serializing_if = "Vec::is_empty")]
    pub session_policy_arns: Vec<String>,
    /// Created from another role session (role chaining).
    #[serde(rename = "ch", default, skip_serializing_if = "is_false")]
    pub chained: bool,
    /// `aws:FederatedProvider` (SAML/OIDC provider ARN or built-in provider name).
    #[serde(rename = "fp", default, skip_serializing_if = "Option::is_none")]
    pub federated_provider: Option<String>,
    /// For GetFederationToken (and other sessions derived from a caller whose own permissions
    /// bound the session): the principal that requested it (an IAM user or root).
    #[serde(rename = "par", default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Principal>,
    /// Additional scope-down layers (GetScopedCredentials later).
    #[serde(rename = "sl", default, skip_serializing_if = "Vec::is_empty")]
    pub scope_layers: Vec<String>,
    /// Reserved for additions that older nodes may safely ignore.
    #[serde(
        rename = "x",
        default,
        skip_serializing_if = "serde_json::Map::is_empty"
    )]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl SessionClaims {
    /// Claims with the required fields set, a fresh [`new_token_id`] and all optional fields
    /// empty.
    pub fn new(
        principal: Principal,
        secret: Secret,
        kind: SessionKind,
        iat: i64,
        exp: i64,
    ) -> SessionClaims {
        SessionClaims {
            v: CLAIMS_VERSION,
            tid: new_token_id(),
            principal,
            secret,
            iat,
            exp,
            kind,
            mfa_auth_time: None,
            source_identity: None,
            tags: Vec::new(),
            transitive_tag_keys: Vec::new(),
            session_policies: Vec::new(),
            session_policy_arns: Vec::new(),
            chained: false,
            federated_provider: None,
            parent: None,
            scope_layers: Vec::new(),
            extra: serde_json::Map::new(),
        }
    }

    /// Whether the session has expired at `now` (unix seconds): `now >= exp`.
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.exp
    }
}

/// A random token id: 16 bytes, lower-case hex (32 characters).
pub fn new_token_id() -> String {
    let mut b = [0u8; 16];
    fill_random(&mut b);
    hex::encode(b)
}

/// Why a token was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token: too long, not base64url, too short or an unknown version byte.
    #[error("malformed session token")]
    Malformed,
    /// Sealed with a key id this ring does not hold (e.g. expired and dropped).
    #[error("session token key is unknown")]
    UnknownKey,
    /// Authentication failed (tampered, or issued for another access key id) or the claims
    /// are unreadable / of an unsupported version.
    #[error("invalid session token")]
    Invalid,
}

fn aad(key_id: u32, access_key_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(TOKEN_AAD_PREFIX.len() + 4 + access_key_id.len());
    aad.extend_from_slice(TOKEN_AAD_PREFIX);
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad.extend_from_slice(access_key_id.as_bytes());
    aad
}

/// Seals `claims` into a token for `access_key_id` with the ring's current key.
///
/// Fails only if JSON encoding or the AEAD fail, which does not happen for well-formed claims.
pub fn seal_token(
    ring: &KeyRing,
    access_key_id: &str,
    claims: &SessionClaims,
) -> Result<String, CryptoError> {
    let key_id = ring.current_id();
    let key = ring.get(key_id).ok_or(CryptoError::Seal)?;
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce);

    // Header and JSON in one buffer, large enough that serialization rarely reallocates
    // (a reallocation would leave a copy of the secret in freed memory).
    let mut buf = Zeroizing::new(Vec::with_capacity(2048));
    buf.push(TOKEN_VERSION);
    buf.extend_from_slice(&key_id.to_be_bytes());
    buf.extend_from_slice(&nonce);
    serde_json::to_writer(&mut *buf, claims).map_err(|_| CryptoError::Seal)?;
    let tag = crypto::seal_in_place(
        key.raw(),
        &nonce,
        &aad(key_id, access_key_id),
        &mut buf[HEADER_LEN..],
    )?;
    buf.extend_from_slice(&tag);
    Ok(B64.encode(&*buf))
}

/// Verifies and decrypts a token presented with `access_key_id`. Does not check expiry.
pub fn open_token(
    ring: &KeyRing,
    access_key_id: &str,
    token: &str,
) -> Result<SessionClaims, TokenError> {
    if token.len() > MAX_TOKEN_LEN || token.len() < B64_MIN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(token.len() / 4 * 3 + 3));
    B64.decode_vec(token, &mut buf)
        .map_err(|_| TokenError::Malformed)?;
    let (header, body) = buf
        .split_first_chunk_mut::<HEADER_LEN>()
        .ok_or(TokenError::Malformed)?;
    if header[0] != TOKEN_VERSION || body.len() < TAG_LEN {
        return Err(TokenError::Malformed);
    }
    let key_id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[5..]);
    let key = ring.get(key_id).ok_or(TokenError::UnknownKey)?;
    let n = crypto::open_in_place(key.raw(), &nonce, &aad(key_id, access_key_id), body)
        .map_err(|_| TokenError::Invalid)?;
    let plaintext = body.get(..n).ok_or(TokenError::Invalid)?;
    let claims: SessionClaims =
        serde_json::from_slice(plaintext).map_err(|_| TokenError::Invalid)?;
    if claims.v == 0 || claims.v > CLAIMS_VERSION {
        return Err(TokenError::Invalid);
    }
    Ok(claims)
}

/// Shortest possible token string: base64url of header + tag.
const B64_MIN_LEN: usize = ((HEADER_LEN + TAG_LEN) * 4).div_ceil(3);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::DataKey;
    use crate::ids;
    use proptest::prelude::*;

    const AKID: &str = "ASIAEXAMPLEEXAMPLE12";

    fn role_principal(role: &str, session: &str) -> Principal {
        Principal::AssumedRole {
            account_id: "123456789012".into(),
            role_name: role.into(),
            role_path: "/".into(),
            role_id: "AROADBQP57FF2AEXAMPLE".into(),
            session_name: session.into(),
        }
    }

    fn plain_claims() -> SessionClaims {
        SessionClaims::new(
            role_principal("Admin", "session"),
            Secret::new(ids::new_secret_access_key()),
            SessionKind::AssumedRole,
            1_700_000_000,
            1_700_003_600,
        )
    }

    fn full_claims() -> SessionClaims {
        let mut c = plain_claims();
        c.mfa_auth_time = Some(1_699_999_000);
        c.source_identity = Some("alice".into());
        c.tags = vec![
            ("Project".into(), "Unicorn".into()),
            ("Team".into(), "A".into()),
        ];
        c.transitive_tag_keys = vec!["Project".into()];
        c.session_policies = vec![r#"{"Version":"2012-10-17","Statement":[]}"#.into()];
        c.session_policy_arns = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()];
        c.chained = true;
        c.federated_provider = Some("arn:aws:iam::123456789012:saml-provider/IdP".into());
        c.parent = Some(Principal::Root {
            account_id: "123456789012".into(),
        });
        c.scope_layers = vec!["layer".into()];
        c.extra.insert("future".into(), serde_json::json!({"a": 1}));
        c
    }

    fn ring() -> KeyRing {
        KeyRing::single(7, DataKey::generate())
    }

    #[test]
    fn round_trip() {
        let ring = ring();
        for claims in [plain_claims(), full_claims()] {
            let token = seal_token(&ring, AKID, &claims).unwrap();
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            let back = open_token(&ring, AKID, &token).unwrap();
            assert_eq!(back, claims);
            assert_eq!(back.secret.expose(), claims.secret.expose());
        }
    }

    #[test]
    fn plain_assume_role_token_is_short() {
        let ring = ring();
        let mut claims = plain_claims();
        // Worst case for names: 64-character role name and session name, a deep role path.
        claims.principal = Principal::AssumedRole {
            account_id: "123456789012".into(),
            role_name: "R".repeat(64),
            role_path: "/some/deep/path/".into(),
            role_id: ids::new_unique_id("AROA"),
            session_name: "s".repeat(64),
        };
        let token = seal_token(&ring, AKID, &claims).unwrap();
        assert!(token.len() < 1200, "{}", token.len());
        let token = seal_token(&ring, AKID, &plain_claims()).unwrap();
        assert!(token.len() < 600, "{}", token.len());
    }

    #[test]
    fn empty_fields_are_omitted() {
        let j = serde_json::to_value(plain_claims()).unwrap();
        let keys: Vec<_> = j.as_object().unwrap().keys().cloned().collect();
        let mut expected = vec!["v", "tid", "p", "s", "iat", "exp", "k"];
        expected.sort();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort();
        assert_eq!(keys_sorted, expected);
    }

    #[test]
    fn tampering_any_byte_fails() {
        let ring = ring();
        let token = seal_token(&ring, AKID, &plain_claims()).unwrap();
        let raw = B64.decode(&token).unwrap();
        for i in 0..raw.len() {
            let mut t = raw.clone();
            t[i] ^= 0x01;
            let err = open_token(&ring, AKID, &B64.encode(&t)).unwrap_err();
            match i {
                0 => assert_eq!(err, TokenError::Malformed),
                1..=4 => assert_eq!(err, TokenError::UnknownKey),
                _ => assert_eq!(err, TokenError::Invalid, "byte {i}"),
            }
        }
        // Truncations.
        for n in 0..raw.len() {
            assert!(open_token(&ring, AKID, &B64.encode(&raw[..n])).is_err());
        }
        // Appended bytes.
        let mut longer = raw.clone();
        longer.push(0);
        assert_eq!(
            open_token(&ring, AKID, &B64.encode(&longer)).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn bound_to_access_key_id() {
        let ring = ring();
        let token = seal_token(&ring, AKID, &plain_claims()).unwrap();
        assert_eq!(
            open_token(&ring, "ASIAEXAMPLEEXAMPLE13", &token).unwrap_err(),
            TokenError::Invalid
        );
        assert_eq!(
            open_token(&ring, "", &token).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn unknown_and_wrong_keys() {
        let ring1 = ring();
        let token = seal_token(&ring1, AKID, &plain_claims()).unwrap();
        let other_id = KeyRing::single(8, DataKey::generate());
        assert_eq!(
            open_token(&other_id, AKID, &token).unwrap_err(),
            TokenError::UnknownKey
        );
        let same_id_other_key = KeyRing::single(7, DataKey::generate());
        assert_eq!(
            open_token(&same_id_other_key, AKID, &token).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let k1 = DataKey::generate();
        let old = KeyRing::single(1, k1.clone());
        let token = seal_token(&old, AKID, &plain_claims()).unwrap();
        let new = KeyRing::new([(1, k1, true), (2, DataKey::generate(), false)]).unwrap();
        assert!(open_token(&new, AKID, &token).is_ok());
        let token2 = seal_token(&new, AKID, &plain_claims()).unwrap();
        assert_eq!(B64.decode(&token2).unwrap()[1..5], 2u32.to_be_bytes());
        assert_eq!(
            open_token(&old, AKID, &token2).unwrap_err(),
            TokenError::UnknownKey
        );
    }

    /// Seals arbitrary JSON the way `seal_token` does, to test claim validation.
    fn seal_json(ring: &KeyRing, json: &[u8]) -> String {
        let key_id = ring.current_id();
        let key = ring.get(key_id).unwrap();
        let nonce = [3u8; NONCE_LEN];
        let mut buf = vec![TOKEN_VERSION];
        buf.extend_from_slice(&key_id.to_be_bytes());
        buf.extend_from_slice(&nonce);
        buf.extend_from_slice(json);
        let tag = crypto::seal_in_place(
            key.raw(),
            &nonce,
            &aad(key_id, AKID),
            &mut buf[HEADER_LEN..],
        )
        .unwrap();
        buf.extend_from_slice(&tag);
        B64.encode(&buf)
    }

    #[test]
    fn claims_validation() {
        let ring = ring();
        let mut v = serde_json::to_value(plain_claims()).unwrap();
        assert!(open_token(&ring, AKID, &seal_json(&ring, v.to_string().as_bytes())).is_ok());

        v["v"] = 2.into();
        assert_eq!(
            open_token(&ring, AKID, &seal_json(&ring, v.to_string().as_bytes())).unwrap_err(),
            TokenError::Invalid
        );
        v["v"] = 1.into();
        v["unknown_restriction"] = true.into();
        assert_eq!(
            open_token(&ring, AKID, &seal_json(&ring, v.to_string().as_bytes())).unwrap_err(),
            TokenError::Invalid
        );
        assert_eq!(
            open_token(&ring, AKID, &seal_json(&ring, b"not json")).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn malformed_inputs() {
        let ring = ring();
        for bad in ["", "a", "====", "AQ", "!!!!", "AQAAAAc", "\u{0}"] {
            assert_eq!(
                open_token(&ring, AKID, bad).unwrap_err(),
                TokenError::Malformed,
                "{bad:?}"
            );
        }
        let token = seal_token(&ring, AKID, &plain_claims()).unwrap();
        // Standard base64 with padding is not accepted.
        let padded = base64::engine::general_purpose::STANDARD.encode(B64.decode(&token).unwrap());
        if padded != token {
            assert!(open_token(&ring, AKID, &padded).is_err());
        }
        let too_long = "A".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            open_token(&ring, AKID, &too_long).unwrap_err(),
            TokenError::Malformed
        );
    }

    #[test]
    fn expiry_helper() {
        let c = plain_claims();
        assert!(!c.is_expired(c.exp - 1));
        assert!(c.is_expired(c.exp));
    }

    #[test]
    fn debug_hides_secret() {
        let c = plain_claims();
        let d = format!("{c:?}");
        assert!(!d.contains(c.secret.expose()));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(s in "\\PC{0,300}") {
            let ring = ring();
            prop_assert!(open_token(&ring, AKID, &s).is_err());
        }

        #[test]
        fn base64_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let ring = ring();
            let s = B64.encode(&bytes);
            prop_assert!(open_token(&ring, AKID, &s).is_err());
        }

        #[test]
        fn garbage_with_valid_header_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let ring = ring();
            let mut raw = vec![TOKEN_VERSION];
            raw.extend_from_slice(&7u32.to_be_bytes());
            raw.extend_from_slice(&body);
            let s = B64.encode(&raw);
            prop_assert!(open_token(&ring, AKID, &s).is_err());
        }
    }
}
