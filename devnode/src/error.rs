//! Errors in the shape grpc-gateway gives them:
//! `{"code": <grpc code>, "message": "...", "details": []}` with the HTTP
//! status grpc-gateway maps that code to.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// gRPC status codes used by the node (numbers as in `google.rpc.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    InvalidArgument = 3,
    NotFound = 5,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

/// An API error: an HTTP status plus the gRPC-style JSON body.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: Code,
    pub(crate) message: String,
    /// Sent as `retry-after`, in whole seconds.
    retry_after_secs: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: i32,
    message: &'a str,
    details: [(); 0],
}

impl ApiError {
    fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after_secs: None }
    }

    /// INVALID_ARGUMENT (3) -> 400.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Code::InvalidArgument, message)
    }

    /// NOT_FOUND (5) -> 404.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, Code::NotFound, message)
    }

    /// PERMISSION_DENIED (7) -> 403.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, Code::PermissionDenied, message)
    }

    /// UNAUTHENTICATED (16) -> 401.
    pub(crate) fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Code::Unauthenticated, message)
    }

    /// INVALID_ARGUMENT (3), but 415: the body is not declared as JSON.
    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, Code::InvalidArgument, message)
    }

    /// RESOURCE_EXHAUSTED (8), but 413 rather than grpc-gateway's 429 because
    /// the client must shrink the request, not retry it later.
    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, Code::ResourceExhausted, message)
    }

    /// RESOURCE_EXHAUSTED (8) -> 429 with `retry-after`: a rate limit; the
    /// same request will pass after `wait`.
    pub(crate) fn rate_limited(message: &str, wait: Duration) -> Self {
        // Rounded up: retrying a little late passes, a little early does not.
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        Self {
            retry_after_secs: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                Code::ResourceExhausted,
                format!("{message}; retry in {secs} s"),
            )
        }
    }

    /// UNIMPLEMENTED (12) for a known path hit with the wrong method -> 405.
    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, Code::Unimplemented, message)
    }

    /// INTERNAL (13) -> 500.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, Code::Internal, message)
    }

    /// UNAVAILABLE (14) -> 503; what injected faults answer, so clients retry.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.code == Code::Internal {
            // The client only learns that something broke; the operator needs the cause.
            tracing::error!(message = %self.message, "internal error");
        }
        let body = ErrorBody { code: self.code as i32, message: &self.message, details: [] };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
