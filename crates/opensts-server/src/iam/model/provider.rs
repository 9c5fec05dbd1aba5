//! SAML and OpenID Connect identity providers.
