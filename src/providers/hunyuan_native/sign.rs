//! TC3-HMAC-SHA256, Tencent Cloud's API signature (version 3), for one `POST /` request.
//!
//! Canonical request: `POST`, URI `/`, an empty query, the canonical headers
//! `content-type:application/json\nhost:<host>\nx-tc-action:chatcompletions\n` (names and values
//! lowercased and trimmed, as Tencent's signing rules say), the signed header list
//! `content-type;host;x-tc-action` and the payload's SHA-256 in hex. The string to sign is
//! `TC3-HMAC-SHA256\n<timestamp>\n<date>/hunyuan/tc3_request\n<sha256 hex of the canonical
//! request>`; the key is derived by HMAC-SHA256 chaining `"TC3" + SecretKey`, the UTC date, the
//! service and `tc3_request`. Signing `x-tc-action` too (the official SDK signs only
//! `content-type;host`) is what Tencent's signing documentation does: a captured signature
//! cannot be replayed against another action. `tests/hunyuan_native_sign.rs` checks the result
//! against the official Python SDK's own signing code.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{ACTION, SERVICE, VERSION};

/// The content type signed and sent (they must be byte for byte the same).
const CONTENT_TYPE: &str = "application/json";
const SIGNED_HEADERS: &str = "content-type;host;x-tc-action";
const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// A Tencent Cloud API key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub secret_id: String,
    pub secret_key: String,
}

/// The SecretId names the key (it is in every request's `Authorization`); the SecretKey is the
/// secret and is never printed.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// The headers that sign `payload` (the exact body bytes sent) for `host` (the exact `Host`
/// header sent) at `timestamp` (Unix seconds; Tencent refuses one more than 5 minutes off):
/// `Authorization`, `Content-Type`, `X-TC-Action`, `X-TC-Version`, `X-TC-Timestamp`, and
/// `X-TC-Region` when a non-empty region is given.
pub fn sign(
    c: &Credentials,
    host: &str,
    payload: &[u8],
    timestamp: u64,
    region: Option<&str>,
) -> Vec<(&'static str, String)> {
    sign_action(c, (host, ACTION), payload, timestamp, region)
}

/// [`sign`] for another action of the same service (the image jobs: `SubmitHunyuanImageJob`,
/// `QueryHunyuanImageJob`, `TextToImageLite`).
pub fn sign_action(
    c: &Credentials,
    (host, action): (&str, &str),
    payload: &[u8],
    timestamp: u64,
    region: Option<&str>,
) -> Vec<(&'static str, String)> {
    let date = utc_date(timestamp);
    let signature = signature(c, (host, action), payload, timestamp, &date);
    let authorization = format!(
        "{ALGORITHM} Credential={}/{date}/{SERVICE}/tc3_request, SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        c.secret_id
    );
    let mut headers = vec![
        ("Authorization", authorization),
        ("Content-Type", CONTENT_TYPE.to_string()),
        ("X-TC-Action", action.to_string()),
        ("X-TC-Version", VERSION.to_string()),
        ("X-TC-Timestamp", timestamp.to_string()),
    ];
    if let Some(r) = region.filter(|r| !r.is_empty()) {
        headers.push(("X-TC-Region", r.to_string()));
    }
    headers
}

/// The hex signature of the request.
fn signature(
    c: &Credentials,
    (host, action): (&str, &str),
    payload: &[u8],
    timestamp: u64,
    date: &str,
) -> String {
    let canonical = format!(
        "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{}\nx-tc-action:{}\n\n{SIGNED_HEADERS}\n{}",
        host.trim().to_ascii_lowercase(),
        action.to_ascii_lowercase(),
        hex::encode(Sha256::digest(payload)),
    );
    let to_sign = format!(
        "{ALGORITHM}\n{timestamp}\n{date}/{SERVICE}/tc3_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac(format!("TC3{}", c.secret_key).as_bytes(), date.as_bytes());
    let k_service = hmac(&k_date, SERVICE.as_bytes());
    let k_signing = hmac(&k_service, b"tc3_request");
    hex::encode(hmac(&k_signing, to_sign.as_bytes()))
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// `YYYY-MM-DD`, the UTC date of a Unix timestamp (the credential scope's date).
pub(super) fn utc_date(timestamp: u64) -> String {
    let (y, m, d) = civil_from_days(timestamp / 86_400);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days` for days since 1970-01-01 (no date crate for one date).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE".into(),
            secret_key: "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE".into(),
        }
    }

    #[test]
    fn dates_around_midnight_leap_days_and_far_ahead() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_704_067_199), "2023-12-31");
        assert_eq!(utc_date(1_704_067_200), "2024-01-01");
        assert_eq!(utc_date(1_709_164_800), "2024-02-29");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(4_102_444_800), "2100-01-01");
        assert_eq!(utc_date(4_107_542_399), "2100-02-28");
        assert_eq!(utc_date(4_107_542_400), "2100-03-01");
        assert!(!utc_date(u64::MAX).is_empty());
    }

    #[test]
    fn headers_and_authorization_shape() {
        let h = sign(
            &creds(),
            "hunyuan.tencentcloudapi.com",
            b"{}",
            1_551_113_065,
            None,
        );
        let names: Vec<&str> = h.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "Authorization",
                "Content-Type",
                "X-TC-Action",
                "X-TC-Version",
                "X-TC-Timestamp"
            ]
        );
        let auth = &h[0].1;
        let prefix = "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/hunyuan/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature=";
        let sig = auth
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{auth}"));
        assert_eq!(sig.len(), 64);
        assert!(sig
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(h[1].1, "application/json");
        assert_eq!(h[2].1, "ChatCompletions");
        assert_eq!(h[3].1, "2023-09-01");
        assert_eq!(h[4].1, "1551113065");
        let with_region = sign(&creds(), "h", b"{}", 1, Some("ap-guangzhou"));
        assert_eq!(
            with_region.last().map(|(n, v)| (*n, v.as_str())),
            Some(("X-TC-Region", "ap-guangzhou"))
        );
        assert_eq!(sign(&creds(), "h", b"{}", 1, Some("")).len(), 5);
    }

    #[test]
    fn every_input_changes_the_signature() {
        let base = sign(&creds(), "a.example", b"{}", 100, None)[0].1.clone();
        let other_key = Credentials {
            secret_key: "x".into(),
            ..creds()
        };
        for changed in [
            sign(&other_key, "a.example", b"{}", 100, None),
            sign(&creds(), "b.example", b"{}", 100, None),
            sign(&creds(), "a.example", b"{ }", 100, None),
            sign(&creds(), "a.example", b"{}", 101, None),
        ] {
            assert_ne!(changed[0].1, base);
        }
        // The host is compared as Tencent canonicalises it.
        assert_eq!(sign(&creds(), " A.Example ", b"{}", 100, None)[0].1, base);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let s = format!("{:?}", creds());
        assert!(s.contains("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"));
        assert!(!s.contains("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"), "{s}");
    }
}
