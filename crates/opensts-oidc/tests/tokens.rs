//! Token verification against tokens signed by PyJWT (tests/fixtures/gen.py).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{fixtures, jwks_v1, jwks_v2};
use opensts_oidc::{
    Algorithm, KeyKind, MAX_TOKEN_LEN, OidcError, ProviderConfig, SessionTags, peek_issuer,
    verify_token,
};

#[test]
fn every_fixture_case_has_the_expected_outcome() {
    let fx = fixtures();
    let keys = jwks_v1();
    let mut checked = 0;
    for case in &fx.cases {
        let got = verify_token(&case.token, &case.provider, &keys, fx.now);
        match (&got, case.expect.as_str()) {
            (Ok(v), "ok") => {
                if let Some(aud) = &case.audience {
                    assert_eq!(&v.audience, aud, "{}: audience", case.name);
                }
                assert_eq!(v.issuer, case.provider.url, "{}", case.name);
            }
            (Err(e), want) if e.reason_code() == want => {}
            _ => panic!(
                "{}: expected {}, got {:?}",
                case.name,
                case.expect,
                got.map(|v| v.subject)
            ),
        }
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} cases");
}

#[test]
fn fixture_jwks_keeps_only_usable_signature_keys() {
    let keys = jwks_v1();
    assert_eq!(
        keys.kids(),
        vec!["ec-256", "ec-384", "ed-1", "rsa-1", "rsa-1-any"]
    );
    // oct ×2, enc RSA, P-521, x5c-only, unknown kty, non-object
    assert_eq!(keys.skipped(), 7);
    let kinds: Vec<KeyKind> = keys.keys().iter().map(|k| k.kind).collect();
    assert!(kinds.contains(&KeyKind::Ed25519));
    assert!(kinds.contains(&KeyKind::EcP384));
    // the `alg` of rsa-1 pins RS256
    let rsa1 = keys
        .keys()
        .iter()
        .find(|k| k.kid.as_deref() == Some("rsa-1"))
        .unwrap();
    assert_eq!(rsa1.alg, Some(Algorithm::RS256));
    assert!(!rsa1.allows(Algorithm::PS256));
}

#[test]
fn rotated_key_verifies_only_with_the_rotated_set() {
    let fx = fixtures();
    let case = fx.case("rotated_rs256_valid");
    assert_eq!(
        verify_token(&case.token, &case.provider, &jwks_v1(), fx.now),
        Err(OidcError::UnknownKey)
    );
    let v = verify_token(&case.token, &case.provider, &jwks_v2(), fx.now).unwrap();
    assert_eq!(v.key_id.as_deref(), Some("rsa-2"));
}

#[test]
fn verified_token_fields() {
    let fx = fixtures();
    let case = fx.case("rs256_valid");
    let v = verify_token(&case.token, &case.provider, &jwks_v1(), fx.now).unwrap();
    assert_eq!(v.issuer, "https://idp.example.com");
    assert_eq!(v.subject, "user-123456");
    assert_eq!(v.audience, "client-a");
    assert_eq!(v.audiences, vec!["client-a"]);
    assert_eq!(v.azp, None);
    assert!(v.amr.is_empty());
    assert_eq!(v.expires_at, fx.now + 3600);
    assert_eq!(v.issued_at, Some(fx.now - 60));
    assert_eq!(v.not_before, None);
    assert_eq!(v.algorithm, Algorithm::RS256);
    assert_eq!(v.key_id.as_deref(), Some("rsa-1"));
    assert_eq!(v.claims["sub"], "user-123456");
    assert_eq!(v.session_tags(), Ok(None));
    assert_eq!(v.source_identity(), Ok(None));
    let keys = v.condition_keys();
    assert_eq!(
        keys.keys().collect::<Vec<_>>(),
        vec!["idp.example.com:aud", "idp.example.com:sub"]
    );
    assert_eq!(keys["idp.example.com:aud"], vec!["client-a"]);
}

#[test]
fn expiry_is_exact_and_maps_to_expired_token_exception() {
    let fx = fixtures();
    let case = fx.case("rs256_valid");
    let keys = jwks_v1();
    let exp = fx.now + 3600;
    assert!(verify_token(&case.token, &case.provider, &keys, exp - 1).is_ok());
    let err = verify_token(&case.token, &case.provider, &keys, exp).unwrap_err();
    assert_eq!(err, OidcError::Expired);
    assert_eq!(err.aws_error_code(), "ExpiredTokenException");
    assert_eq!(err.message(), "Token is expired");
}

#[test]
fn skew_on_nbf_and_iat() {
    let fx = fixtures();
    let keys = jwks_v1();
    // nbf = now + 30 passes at now, nbf = now + 600 fails until now + 540.
    let c = fx.case("nbf_future");
    assert_eq!(
        verify_token(&c.token, &c.provider, &keys, fx.now + 539),
        Err(OidcError::NotYetValid)
    );
    assert!(verify_token(&c.token, &c.provider, &keys, fx.now + 540).is_ok());
    let c = fx.case("iat_future");
    assert_eq!(
        verify_token(&c.token, &c.provider, &keys, fx.now),
        Err(OidcError::IssuedInFuture)
    );
}

#[test]
fn error_messages_are_aws_like() {
    let fx = fixtures();
    let keys = jwks_v1();
    let msg = |name: &str| {
        let c = fx.case(name);
        verify_token(&c.token, &c.provider, &keys, fx.now).unwrap_err()
    };
    assert_eq!(msg("alg_none").message(), "Unsupported algorithm: none");
    assert_eq!(
        msg("hs256_rsa_pem_secret").message(),
        "Unsupported algorithm: HS256"
    );
    assert_eq!(msg("hs512_pyjwt").message(), "Unsupported algorithm: HS512");
    assert_eq!(
        msg("es512_unsupported").message(),
        "Unsupported algorithm: ES512"
    );
    assert_eq!(msg("wrong_aud").message(), "Incorrect token audience");
    assert_eq!(
        msg("missing_sub").message(),
        "Missing a required claim: sub"
    );
    assert_eq!(
        msg("missing_aud").message(),
        "Missing a required claim: aud"
    );
    assert_eq!(
        msg("bad_signature").message(),
        "The token's signature is invalid"
    );
    assert_eq!(
        msg("unknown_kid").message(),
        "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements"
    );
    assert_eq!(
        msg("wrong_iss").message(),
        "No OpenIDConnect provider found in your account for https://evil.example.com"
    );
    assert_eq!(
        msg("exp_float").message(),
        "Invalid claim exp: timestamps must be integers"
    );
    let big = msg("oversized");
    assert_eq!(big.aws_error_code(), "ValidationError");
    assert!(big.message().contains("20000"));
    for name in ["alg_none", "wrong_aud", "bad_signature", "unknown_kid"] {
        assert_eq!(msg(name).aws_error_code(), "InvalidIdentityToken", "{name}");
        assert_eq!(msg(name).http_status(), 400);
        assert!(!msg(name).is_retryable());
    }
}

#[test]
fn missing_claim_names() {
    let fx = fixtures();
    let keys = jwks_v1();
    for c in &fx.cases {
        if let Some(m) = c.raw.get("missing").and_then(|m| m.as_str()) {
            match verify_token(&c.token, &c.provider, &keys, fx.now) {
                Err(OidcError::MissingClaim(name)) => assert_eq!(name, m, "{}", c.name),
                other => panic!("{}: {other:?}", c.name),
            }
        }
    }
}

#[test]
fn hmac_is_refused_even_when_the_jwks_has_an_oct_key() {
    // The fixture JWKS publishes an `oct` key "hmac-1" and the RSA PEM as an oct key; the
    // HS256 tokens signed with exactly those secrets must still be refused.
    let fx = fixtures();
    let keys = jwks_v1();
    for name in ["hs256_oct_kid", "hs256_rsa_pem_secret", "hs512_pyjwt"] {
        let c = fx.case(name);
        assert!(matches!(
            verify_token(&c.token, &c.provider, &keys, fx.now),
            Err(OidcError::UnsupportedAlgorithm(_))
        ));
    }
    // Rewriting the header of a valid RS256 token to HS256 does not help either.
    let c = fx.case("rs256_valid");
    let mut parts: Vec<&str> = c.token.split('.').collect();
    let hs = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"rsa-1"}"#);
    parts[0] = &hs;
    let forged = parts.join(".");
    assert!(matches!(
        verify_token(&forged, &c.provider, &keys, fx.now),
        Err(OidcError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn structural_garbage_is_malformed() {
    let fx = fixtures();
    let keys = jwks_v1();
    let c = fx.case("rs256_valid");
    let p = &c.provider;
    let parts: Vec<&str> = c.token.split('.').collect();
    let cases = [
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]), // padding
        format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
        format!("{}.{}.", parts[0], parts[1]), // empty signature
        format!("{}.{}", parts[0], parts[1]),
        format!("{}.{}.{}.x.y", parts[0], parts[1], parts[2]), // JWE shape
        format!("{}.{}+.{}", parts[0], parts[1], parts[2]),    // std alphabet char
        format!(" {}", c.token),
        String::new(),
        "...".to_string(),
    ];
    for t in &cases {
        assert!(
            matches!(
                verify_token(t, p, &keys, fx.now),
                Err(OidcError::Malformed(_))
            ),
            "{t:.40}: {:?}",
            verify_token(t, p, &keys, fx.now)
        );
    }
}

#[test]
fn every_prefix_and_bit_flip_is_refused_without_panicking() {
    let fx = fixtures();
    let keys = jwks_v1();
    let c = fx.case("es256_valid");
    let bytes = c.token.as_bytes();
    for i in 0..bytes.len() {
        let prefix = std::str::from_utf8(&bytes[..i]).unwrap();
        assert!(verify_token(prefix, &c.provider, &keys, fx.now).is_err());
    }
    // flip every character of the signature and payload to another base64url character
    for i in 0..bytes.len() {
        if bytes[i] == b'.' {
            continue;
        }
        let mut b = bytes.to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(b).unwrap();
        assert!(
            verify_token(&t, &c.provider, &keys, fx.now).is_err(),
            "flip at {i} accepted"
        );
    }
}

#[test]
fn peek_issuer_reads_unverified_iss() {
    let fx = fixtures();
    assert_eq!(
        peek_issuer(&fx.case("github_actions").token).unwrap(),
        "https://token.actions.githubusercontent.com"
    );
    assert_eq!(
        peek_issuer(&fx.case("missing_iss").token),
        Err(OidcError::MissingClaim("iss"))
    );
    assert!(matches!(
        peek_issuer(&fx.case("alg_none").token),
        Err(OidcError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn github_condition_keys() {
    let fx = fixtures();
    let c = fx.case("github_actions");
    let v = verify_token(&c.token, &c.provider, &jwks_v1(), fx.now).unwrap();
    let keys = v.condition_keys();
    let p = "token.actions.githubusercontent.com";
    let get = |k: &str| keys.get(&format!("{p}:{k}")).cloned();
    assert_eq!(get("aud"), Some(vec!["sts.amazonaws.com".into()]));
    assert_eq!(
        get("sub"),
        Some(vec!["repo:octo-org/octo-repo:ref:refs/heads/main".into()])
    );
    assert_eq!(get("actor"), Some(vec!["octocat".into()]));
    assert_eq!(get("actor_id"), Some(vec!["12345".into()]));
    assert_eq!(get("repository"), Some(vec!["octo-org/octo-repo".into()]));
    assert_eq!(get("repository_id"), Some(vec!["67890".into()]));
    assert_eq!(get("workflow"), Some(vec!["deploy".into()]));
    assert_eq!(get("ref"), Some(vec!["refs/heads/main".into()]));
    assert_eq!(get("environment"), Some(vec!["prod".into()]));
    assert_eq!(get("enterprise_id"), Some(vec!["4242".into()]));
    assert_eq!(
        get("job_workflow_ref"),
        Some(vec![
            "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main".into()
        ])
    );
    // claims AWS does not expose are not condition keys
    assert_eq!(get("repository_owner"), None);
    assert_eq!(get("run_id"), None);
    assert_eq!(get("ref_type"), None);
    assert_eq!(get("jti"), None);
    assert_eq!(keys.len(), 11);
}

#[test]
fn github_keys_only_for_the_github_issuer() {
    // The same extra claims from another issuer are not exposed.
    let fx = fixtures();
    let c = fx.case("aws_tags");
    let v = verify_token(&c.token, &c.provider, &jwks_v1(), fx.now).unwrap();
    assert!(v.condition_keys().keys().all(|k| !k.ends_with(":actor")));
}

#[test]
fn google_aud_is_azp_and_oaud_is_aud() {
    let fx = fixtures();
    let c = fx.case("google_azp");
    let v = verify_token(&c.token, &c.provider, &jwks_v1(), fx.now).unwrap();
    assert_eq!(v.audience, "1234-web.apps.googleusercontent.com");
    let keys = v.condition_keys();
    assert_eq!(
        keys["accounts.google.com:aud"],
        vec!["1234-android.apps.googleusercontent.com"]
    );
    assert_eq!(
        keys["accounts.google.com:oaud"],
        vec!["1234-web.apps.googleusercontent.com"]
    );
    assert_eq!(
        keys["accounts.google.com:sub"],
        vec!["110169484474386276334"]
    );
}

#[test]
fn azp_as_audience() {
    let fx = fixtures();
    let c = fx.case("azp_match");
    let v = verify_token(&c.token, &c.provider, &jwks_v1(), fx.now).unwrap();
    assert_eq!(v.audience, "client-a");
    assert_eq!(v.azp.as_deref(), Some("client-a"));
    assert_eq!(v.audiences, vec!["https://api.example.com"]);
    assert_eq!(v.condition_keys()["idp.example.com:aud"], vec!["client-a"]);
}

#[test]
fn aws_session_tags_source_identity_and_amr() {
    let fx = fixtures();
    let c = fx.case("aws_tags");
    let v = verify_token(&c.token, &c.provider, &jwks_v1(), fx.now).unwrap();
    assert_eq!(
        v.session_tags().unwrap(),
        Some(SessionTags {
            principal_tags: vec![
                ("CostCenter".into(), "987654".into()),
                ("Department".into(), "Engineering".into()),
                ("Project".into(), "Automation".into()),
            ],
            transitive_tag_keys: vec!["Project".into(), "CostCenter".into()],
        })
    );
    assert_eq!(v.source_identity().unwrap().as_deref(), Some("jdoe"));
    assert_eq!(v.amr, vec!["pwd", "mfa"]);
    assert_eq!(
        v.condition_keys()["idp.example.com:amr"],
        vec!["pwd", "mfa"]
    );

    for name in ["aws_tags_multivalued", "aws_tags_bad_transitive"] {
        let c = fx.case(name);
        let v = verify_token(&c.token, &c.provider, &jwks_v1(), fx.now).unwrap();
        assert!(
            matches!(v.session_tags(), Err(OidcError::InvalidClaim { .. })),
            "{name}"
        );
    }
}

#[test]
fn session_tag_and_source_identity_rules() {
    let fx = fixtures();
    let c = fx.case("rs256_valid");
    let base = verify_token(&c.token, &c.provider, &jwks_v1(), fx.now).unwrap();
    let with = |claim: &str, value: serde_json::Value| {
        let mut v = base.clone();
        v.claims.insert(claim.to_string(), value);
        v
    };
    let tags = |value: serde_json::Value| with("https://aws.amazon.com/tags", value).session_tags();
    assert!(tags(serde_json::json!("x")).is_err());
    assert!(tags(serde_json::json!({"principal_tags": {"A": 1}})).is_err());
    assert!(tags(serde_json::json!({"principal_tags": {"A": []}})).is_err());
    assert!(tags(serde_json::json!({"principal_tags": {"A": ["1"], "a": ["2"]}})).is_err());
    assert!(tags(serde_json::json!({"principal_tags": {"": ["1"]}})).is_err());
    assert!(tags(serde_json::json!({"principal_tags": {"A": ["v".repeat(257)]}})).is_err());
    let many: serde_json::Map<String, serde_json::Value> = (0..51)
        .map(|i| (format!("k{i}"), serde_json::json!(["v"])))
        .collect();
    assert!(tags(serde_json::json!({ "principal_tags": many })).is_err());
    assert_eq!(
        tags(serde_json::json!({"principal_tags": {"A": "bare"}, "transitive_tag_keys": ["a"]}))
            .unwrap(),
        Some(SessionTags {
            principal_tags: vec![("A".into(), "bare".into())],
            transitive_tag_keys: vec!["a".into()],
        })
    );

    let si = |value: serde_json::Value| {
        with("https://aws.amazon.com/source_identity", value).source_identity()
    };
    assert_eq!(
        si(serde_json::json!("alice@example.com"))
            .unwrap()
            .as_deref(),
        Some("alice@example.com")
    );
    assert!(si(serde_json::json!("a")).is_err());
    assert!(si(serde_json::json!("x".repeat(65))).is_err());
    assert!(si(serde_json::json!("has space")).is_err());
    assert!(si(serde_json::json!("aws:me")).is_err());
    assert!(si(serde_json::json!(5)).is_err());
}

#[test]
fn issuer_is_compared_exactly() {
    let fx = fixtures();
    let keys = jwks_v1();
    let c = fx.case("rs256_valid");
    for url in [
        "https://idp.example.com/",
        "https://IDP.example.com",
        "http://idp.example.com",
        "idp.example.com",
    ] {
        let p = ProviderConfig::new(url, vec!["client-a".into()]);
        assert!(
            matches!(
                verify_token(&c.token, &p, &keys, fx.now),
                Err(OidcError::IssuerMismatch(_))
            ),
            "{url}"
        );
    }
}

#[test]
fn oversized_limit_is_exactly_20000() {
    assert_eq!(MAX_TOKEN_LEN, 20_000);
    let fx = fixtures();
    let c = fx.case("oversized");
    assert!(c.token.len() > MAX_TOKEN_LEN);
    assert!(matches!(
        verify_token(&c.token, &c.provider, &jwks_v1(), fx.now),
        Err(OidcError::TokenTooLarge { .. })
    ));
}
