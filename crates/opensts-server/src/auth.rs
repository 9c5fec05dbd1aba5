//! Authentication: a SigV4-signed request becomes a [`Caller`], the proof every signed action
//! handler requires. A `Caller` can only be made here, after the signature verified.

use opensts_core::principal::Principal;
use opensts_core::token::{self, SessionClaims};
use opensts_sigv4 as sigv4;

use crate::error::{ApiError, ApiResult};
use crate::protocol::Api;
use crate::state::AppState;

/// What kind of credentials signed the request.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An `AKIA…` key of an IAM user or an account root.
    LongTerm,
    /// An `ASIA…` key with its decrypted, unexpired session token.
    Session(Box<SessionClaims>),
}

/// A verified caller: the signature checked out with these credentials.
#[derive(Debug, Clone)]
pub struct Caller {
    principal: Principal,
    access_key_id: String,
    credential: Credential,
}

impl Caller {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn account_id(&self) -> &str {
        self.principal.account_id()
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The session claims when the caller used temporary credentials.
    pub fn session(&self) -> Option<&SessionClaims> {
        match &self.credential {
            Credential::Session(c) => Some(c),
            Credential::LongTerm => None,
        }
    }

    pub fn is_root(&self) -> bool {
        matches!(self.principal, Principal::Root { .. })
    }

    /// A caller standing for `principal` with long-term credentials, used only to gather that
    /// principal's policies for the policy simulator — never to authenticate anything.
    pub(crate) fn simulated(principal: Principal) -> Caller {
        Caller {
            principal,
            access_key_id: String::new(),
            credential: Credential::LongTerm,
        }
    }

    /// Test-only constructor (unit tests of handlers).
    #[cfg(test)]
    pub fn for_tests(principal: Principal, access_key_id: &str, credential: Credential) -> Caller {
        Caller {
            principal,
            access_key_id: access_key_id.to_string(),
            credential,
        }
    }
}

/// Verify the request's SigV4 signature for `api`. `Ok(None)` when the request carries no
/// authentication at all (the caller decides whether that is allowed).
pub async fn authenticate(
    state: &AppState,
    req: &sigv4::Request<'_>,
    api: Api,
) -> ApiResult<Option<Caller>> {
    authenticate_for_service(state, req, api.signing_service()).await
}

/// [`authenticate`] for any credential-scope service (`sts`, `iam`, `opensts`, or the service a
/// client signed a resource server's request for).
pub async fn authenticate_for_service(
    state: &AppState,
    req: &sigv4::Request<'_>,
    service: &str,
) -> ApiResult<Option<Caller>> {
    let Some(parsed) = sigv4::parse(req)? else {
        return Ok(None);
    };
    sigv4::check_scope(&parsed, service, state.now())?;
    verify_signature(state, req, &parsed, &sigv4::VerifyOptions::default())
        .await
        .map(Some)
}

/// Look up the credentials of an already parsed and scope-checked signature (long-term key, or
/// temporary key with its session token) and verify the signature with `opts`. Session
/// credentials past their expiration are `ExpiredToken`.
pub async fn verify_signature(
    state: &AppState,
    req: &sigv4::Request<'_>,
    parsed: &sigv4::ParsedSignature,
    opts: &sigv4::VerifyOptions<'_>,
) -> ApiResult<Caller> {
    let now = state.now();
    let akid = parsed.access_key_id.as_str();
    if akid.starts_with("ASIA") {
        let Some(tok) = parsed.session_token.as_deref() else {
            return Err(ApiError::invalid_client_token_id());
        };
        let claims = match token::open_token(&state.session_ring(), akid, tok) {
            // Possibly sealed by another node with a key rotated in moments ago.
            Err(token::TokenError::UnknownKey) => {
                crate::app::refresh_rings_for_unknown_key(state).await;
                token::open_token(&state.session_ring(), akid, tok)
            }
            other => other,
        }
        .map_err(|_| ApiError::invalid_client_token_id())?;
        let key = signing_key(
            state,
            parsed,
            &claims.tid,
            claims.secret.expose().as_bytes(),
        );
        sigv4::verify_with(parsed, req, &key, opts)?;
        if claims.exp <= now {
            return Err(ApiError::expired_token());
        }
        return Ok(Caller {
            principal: claims.principal.clone(),
            access_key_id: akid.to_string(),
            credential: Credential::Session(Box::new(claims)),
        });
    }

    // Long-term key. A session token next to a long-term key is a client mix-up AWS refuses.
    if parsed.session_token.is_some() {
        return Err(ApiError::invalid_client_token_id());
    }
    let Some(resolved) = state.resolve_access_key(akid).await? else {
        return Err(ApiError::invalid_client_token_id());
    };
    let key = signing_key(state, parsed, "", resolved.secret.expose().as_bytes());
    sigv4::verify_with(parsed, req, &key, opts)?;
    Ok(Caller {
        principal: resolved.principal.clone(),
        access_key_id: akid.to_string(),
        credential: Credential::LongTerm,
    })
}

/// The derived SigV4 key for this request's scope, cached per (key id, session token id,
/// date, region, service). Temporary key ids carry fewer random bits than token ids, so the
/// token id keeps two sessions from ever sharing a cached key.
fn signing_key(
    state: &AppState,
    p: &sigv4::ParsedSignature,
    token_id: &str,
    secret: &[u8],
) -> sigv4::SigningKey {
    let cache_key = format!(
        "{}/{token_id}/{}/{}/{}",
        p.access_key_id, p.scope_date, p.region, p.service
    );
    if let Some(k) = state.cache.signing_key(&cache_key) {
        return k;
    }
    let k = sigv4::derive_signing_key(secret, &p.scope_date, &p.region, &p.service);
    state.cache.insert_signing_key(cache_key, k.clone());
    k
}
