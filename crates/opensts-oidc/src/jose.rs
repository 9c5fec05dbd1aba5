//! JWS compact parsing, without any key: size limit, segments, strict base64url, strict JSON
//! objects (duplicate top-level members are refused), and the header's `alg` / `kid`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{OidcError, sanitize};

/// AWS's limit on `WebIdentityToken` (characters; a valid JWT is ASCII, so also bytes).
pub const MAX_TOKEN_LEN: usize = 20_000;

/// Longest `kid` we consider a real key id. Longer ones are treated as unknown without any
/// key lookup or refetch.
pub const MAX_KID_LEN: usize = 256;

/// The algorithms a token may use. HMAC (`HS*`) and `none` are never accepted; ES512 is not
/// supported by the crypto backend and is refused as unsupported.
pub const ALLOWED_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// A token split and decoded but not verified. Nothing in it may be trusted yet; it exists so
/// the server can pick the provider by `iss` and the cache can look up the `kid`.
#[derive(Debug, Clone)]
pub struct UnverifiedToken {
    /// The verified-to-be-allowed algorithm from the header.
    pub alg: Algorithm,
    /// The header's `kid`, if any (any string, plausible or not).
    pub kid: Option<String>,
    /// The full header.
    pub header: Map<String, Value>,
    /// The claims (payload) object.
    pub claims: Map<String, Value>,
    /// `header.payload`, the signed bytes.
    pub(crate) signing_input: String,
    /// The decoded signature.
    pub(crate) signature: Vec<u8>,
}

impl UnverifiedToken {
    /// The `iss` claim when it is a string.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// The `kid` if it is plausible (see [`kid_is_plausible`]).
    pub fn plausible_kid(&self) -> Option<&str> {
        self.kid.as_deref().filter(|k| kid_is_plausible(k))
    }
}

/// Reads the `iss` of a token without verifying anything, so the server can find the IAM OIDC
/// provider (`No OpenIDConnect provider found in your account for …` is the server's answer
/// when there is none). Applies the same structural checks as [`crate::verify_token`].
pub fn peek_issuer(token: &str) -> Result<String, OidcError> {
    let t = parse_unverified(token)?;
    match t.claims.get("iss") {
        None => Err(OidcError::MissingClaim("iss")),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(OidcError::MissingClaim("iss")),
        Some(_) => Err(OidcError::InvalidClaim {
            claim: "iss",
            problem: "must be a string",
        }),
    }
}

/// Splits and decodes a JWS compact token and checks everything that needs no key.
pub fn parse_unverified(token: &str) -> Result<UnverifiedToken, OidcError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(OidcError::TokenTooLarge { len: token.len() });
    }
    if !token.is_ascii() {
        return Err(OidcError::Malformed("token is not ASCII".into()));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(OidcError::Malformed(
                "encrypted tokens (JWE) are not supported".into(),
            ));
        }
        _ => return Err(OidcError::Malformed("not a JWS compact token".into())),
    }
    let (h64, p64, s64) = (parts[0], parts[1], parts[2]);

    let header_bytes = b64url_decode(h64).map_err(|_| bad("header is not base64url"))?;
    let header = parse_strict_object(&header_bytes).map_err(|e| bad_owned("header", &e))?;

    let alg = match header.get("alg") {
        Some(Value::String(s)) => parse_alg(s)?,
        Some(_) => return Err(bad("alg must be a string")),
        None => return Err(bad("missing alg header")),
    };
    // RFC 7515 §4.1.11: extensions listed in `crit` must be understood; we understand none.
    if header.contains_key("crit") {
        return Err(bad("unsupported critical header parameter"));
    }
    // RFC 7797 unencoded payloads are only valid with `crit`; refuse `b64` outright.
    if header.contains_key("b64") {
        return Err(bad("unsupported b64 header parameter"));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("kid must be a string")),
    };
    // `jku`, `x5u`, `jwk`, `x5c` are ignored on purpose: keys only ever come from the
    // configured issuer's JWKS, never from the token.

    let payload_bytes = b64url_decode(p64).map_err(|_| bad("payload is not base64url"))?;
    let claims = parse_strict_object(&payload_bytes).map_err(|e| bad_owned("claims", &e))?;

    if s64.is_empty() {
        return Err(bad("missing signature"));
    }
    let signature = b64url_decode(s64).map_err(|_| bad("signature is not base64url"))?;

    Ok(UnverifiedToken {
        alg,
        kid,
        header,
        claims,
        signing_input: format!("{h64}.{p64}"),
        signature,
    })
}

/// Maps a header `alg` to an allowed algorithm; everything else is `UnsupportedAlgorithm`.
pub fn parse_alg(alg: &str) -> Result<Algorithm, OidcError> {
    let a = match alg {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        other => return Err(OidcError::UnsupportedAlgorithm(sanitize(other, 32))),
    };
    Ok(a)
}

/// A `kid` we are willing to look up: 1..=[`MAX_KID_LEN`] printable ASCII characters, no `..`,
/// no backslash, not starting with `/`. Anything else is "unknown" and never causes a refetch.
pub fn kid_is_plausible(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid.bytes().all(|b| b.is_ascii_graphic())
        && !kid.contains("..")
        && !kid.contains('\\')
        && !kid.starts_with('/')
}

/// Strict base64url: URL alphabet, no padding, canonical trailing bits.
pub(crate) fn b64url_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s)
}

fn bad(what: &str) -> OidcError {
    OidcError::Malformed(what.to_string())
}

fn bad_owned(part: &str, e: &str) -> OidcError {
    OidcError::Malformed(format!("{part} is not a valid JSON object ({e})"))
}

/// Parses a JSON object and refuses duplicate top-level member names (two `sub` claims must
/// not be resolved silently).
pub(crate) fn parse_strict_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let obj = StrictObject::deserialize_from(&mut de).map_err(|e| short_json_error(&e))?;
    de.end().map_err(|e| short_json_error(&e))?;
    Ok(obj)
}

fn short_json_error(e: &serde_json::Error) -> String {
    // serde_json messages can echo input; keep them short and printable.
    sanitize(&e.to_string(), 120)
}

struct StrictObject;

impl StrictObject {
    fn deserialize_from<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
        d.deserialize_map(StrictObjectVisitor)
    }
}

struct StrictObjectVisitor;

impl<'de> Visitor<'de> for StrictObjectVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate member {}",
                    sanitize(&key, 40)
                )));
            }
            let value: Value = access.next_value()?;
            map.insert(key, value);
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_object_refuses_duplicates_and_non_objects() {
        assert!(parse_strict_object(br#"{"a":1,"b":2}"#).is_ok());
        assert!(parse_strict_object(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_strict_object(br#"[1]"#).is_err());
        assert!(parse_strict_object(br#"{"a":1} x"#).is_err());
        assert!(parse_strict_object(b"").is_err());
    }

    #[test]
    fn kid_plausibility() {
        assert!(kid_is_plausible("rsa-1"));
        assert!(kid_is_plausible("nOo3ZDrODXEK1jKWhXslHR_KXEg"));
        assert!(kid_is_plausible("arn:aws:kms:us-east-1:1:key/abc"));
        assert!(!kid_is_plausible(""));
        assert!(!kid_is_plausible("../../x"));
        assert!(!kid_is_plausible("/etc/passwd"));
        assert!(!kid_is_plausible("a\\b"));
        assert!(!kid_is_plausible("a b"));
        assert!(!kid_is_plausible("a\u{0}b"));
        assert!(!kid_is_plausible(&"k".repeat(MAX_KID_LEN + 1)));
        assert!(kid_is_plausible(&"k".repeat(MAX_KID_LEN)));
    }

    #[test]
    fn algorithms() {
        for a in ALLOWED_ALGORITHMS {
            assert!(parse_alg(a).is_ok(), "{a}");
        }
        for a in [
            "none", "None", "HS256", "HS384", "HS512", "ES512", "RS1", "", "rs256",
        ] {
            assert!(
                matches!(parse_alg(a), Err(OidcError::UnsupportedAlgorithm(_))),
                "{a}"
            );
        }
    }

    #[test]
    fn structure() {
        assert!(matches!(
            parse_unverified("a.b"),
            Err(OidcError::Malformed(_))
        ));
        assert!(matches!(
            parse_unverified("a.b.c.d.e"),
            Err(OidcError::Malformed(_))
        ));
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(
            parse_unverified(&long),
            Err(OidcError::TokenTooLarge { .. })
        ));
        assert!(matches!(
            parse_unverified("é.b.c"),
            Err(OidcError::Malformed(_))
        ));
    }
}
