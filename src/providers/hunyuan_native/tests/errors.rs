//! Tencent error bodies → OpenAI's error shape and an honest status.

use serde_json::{json, Value};

use super::super::{error_in_body, error_to_chat, request_id};

fn native(code: &str) -> Vec<u8> {
    json!({"Response": {"Error": {"Code": code, "Message": "why"}, "RequestId": "req-9"}})
        .to_string()
        .into_bytes()
}

fn parsed(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

#[test]
fn the_status_table() {
    let cases = [
        ("AuthFailure.SignatureFailure", 401, "authentication_error"),
        ("AuthFailure.SignatureExpire", 401, "authentication_error"),
        ("AuthFailure.SecretIdNotFound", 401, "authentication_error"),
        ("UnauthorizedOperation", 403, "permission_error"),
        (
            "UnauthorizedOperation.NoPermission",
            403,
            "permission_error",
        ),
        (
            "FailedOperation.ServiceNotActivated",
            403,
            "permission_error",
        ),
        ("FailedOperation.UserUnAuthError", 403, "permission_error"),
        ("LimitExceeded", 429, "rate_limit_error"),
        (
            "RequestLimitExceeded.UinLimitExceeded",
            429,
            "rate_limit_error",
        ),
        (
            "FailedOperation.EngineServerLimitExceeded",
            429,
            "rate_limit_error",
        ),
        (
            "ResourceInsufficient.ChargeResourceExhaust",
            429,
            "insufficient_quota",
        ),
        ("ResourceUnavailable.InArrears", 429, "insufficient_quota"),
        (
            "FailedOperation.FreeResourcePackExhausted",
            429,
            "insufficient_quota",
        ),
        (
            "FailedOperation.ServiceStopArrears",
            429,
            "insufficient_quota",
        ),
        ("InvalidParameter", 400, "invalid_request_error"),
        ("InvalidParameterValue.Model", 400, "invalid_request_error"),
        ("MissingParameter", 400, "invalid_request_error"),
        ("UnknownParameter", 400, "invalid_request_error"),
        (
            "UnsupportedOperation.NonWhitelistAccount",
            400,
            "invalid_request_error",
        ),
        (
            "OperationDenied.TextIllegalDetected",
            400,
            "invalid_request_error",
        ),
        (
            "FailedOperation.ImageDecodeFailed",
            400,
            "invalid_request_error",
        ),
        ("ResourceNotFound", 404, "invalid_request_error"),
        ("FailedOperation.EngineRequestTimeout", 504, "server_error"),
        ("FailedOperation.EngineServerError", 502, "server_error"),
        ("FailedOperation", 502, "server_error"),
        ("InternalError", 502, "server_error"),
        ("SomethingNew", 502, "server_error"),
    ];
    for (code, status, kind) in cases {
        let (s, body) = error_in_body(&native(code)).unwrap_or_else(|| panic!("{code}"));
        assert_eq!(s, status, "{code}");
        assert_eq!(
            parsed(&body),
            json!({"error": {"message": "why (request id req-9)", "type": kind, "param": null,
                "code": code}}),
            "{code}"
        );
        // The same through error_to_chat, whatever HTTP status it came with.
        let (s2, body2) = error_to_chat(200, &native(code));
        assert_eq!((s2, parsed(&body2)), (s, parsed(&body)));
    }
}

#[test]
fn only_tencent_errors_are_found_in_a_body() {
    for body in [
        br#"{"Response":{"RequestId":"r","Choices":[]}}"#.as_slice(),
        br#"{"Response":{"Error":"plain"}}"#,
        br#"{"Error":{"Code":"X"}}"#,
        br#"{"error":{"message":"Error"}}"#,
        b"data: {\"Error\": 1}\n\n",
        b"",
        b"not json \"Error\"",
    ] {
        assert!(
            error_in_body(body).is_none(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // No request id: no suffix.
    let (_, b) =
        error_in_body(br#"{"Response":{"Error":{"Code":"InternalError","Message":"m"}}}"#).unwrap();
    assert_eq!(parsed(&b)["error"]["message"], "m");
}

#[test]
fn other_error_bodies() {
    let (s, b) = error_to_chat(502, b"<html>Bad Gateway</html>");
    assert_eq!(s, 502);
    assert_eq!(
        parsed(&b),
        json!({"error": {"message": "<html>Bad Gateway</html>", "type": "server_error",
            "param": null, "code": null}})
    );
    let (s, b) = error_to_chat(429, br#"{"error":{"message":"slow down","code":"rate"}}"#);
    assert_eq!(
        (
            s,
            parsed(&b)["error"]["message"].clone(),
            parsed(&b)["error"]["code"].clone()
        ),
        (429, json!("slow down"), json!("rate"))
    );
    let (_, b) = error_to_chat(500, b"");
    assert_eq!(parsed(&b)["error"]["message"], "upstream returned HTTP 500");
    let (_, b) = error_to_chat(401, b"{}");
    assert_eq!(parsed(&b)["error"]["type"], "authentication_error");
    let long = "é".repeat(3000);
    let (_, b) = error_to_chat(500, long.as_bytes());
    assert!(parsed(&b)["error"]["message"].as_str().unwrap().len() <= 2003);
    let long_native = json!({"Response": {"Error": {"Code": "InternalError", "Message": long}}});
    let (_, b) = error_to_chat(200, long_native.to_string().as_bytes());
    assert!(parsed(&b)["error"]["message"].as_str().unwrap().len() <= 2003);
}

#[test]
fn request_ids() {
    assert_eq!(request_id(&native("X")).as_deref(), Some("req-9"));
    assert_eq!(
        request_id(br#"{"RequestId":"bare"}"#).as_deref(),
        Some("bare")
    );
    assert_eq!(request_id(br#"{"Response":{"RequestId":""}}"#), None);
    assert_eq!(request_id(b"nope"), None);
}
