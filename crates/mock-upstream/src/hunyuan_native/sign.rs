//! TC3-HMAC-SHA256 verification, written from Tencent's signing rules (not from the gateway's
//! signer): the canonical request is rebuilt from what arrived, for whichever headers the
//! client says it signed (the official SDK signs `content-type;host`, the gateway
//! `content-type;host;x-tc-action`), and the signature recomputed with the mock's key.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{Refusal, MOCK_SECRET_ID, MOCK_SECRET_KEY, SERVICE};

/// Tencent's skew limit between the request's timestamp and the server's clock.
pub const MAX_SKEW_SECS: u64 = 300;

/// Tencent's message for a signature that does not verify.
pub const MSG_SIGNATURE_FAILURE: &str =
    "The provided credentials could not be validated. Please check your signature is correct.";

/// The parts of a TC3 `Authorization` header.
struct Authorization<'a> {
    secret_id: &'a str,
    date: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse(header: &str) -> Option<Authorization<'_>> {
    let rest = header.strip_prefix("TC3-HMAC-SHA256 ")?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let (k, v) = field.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => return None,
        }
    }
    let mut scope = credential?.split('/');
    let a = Authorization {
        secret_id: scope.next()?,
        date: scope.next()?,
        service: scope.next()?,
        terminator: scope.next()?,
        signed_headers: signed_headers?,
        signature: signature?,
    };
    scope.next().is_none().then_some(a)
}

fn refusal(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Checks the request's signature at server time `now` (Unix seconds).
pub fn verify(h: &HeaderMap, body: &[u8], now: u64) -> Result<(), Refusal> {
    let failure = || refusal("AuthFailure.SignatureFailure", MSG_SIGNATURE_FAILURE);
    let auth = header(h, "authorization").ok_or_else(failure)?;
    let a = parse(auth).ok_or_else(|| {
        refusal(
            "AuthFailure.InvalidAuthorization",
            "Authorization header is not in the TC3-HMAC-SHA256 format.",
        )
    })?;
    let ts: u64 = header(h, "x-tc-timestamp")
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| {
            refusal(
                "MissingParameter",
                "The request is missing a required parameter `X-TC-Timestamp`.",
            )
        })?;
    if ts.abs_diff(now) > MAX_SKEW_SECS {
        return Err(refusal(
            "AuthFailure.SignatureExpire",
            format!("Signature expired. Timestamp is {ts}, server time is {now}: they may differ by {MAX_SKEW_SECS} seconds at most."),
        ));
    }
    if a.secret_id != MOCK_SECRET_ID {
        return Err(refusal(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId is correct.",
        ));
    }
    let scope_ok = a.date == utc_date(ts) && a.service == SERVICE && a.terminator == "tc3_request";
    let names: Vec<&str> = a.signed_headers.split(';').collect();
    if !scope_ok || !names.contains(&"content-type") || !names.contains(&"host") {
        return Err(failure());
    }
    let mut signed = Vec::with_capacity(names.len());
    for name in &names {
        signed.push((*name, header(h, name).ok_or_else(failure)?));
    }
    let unsigned = header(h, "x-tc-content-sha256") == Some("UNSIGNED-PAYLOAD");
    let payload: &[u8] = if unsigned { b"UNSIGNED-PAYLOAD" } else { body };
    let expected = signature(MOCK_SECRET_KEY, &signed, payload, ts);
    if expected != a.signature {
        return Err(failure());
    }
    Ok(())
}

/// The hex TC3 signature of a `POST /` request whose `signed` headers (lowercase names, in the
/// order of `SignedHeaders`) and body are given.
pub fn signature(secret_key: &str, signed: &[(&str, &str)], payload: &[u8], ts: u64) -> String {
    let mut canonical_headers = String::new();
    for (name, value) in signed {
        canonical_headers.push_str(&format!("{name}:{}\n", value.trim().to_ascii_lowercase()));
    }
    let names: Vec<&str> = signed.iter().map(|(n, _)| *n).collect();
    let canonical = format!(
        "POST\n/\n\n{canonical_headers}\n{}\n{}",
        names.join(";"),
        hex::encode(Sha256::digest(payload))
    );
    let date = utc_date(ts);
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{ts}\n{date}/{SERVICE}/tc3_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac(&k_date, SERVICE.as_bytes());
    let k_signing = hmac(&k_service, b"tc3_request");
    hex::encode(hmac(&k_signing, to_sign.as_bytes()))
}

/// The `Authorization` header for the mock's credentials over `signed` headers (tests sign
/// their requests with it).
pub fn authorization(signed: &[(&str, &str)], payload: &[u8], ts: u64) -> String {
    let names: Vec<&str> = signed.iter().map(|(n, _)| *n).collect();
    format!(
        "TC3-HMAC-SHA256 Credential={MOCK_SECRET_ID}/{}/{SERVICE}/tc3_request, SignedHeaders={}, Signature={}",
        utc_date(ts),
        names.join(";"),
        signature(MOCK_SECRET_KEY, signed, payload, ts)
    )
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length.
        Err(_) => Vec::new(),
    }
}

/// `YYYY-MM-DD` of a Unix timestamp, in UTC.
pub fn utc_date(ts: u64) -> String {
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant.
    let z = ts / 86_400 + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const TS: u64 = 1_704_067_199;

    fn signed_request(body: &[u8], names: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert(
            "host",
            HeaderValue::from_static("hunyuan.tencentcloudapi.com"),
        );
        h.insert("x-tc-action", HeaderValue::from_static("ChatCompletions"));
        h.insert("x-tc-timestamp", HeaderValue::from(TS));
        let signed: Vec<(&str, &str)> = names
            .iter()
            .map(|n| (*n, h.get(*n).and_then(|v| v.to_str().ok()).unwrap_or("")))
            .collect();
        let auth = authorization(&signed, body, TS);
        h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        h
    }

    fn code(r: Result<(), Refusal>) -> &'static str {
        r.err().map_or("ok", |r| r.code)
    }

    #[test]
    fn both_signed_header_sets_verify() {
        for names in [
            &["content-type", "host"][..],
            &["content-type", "host", "x-tc-action"],
        ] {
            let h = signed_request(b"{}", names);
            assert_eq!(code(verify(&h, b"{}", TS + 10)), "ok");
            assert_eq!(code(verify(&h, b"{ }", TS)), "AuthFailure.SignatureFailure");
        }
    }

    #[test]
    fn refusals() {
        let h = signed_request(b"{}", &["content-type", "host", "x-tc-action"]);
        assert_eq!(
            code(verify(&h, b"{}", TS + 301)),
            "AuthFailure.SignatureExpire"
        );
        assert_eq!(
            code(verify(&h, b"{}", TS - 301)),
            "AuthFailure.SignatureExpire"
        );
        let mut other_action = h.clone();
        other_action.insert("x-tc-action", HeaderValue::from_static("GetEmbedding"));
        assert_eq!(
            code(verify(&other_action, b"{}", TS)),
            "AuthFailure.SignatureFailure"
        );
        let mut other_id = h.clone();
        let auth = header(&h, "authorization")
            .unwrap()
            .replace(MOCK_SECRET_ID, "AKIDother");
        other_id.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        assert_eq!(
            code(verify(&other_id, b"{}", TS)),
            "AuthFailure.SecretIdNotFound"
        );
        let mut no_host = h.clone();
        let auth = header(&h, "authorization")
            .unwrap()
            .replace("content-type;host;x-tc-action", "content-type;x-tc-action");
        no_host.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        assert_eq!(
            code(verify(&no_host, b"{}", TS)),
            "AuthFailure.SignatureFailure"
        );
        let mut garbled = h.clone();
        garbled.insert("authorization", HeaderValue::from_static("Bearer sk-x"));
        assert_eq!(
            code(verify(&garbled, b"{}", TS)),
            "AuthFailure.InvalidAuthorization"
        );
        let mut none = h.clone();
        none.remove("authorization");
        assert_eq!(
            code(verify(&none, b"{}", TS)),
            "AuthFailure.SignatureFailure"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(TS), "2023-12-31");
        assert_eq!(utc_date(TS + 1), "2024-01-01");
        assert_eq!(utc_date(1_709_164_800), "2024-02-29");
        assert_eq!(utc_date(0), "1970-01-01");
    }
}
