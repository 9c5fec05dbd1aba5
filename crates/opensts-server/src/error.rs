//! The one error type of the API. Every failure a client can see is an [`ApiError`]; it is
//! rendered as AWS `ErrorResponse` XML in exactly one place ([`crate::protocol::xml::error_body`]).

use http::StatusCode;
use std::fmt;

/// Who is at fault, as AWS reports it in `<Type>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Sender,
    Receiver,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        }
    }
}

/// An error as the client sees it: AWS code, HTTP status, fault and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: &'static str,
    pub status: StatusCode,
    pub fault: Fault,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        let fault = if status.is_server_error() {
            Fault::Receiver
        } else {
            Fault::Sender
        };
        ApiError {
            code,
            status,
            fault,
            message: message.into(),
        }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, StatusCode::BAD_REQUEST, message)
    }

    fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, StatusCode::FORBIDDEN, message)
    }

    // ---- protocol ----
    pub fn invalid_action(action: &str) -> Self {
        Self::bad_request(
            "InvalidAction",
            format!("Could not find operation {action} for version {{version}}"),
        )
    }

    pub fn invalid_action_for_version(action: &str, version: &str) -> Self {
        Self::bad_request(
            "InvalidAction",
            format!("Could not find operation {action} for version {version}"),
        )
    }

    pub fn missing_action() -> Self {
        Self::bad_request("MissingAction", "Missing Action")
    }

    pub fn invalid_version(version: &str) -> Self {
        Self::bad_request(
            "InvalidAction",
            format!("Could not find operation for version {version}"),
        )
    }

    pub fn missing_version() -> Self {
        Self::bad_request(
            "MissingParameter",
            "The request must contain the parameter Version",
        )
    }

    pub fn malformed_query(message: impl Into<String>) -> Self {
        Self::bad_request("MalformedQueryString", message)
    }

    pub fn missing_parameter(name: &str) -> Self {
        Self::bad_request(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::bad_request("ValidationError", message)
    }

    pub fn invalid_parameter_value(message: impl Into<String>) -> Self {
        Self::bad_request("InvalidParameterValue", message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            "RequestEntityTooLarge",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes"),
        )
    }

    // ---- authentication ----
    pub fn missing_authentication_token() -> Self {
        Self::forbidden(
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )
    }

    pub fn invalid_client_token_id() -> Self {
        Self::forbidden(
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    }

    pub fn expired_token() -> Self {
        Self::forbidden(
            "ExpiredToken",
            "The security token included in the request is expired",
        )
    }

    // ---- authorization ----
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::forbidden("AccessDenied", message)
    }

    // ---- IAM ----
    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::new("NoSuchEntity", StatusCode::NOT_FOUND, message)
    }

    pub fn entity_already_exists(message: impl Into<String>) -> Self {
        Self::new("EntityAlreadyExists", StatusCode::CONFLICT, message)
    }

    pub fn delete_conflict(message: impl Into<String>) -> Self {
        Self::new("DeleteConflict", StatusCode::CONFLICT, message)
    }

    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new("LimitExceeded", StatusCode::CONFLICT, message)
    }

    pub fn malformed_policy_document(message: impl Into<String>) -> Self {
        Self::bad_request("MalformedPolicyDocument", message)
    }

    pub fn concurrent_modification(message: impl Into<String>) -> Self {
        Self::new("ConcurrentModification", StatusCode::CONFLICT, message)
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::bad_request("InvalidInput", message)
    }

    /// `InvalidAuthenticationCode` (403): MFA codes that do not verify.
    pub fn invalid_authentication_code(message: impl Into<String>) -> Self {
        Self::forbidden("InvalidAuthenticationCode", message)
    }

    // ---- server side ----
    pub fn internal() -> Self {
        Self::new(
            "InternalFailure",
            StatusCode::INTERNAL_SERVER_ERROR,
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }

    pub fn service_unavailable() -> Self {
        Self::new(
            "ServiceUnavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is unavailable. Please try again later.",
        )
    }
}

impl From<opensts_store::StoreError> for ApiError {
    fn from(e: opensts_store::StoreError) -> Self {
        match e {
            opensts_store::StoreError::Unavailable(detail) => {
                tracing::error!(error = %detail, "store unavailable");
                ApiError::service_unavailable()
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

impl From<opensts_sigv4::SigV4Error> for ApiError {
    fn from(e: opensts_sigv4::SigV4Error) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN);
        ApiError::new(e.code_str(), status, e.message)
    }
}
