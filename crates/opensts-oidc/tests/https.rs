//! HttpFetcher against a real local HTTPS IdP (tokio + rustls, certificates from rcgen):
//! root CA → intermediate CA → leaf for localhost/127.0.0.1; the server presents
//! leaf + intermediate, the client trusts the root through the CA bundle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::{JWKS_V1, fixtures};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use opensts_oidc::http::certificate_thumbprint;
use opensts_oidc::{
    HttpFetcher, HttpFetcherConfig, JwksCache, JwksFetcher, OidcError, ProviderConfig, verify_token,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

struct Pki {
    root_pem: String,
    root_der: CertificateDer<'static>,
    intermediate_der: CertificateDer<'static>,
    leaf_der: CertificateDer<'static>,
    leaf_key: PrivateKeyDer<'static>,
}

fn pki() -> Pki {
    let ca_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut root_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params
        .distinguished_name
        .push(DnType::CommonName, "OpenSTS Test Root");
    root_params.key_usages = ca_usages.clone();
    let root = CertifiedIssuer::self_signed(root_params, KeyPair::generate().unwrap()).unwrap();

    let mut int_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    int_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    int_params
        .distinguished_name
        .push(DnType::CommonName, "OpenSTS Test Intermediate");
    int_params.key_usages = ca_usages;
    let intermediate =
        CertifiedIssuer::signed_by(int_params, KeyPair::generate().unwrap(), &root).unwrap();

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf = leaf_params.signed_by(&leaf_key, &intermediate).unwrap();

    Pki {
        root_pem: root.pem(),
        root_der: root.der().clone(),
        intermediate_der: intermediate.der().clone(),
        leaf_der: leaf.der().clone(),
        leaf_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

#[derive(Clone)]
struct Idp {
    base: Arc<std::sync::OnceLock<String>>,
    jwks_hits: Arc<AtomicUsize>,
    e2e_jwks: Arc<String>,
}

fn discovery(base: &str, jwks_uri: String) -> Response {
    let body = serde_json::json!({"issuer": base, "jwks_uri": jwks_uri});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn router(idp: Idp) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(s): State<Idp>| async move {
                let base = s.base.get().unwrap().clone();
                discovery(&base, format!("{base}/keys/jwks.json"))
            }),
        )
        .route(
            "/keys/jwks.json",
            get(|State(s): State<Idp>| async move {
                s.jwks_hits.fetch_add(1, Ordering::SeqCst);
                let mut h = HeaderMap::new();
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=600"),
                );
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                (h, JWKS_V1).into_response()
            }),
        )
        .route(
            "/plainhttp/.well-known/openid-configuration",
            get(|State(s): State<Idp>| async move {
                let base = s.base.get().unwrap().clone();
                discovery(
                    &base,
                    base.replace("https://", "http://") + "/keys/jwks.json",
                )
            }),
        )
        .route(
            "/nojwks/.well-known/openid-configuration",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], "{}") }),
        )
        .route(
            "/notjson/.well-known/openid-configuration",
            get(|| async { "<html>hello</html>" }),
        )
        .route(
            "/big/.well-known/openid-configuration",
            get(|State(s): State<Idp>| async move {
                let base = s.base.get().unwrap().clone();
                discovery(&base, format!("{base}/big/jwks.json"))
            }),
        )
        .route(
            "/big/jwks.json",
            get(|| async { format!("{{\"keys\":[],\"pad\":\"{}\"}}", "A".repeat(1024 * 1024)) }),
        )
        .route(
            "/redirect/.well-known/openid-configuration",
            get(|State(s): State<Idp>| async move {
                let base = s.base.get().unwrap().clone();
                let to = base.replace("https://", "http://") + "/.well-known/openid-configuration";
                (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
            }),
        )
        .route(
            "/down/.well-known/openid-configuration",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        )
        .route(
            "/gone/.well-known/openid-configuration",
            get(|| async { StatusCode::NOT_FOUND }),
        )
        .route(
            "/e2e/.well-known/openid-configuration",
            get(|State(s): State<Idp>| async move {
                let base = s.base.get().unwrap().clone();
                discovery(&format!("{base}/e2e"), format!("{base}/e2e/jwks"))
            }),
        )
        .route(
            "/e2e/jwks",
            get(|State(s): State<Idp>| async move {
                s.jwks_hits.fetch_add(1, Ordering::SeqCst);
                (
                    [(header::CACHE_CONTROL, "max-age=300")],
                    s.e2e_jwks.as_str().to_string(),
                )
                    .into_response()
            }),
        )
        .with_state(idp)
}

struct Server {
    base: String,
    idp: Idp,
    pki: Pki,
    e2e_key: jsonwebtoken::EncodingKey,
}

async fn start() -> Server {
    let pki = pki();
    // An ES256 key for the end-to-end check, published as a JWK by the test IdP.
    let e2e = KeyPair::generate().unwrap();
    let raw = e2e.public_key_raw(); // 0x04 || x || y
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "e2e-1", "use": "sig", "alg": "ES256",
        "x": b64.encode(&raw[1..33]), "y": b64.encode(&raw[33..65]),
    }]});
    let e2e_key = jsonwebtoken::EncodingKey::from_ec_der(&e2e.serialize_der());

    let idp = Idp {
        base: Arc::new(std::sync::OnceLock::new()),
        jwks_hits: Arc::new(AtomicUsize::new(0)),
        e2e_jwks: Arc::new(jwk.to_string()),
    };
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![pki.leaf_der.clone(), pki.intermediate_der.clone()],
        pki.leaf_key.clone_key(),
    )
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("https://localhost:{port}");
    idp.base.set(base.clone()).unwrap();
    let app = router(idp.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                break;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return; // client refused our certificate
                };
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    Server {
        base,
        idp,
        pki,
        e2e_key,
    }
}

fn fetcher_with_ca(s: &Server) -> HttpFetcher {
    HttpFetcher::new(HttpFetcherConfig {
        ca_bundle_pem: Some(s.pki.root_pem.clone().into_bytes()),
        ..HttpFetcherConfig::default()
    })
    .unwrap()
}

fn provider(url: String) -> ProviderConfig {
    ProviderConfig::new(url, vec!["client-a".into()])
}

#[tokio::test]
async fn fetches_discovery_and_jwks_with_the_ca_bundle() {
    let s = start().await;
    let f = fetcher_with_ca(&s);
    let got = f.fetch(&provider(s.base.clone())).await.unwrap();
    assert_eq!(got.jwks.len(), 5);
    assert_eq!(got.max_age, Some(600));
    assert_eq!(s.idp.jwks_hits.load(Ordering::SeqCst), 1);

    // the fetched keys verify the PyJWT fixture tokens
    let fx = fixtures();
    let case = fx.case("es384_valid");
    let v = verify_token(&case.token, &case.provider, &got.jwks, fx.now).unwrap();
    assert_eq!(v.subject, "user-123456");

    // bundle only, no system roots
    let only = HttpFetcher::new(HttpFetcherConfig {
        ca_bundle_pem: Some(s.pki.root_pem.clone().into_bytes()),
        use_system_roots: false,
        ..HttpFetcherConfig::default()
    })
    .unwrap();
    assert!(only.fetch(&provider(s.base.clone())).await.is_ok());

    // a CA bundle file works the same way
    let dir = std::env::temp_dir().join(format!("opensts-oidc-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca.pem");
    std::fs::write(&path, &s.pki.root_pem).unwrap();
    let from_file = HttpFetcher::from_ca_file(Some(&path)).unwrap();
    assert!(from_file.fetch(&provider(s.base.clone())).await.is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn without_the_ca_the_idp_is_unreachable() {
    let s = start().await;
    let f = HttpFetcher::new(HttpFetcherConfig::default()).unwrap();
    let err = f.fetch(&provider(s.base.clone())).await.unwrap_err();
    assert!(matches!(err, OidcError::IdpCommunication(_)), "{err:?}");
    assert_eq!(err.aws_error_code(), "IDPCommunicationError");
    // details (for logs) mention the certificate problem; the message does not
    assert!(
        err.detail().to_lowercase().contains("certificate"),
        "{}",
        err.detail()
    );
    assert!(!err.message().contains("localhost"));
    assert_eq!(s.idp.jwks_hits.load(Ordering::SeqCst), 0);

    // a CA that did not issue the chain does not help
    let other = pki();
    let f = HttpFetcher::new(HttpFetcherConfig {
        ca_bundle_pem: Some(other.root_pem.into_bytes()),
        use_system_roots: false,
        ..HttpFetcherConfig::default()
    })
    .unwrap();
    assert!(matches!(
        f.fetch(&provider(s.base.clone())).await,
        Err(OidcError::IdpCommunication(_))
    ));
}

#[tokio::test]
async fn thumbprint_pinning() {
    let s = start().await;
    let f = fetcher_with_ca(&s);
    let intermediate = certificate_thumbprint(&s.pki.intermediate_der);
    let leaf = certificate_thumbprint(&s.pki.leaf_der);
    let root = certificate_thumbprint(&s.pki.root_der);
    assert_eq!(intermediate.len(), 40);

    // the top certificate the server presents (AWS's definition), any case
    for pin in [intermediate.clone(), intermediate.to_uppercase(), leaf] {
        let p = provider(s.base.clone()).with_thumbprints(vec![pin.clone()]);
        assert!(f.fetch(&p).await.is_ok(), "{pin}");
    }
    // one of several pins matching is enough
    let p = provider(s.base.clone()).with_thumbprints(vec!["00".repeat(20), intermediate.clone()]);
    assert!(f.fetch(&p).await.is_ok());

    // no match: refused, with AWS's message
    for pins in [vec!["00".repeat(20)], vec![root]] {
        let p = provider(s.base.clone()).with_thumbprints(pins);
        let err = f.fetch(&p).await.unwrap_err();
        assert_eq!(err, OidcError::ThumbprintMismatch);
        assert_eq!(
            err.message(),
            "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
        );
        assert_eq!(err.aws_error_code(), "InvalidIdentityToken");
    }
    // pinning is checked on the JWKS host only: the discovery document was served each time
    // but the key set never was for the mismatching pins
    assert_eq!(s.idp.jwks_hits.load(Ordering::SeqCst), 4);

    // a malformed configured thumbprint fails closed
    let p = provider(s.base.clone()).with_thumbprints(vec!["not-hex".into()]);
    assert!(matches!(f.fetch(&p).await, Err(OidcError::KeyRetrieval(_))));
}

#[tokio::test]
async fn bad_documents_and_statuses() {
    let s = start().await;
    let f = fetcher_with_ca(&s);
    let fetch = |path: &str| {
        let p = provider(format!("{}{path}", s.base));
        let f = &f;
        async move { f.fetch(&p).await }
    };
    for path in [
        "/plainhttp",
        "/nojwks",
        "/notjson",
        "/big",
        "/redirect",
        "/gone",
    ] {
        let r = fetch(path).await;
        assert!(
            matches!(r, Err(OidcError::KeyRetrieval(_))),
            "{path}: {r:?}"
        );
    }
    assert!(matches!(
        fetch("/down").await,
        Err(OidcError::IdpCommunication(_))
    ));
    // http:// issuers are refused without any request
    let r = f
        .fetch(&provider(s.base.replace("https://", "http://")))
        .await;
    assert!(matches!(r, Err(OidcError::KeyRetrieval(_))));
    // nothing listening
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let r = f
        .fetch(&provider(format!("https://localhost:{port}")))
        .await;
    assert!(matches!(r, Err(OidcError::IdpCommunication(_))), "{r:?}");
}

#[tokio::test]
async fn end_to_end_cache_over_https() {
    let s = start().await;
    let cache = JwksCache::new(Arc::new(fetcher_with_ca(&s)));
    let iss = format!("{}/e2e", s.base);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = serde_json::json!({
        "iss": iss, "sub": "e2e-user", "aud": "client-a", "iat": now, "exp": now + 300,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("e2e-1".into());
    let token = jsonwebtoken::encode(&header, &claims, &s.e2e_key).unwrap();

    let p = provider(iss.clone());
    let v = cache.verify(&token, &p).await.unwrap();
    assert_eq!(v.subject, "e2e-user");
    assert_eq!(v.audience, "client-a");
    assert_eq!(s.idp.jwks_hits.load(Ordering::SeqCst), 1);
    // cached (max-age=300)
    for _ in 0..10 {
        cache.verify(&token, &p).await.unwrap();
    }
    assert_eq!(s.idp.jwks_hits.load(Ordering::SeqCst), 1);
    // wrong audience is refused without another fetch
    let wrong = ProviderConfig::new(iss, vec!["other".into()]);
    assert_eq!(
        cache.verify(&token, &wrong).await,
        Err(OidcError::IncorrectAudience)
    );
}

#[tokio::test]
async fn private_networks_can_be_refused() {
    let s = start().await;
    let f = HttpFetcher::new(HttpFetcherConfig {
        ca_bundle_pem: Some(s.pki.root_pem.clone().into_bytes()),
        deny_private_networks: true,
        ..HttpFetcherConfig::default()
    })
    .unwrap();
    let port = s.base.rsplit(':').next().unwrap().to_string();
    for url in [
        s.base.clone(),                        // name resolving to loopback
        format!("https://127.0.0.1:{port}"),   // IPv4 literal
        format!("https://[::1]:{port}"),       // IPv6 literal
        "https://169.254.169.254".to_string(), // metadata service
    ] {
        let r = f.fetch(&provider(url.clone())).await;
        assert!(matches!(r, Err(OidcError::KeyRetrieval(_))), "{url}: {r:?}");
    }
    assert_eq!(s.idp.jwks_hits.load(Ordering::SeqCst), 0);
    // allowed by default
    assert!(
        fetcher_with_ca(&s)
            .fetch(&provider(s.base.clone()))
            .await
            .is_ok()
    );
}
