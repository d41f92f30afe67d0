//! One error type for everything the gateway refuses itself, with its HTTP status and the
//! OpenAI-shaped body (`{"error":{"message","type","param","code"}}`) so every OpenAI SDK maps
//! our refusals to its usual exception classes. The client's own shape (Anthropic's on
//! `/v1/messages`, Google's on the Gemini API) is chosen at the edge, in
//! `proxy::respond::body_for`. The layers' own typed errors (config, upstream, vision,
//! translation) convert into it with `From`.

use crate::core::translate::TranslateError;
use bytes::Bytes;
use serde_json::json;

/// Response headers that go with an error (`Retry-After`, `x-ratelimit-*`).
pub type ErrorHeaders = Vec<(&'static str, String)>;

/// Everything the gateway answers on its own with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}", self.status(), self.message())]
pub enum GatewayError {
    /// 400: the body is not what the endpoint takes (bad JSON, a missing or wrong field).
    BadRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    /// 401: no key, an unknown key or an expired key.
    Unauthorized { message: String },
    /// 403: the key may not use this model.
    Forbidden { message: String },
    /// 404: no such path.
    NotFound { path: String },
    /// 404 `model_not_found`: no route for the model.
    ModelNotFound { model: String },
    /// 405: the path exists with another method.
    MethodNotAllowed { method: String, path: String },
    /// 408: the client did not send the whole body in time.
    BodyTimeout { seconds: u64 },
    /// 413: the body is over the kind's cap.
    BodyTooLarge { limit: usize },
    /// 404: no stored response with this id (expired, deleted or never stored).
    ResponseNotFound { id: String },
    /// 429: over a rate or concurrency limit, with its `Retry-After` / `x-ratelimit-*`.
    RateLimited {
        message: String,
        headers: ErrorHeaders,
    },
    /// 502: the upstream could not be reached or answered garbage.
    BadGateway { message: String },
    /// 503: no healthy upstream, or the gateway is draining.
    Unavailable { message: String },
    /// 504: the upstream did not answer in time.
    GatewayTimeout { message: String },
    /// 500: a bug or an unexpected internal failure.
    Internal { message: String },
    /// A stage of the route's pipeline refused the request (a guardrail, a webhook, a
    /// plugin), with the status it chose (4xx) and its message; or a fail-closed stage
    /// could not decide (503). The admin API uses it too (`stage: "admin"`) for answers with
    /// their own status and code (a missing key or team, 404; a team in use, 409).
    Refused {
        status: u16,
        message: String,
        code: &'static str,
        /// The stage's name (the access log's `refused_by`).
        stage: std::sync::Arc<str>,
    },
}

impl GatewayError {
    /// A 400 with a `param` naming the offending field.
    pub fn bad_param(message: impl Into<String>, param: &str) -> Self {
        GatewayError::BadRequest {
            message: message.into(),
            param: Some(param.to_string()),
            code: None,
        }
    }

    /// A 400 with no specific field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        GatewayError::BadRequest {
            message: message.into(),
            param: None,
            code: None,
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::BadRequest { .. } => 400,
            GatewayError::Unauthorized { .. } => 401,
            GatewayError::Forbidden { .. } => 403,
            GatewayError::NotFound { .. }
            | GatewayError::ModelNotFound { .. }
            | GatewayError::ResponseNotFound { .. } => 404,
            GatewayError::MethodNotAllowed { .. } => 405,
            GatewayError::BodyTimeout { .. } => 408,
            GatewayError::BodyTooLarge { .. } => 413,
            GatewayError::RateLimited { .. } => 429,
            GatewayError::Internal { .. } => 500,
            GatewayError::BadGateway { .. } => 502,
            GatewayError::Unavailable { .. } => 503,
            GatewayError::GatewayTimeout { .. } => 504,
            GatewayError::Refused { status, .. } => *status,
        }
    }

    /// OpenAI's `type` field for this error.
    fn error_type(&self) -> &'static str {
        match self {
            GatewayError::BadRequest { .. }
            | GatewayError::NotFound { .. }
            | GatewayError::ResponseNotFound { .. }
            | GatewayError::ModelNotFound { .. }
            | GatewayError::MethodNotAllowed { .. }
            | GatewayError::BodyTimeout { .. }
            | GatewayError::BodyTooLarge { .. } => "invalid_request_error",
            GatewayError::Unauthorized { .. } => "authentication_error",
            GatewayError::Forbidden { .. } => "permission_error",
            GatewayError::RateLimited { .. } => "rate_limit_error",
            GatewayError::Refused { status, .. } => match status {
                401 => "authentication_error",
                403 => "permission_error",
                429 => "rate_limit_error",
                400..=499 => "invalid_request_error",
                _ => "server_error",
            },
            _ => "server_error",
        }
    }

    /// OpenAI's `code` field for this error.
    fn code(&self) -> Option<&'static str> {
        Some(match self {
            GatewayError::BadRequest { code, .. } => return *code,
            GatewayError::Unauthorized { .. } => "invalid_api_key",
            GatewayError::Forbidden { .. } => "model_not_allowed",
            GatewayError::NotFound { .. } => "unknown_url",
            GatewayError::ModelNotFound { .. } => "model_not_found",
            GatewayError::ResponseNotFound { .. } => return None,
            GatewayError::MethodNotAllowed { .. } => "method_not_allowed",
            GatewayError::BodyTimeout { .. } => "request_timeout",
            GatewayError::BodyTooLarge { .. } => "request_too_large",
            GatewayError::RateLimited { .. } => "rate_limit_exceeded",
            GatewayError::BadGateway { .. } => "upstream_unreachable",
            GatewayError::Unavailable { .. } => "service_unavailable",
            GatewayError::GatewayTimeout { .. } => "upstream_timeout",
            GatewayError::Internal { .. } => "internal_error",
            GatewayError::Refused { code, .. } => *code,
        })
    }

    /// The human-readable message.
    pub fn message(&self) -> String {
        match self {
            GatewayError::BadRequest { message, .. }
            | GatewayError::Unauthorized { message }
            | GatewayError::Forbidden { message }
            | GatewayError::RateLimited { message, .. }
            | GatewayError::BadGateway { message }
            | GatewayError::Unavailable { message }
            | GatewayError::GatewayTimeout { message }
            | GatewayError::Internal { message }
            | GatewayError::Refused { message, .. } => message.clone(),
            GatewayError::NotFound { path } => format!("Unknown request URL: {path}"),
            GatewayError::ResponseNotFound { id } => format!("Response with id '{id}' not found."),
            GatewayError::ModelNotFound { model } => {
                format!("The model `{model}` does not exist or is not routed by this gateway.")
            }
            GatewayError::MethodNotAllowed { method, path } => {
                format!("Method {method} is not allowed on {path}.")
            }
            GatewayError::BodyTimeout { seconds } => {
                format!("The request body was not received within {seconds} s.")
            }
            GatewayError::BodyTooLarge { limit } => {
                format!("The request body is larger than the limit of {limit} bytes.")
            }
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            GatewayError::BadRequest { param, .. } => param.as_deref(),
            GatewayError::ModelNotFound { .. } => Some("model"),
            _ => None,
        }
    }

    /// The OpenAI-shaped JSON body.
    pub fn body(&self) -> Bytes {
        let v = json!({"error": {
            "message": self.message(),
            "type": self.error_type(),
            "param": self.param(),
            "code": self.code(),
        }});
        Bytes::from(v.to_string())
    }

    /// Headers that belong with this answer.
    pub fn headers(&self) -> &[(&'static str, String)] {
        match self {
            GatewayError::RateLimited { headers, .. } => headers,
            _ => &[],
        }
    }

    /// Whether the connection may be kept alive after this answer: only when the request body
    /// was fully consumed (the gateway decides that at the call site) and the error is one a
    /// well-behaved client recovers from on the same connection.
    pub fn allows_keepalive(&self) -> bool {
        !matches!(
            self,
            GatewayError::BodyTooLarge { .. } | GatewayError::BodyTimeout { .. }
        )
    }
}

impl From<TranslateError> for GatewayError {
    fn from(e: TranslateError) -> GatewayError {
        GatewayError::BadRequest {
            message: e.message,
            param: e.param,
            code: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_openai_shaped() {
        let e = GatewayError::ModelNotFound { model: "x".into() };
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(e.status(), 404);
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].as_str().unwrap().contains('x'));
    }

    #[test]
    fn statuses() {
        assert_eq!(GatewayError::BodyTooLarge { limit: 1 }.status(), 413);
        assert_eq!(GatewayError::BodyTimeout { seconds: 1 }.status(), 408);
        assert_eq!(
            GatewayError::GatewayTimeout {
                message: "t".into()
            }
            .status(),
            504
        );
        assert!(!GatewayError::BodyTooLarge { limit: 1 }.allows_keepalive());
    }
}
