//! `llm-relay status`: reads a running gateway's admin listener (`GET /admin/overview`) and
//! prints pools, keys, the cascade cache, firing alerts and the top models as a short table,
//! or the overview itself as JSON.

use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

/// The environment variable holding the admin key (sent as `Authorization: Bearer`).
pub const ADMIN_KEY_ENV: &str = "LLM_RELAY_ADMIN_KEY";
/// Where the admin listener is when neither `--admin` nor a config says otherwise.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9091";

/// Why `status` could not show anything; `Display` is the message for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot read the config {path}: {why}")]
    Config { path: String, why: String },
    #[error("the admin listener at {admin} is unreachable: {why}")]
    Unreachable { admin: String, why: String },
    #[error("the admin listener at {admin} answered 401: {hint}")]
    Unauthorized { admin: String, hint: &'static str },
    #[error("the admin listener at {admin} answered {status}: {body}")]
    Status {
        admin: String,
        status: u16,
        body: String,
    },
}

/// The admin address from a relay.yaml's `server.admin_listen` (only that key is read, so a
/// config whose provider keys are not in this shell's environment still works). A wildcard
/// host is reached on loopback.
pub fn admin_from_config(path: &str) -> Result<String, StatusError> {
    let err = |why: String| StatusError::Config {
        path: path.to_string(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| err(e.to_string()))?;
    let listen = doc
        .get("server")
        .and_then(|s| s.get("admin_listen"))
        .and_then(|a| a.as_str())
        .unwrap_or(DEFAULT_ADMIN);
    Ok(reachable(listen))
}

/// `0.0.0.0:p` / `[::]:p` → a loopback address with the same port.
fn reachable(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some(("0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => listen.to_string(),
    }
}

/// The admin address to talk to: `--admin` when given, else the config's `server.admin_listen`,
/// else the default. Shared by `status`, `keys` and `teams` so they agree on where to look.
pub fn admin_address(flag: Option<String>, config: Option<&str>) -> Result<String, StatusError> {
    match (flag, config) {
        (Some(a), _) => Ok(a),
        (None, Some(path)) => admin_from_config(path),
        (None, None) => Ok(DEFAULT_ADMIN.to_string()),
    }
}

/// The admin key from the environment (an empty value counts as none).
pub fn admin_key() -> Option<String> {
    std::env::var(ADMIN_KEY_ENV).ok().filter(|k| !k.is_empty())
}

/// Fetches `/admin/overview` from `admin` (`host:port`), with `key` as the bearer token.
pub fn fetch(admin: &str, key: Option<&str>) -> Result<Value, StatusError> {
    request(
        admin,
        key,
        reqwest::Method::GET,
        &["admin", "overview"],
        None,
    )
}

/// One call to the admin listener: `method` on the path made of `segments` (each
/// percent-encoded, so an id cannot reach another endpoint), `body` sent as JSON. Any 2xx answer
/// is its JSON; otherwise the error says why in one line (the server's `error.message`).
pub fn request(
    admin: &str,
    key: Option<&str>,
    method: reqwest::Method,
    segments: &[&str],
    body: Option<&Value>,
) -> Result<Value, StatusError> {
    let unreachable = |why: String| StatusError::Unreachable {
        admin: admin.to_string(),
        why,
    };
    let mut url = reqwest::Url::parse(&format!("http://{admin}/"))
        .map_err(|e| unreachable(format!("not a host:port ({e})")))?;
    url.path_segments_mut()
        .map_err(|()| unreachable("not a host:port".into()))?
        .clear()
        .extend(segments);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| unreachable(format!("no runtime: {e}")))?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| unreachable(e.to_string()))?;
        let mut req = client.request(method, url);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| unreachable(chain(&e)))?;
        let status = resp.status().as_u16();
        if status == 401 {
            return Err(StatusError::Unauthorized {
                admin: admin.to_string(),
                hint: if key.is_some() {
                    "the admin key in LLM_RELAY_ADMIN_KEY is wrong"
                } else {
                    "it needs the admin key; set LLM_RELAY_ADMIN_KEY"
                },
            });
        }
        let body = resp.text().await.map_err(|e| unreachable(chain(&e)))?;
        if !(200..300).contains(&status) {
            return Err(StatusError::Status {
                admin: admin.to_string(),
                status,
                body: error_message(&body),
            });
        }
        serde_json::from_str(&body).map_err(|e| StatusError::Status {
            admin: admin.to_string(),
            status,
            body: format!("not JSON ({e})"),
        })
    })
}

/// What an error answer says: its `error.message` (the OpenAI shape every admin error has),
/// else the start of the body, on one line.
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| v["error"]["message"].as_str())
        .unwrap_or(body);
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect()
}

/// An error with its causes ("error sending request: … : Connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let _ = write!(s, ": {c}");
        src = c.source();
    }
    s
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn ms(v: &Value) -> String {
    v.as_f64()
        .map_or("-".into(), |s| format!("{:.1} ms", s * 1000.0))
}

/// The limits of a key as short text: `rpm 60, rpd 1000, budget $5/month`.
fn limits_text(l: &Value) -> String {
    let Some(map) = l.as_object() else {
        return "-".into();
    };
    let mut parts = Vec::new();
    for name in ["rpm", "rpd", "tpm", "tpd", "max_concurrency"] {
        if let Some(v) = map.get(name) {
            let label = if name == "max_concurrency" {
                "conc"
            } else {
                name
            };
            parts.push(format!("{label} {v}"));
        }
    }
    if let Some(b) = map.get("budget_usd") {
        parts.push(format!(
            "budget ${}/{}",
            num(&b["amount"]),
            b["period"].as_str().unwrap_or("?")
        ));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// Rows as columns padded to the widest cell (the last column is not padded).
pub(crate) fn table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// The human-readable report of an overview.
pub fn render(admin: &str, o: &Value) -> String {
    let mut out = String::new();
    let req = &o["requests"];
    let classes: Vec<String> = req["by_status"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} {}", num(v))).collect())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "llm-relay at {admin}: {}\nrequests {} ({}), in flight {}; latency p50 {} p99 {}; gateway overhead p50 {} p99 {}\n",
        o["status"].as_str().unwrap_or("unknown"),
        num(&req["total"]),
        if classes.is_empty() { "none".into() } else { classes.join(", ") },
        num(&req["in_flight"]),
        ms(&o["latency"]["p50"]),
        ms(&o["latency"]["p99"]),
        ms(&o["overhead"]["p50"]),
        ms(&o["overhead"]["p99"]),
    );

    let mut rows = vec![vec!["POOL".into(), "STATUS".into(), "MEMBERS".into()]];
    for p in o["pools"].as_array().into_iter().flatten() {
        let members: Vec<String> = p["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                let up = if m["healthy"] == true { "up" } else { "DOWN" };
                format!("{} {up}", m["address"].as_str().unwrap_or("?"))
            })
            .collect();
        rows.push(vec![
            p["name"].as_str().unwrap_or("?").into(),
            p["status"].as_str().unwrap_or("?").into(),
            members.join(", "),
        ]);
    }
    table(&mut out, &rows);
    out.push('\n');

    let keys = o["keys"].as_array().cloned().unwrap_or_default();
    if keys.is_empty() {
        out.push_str("KEYS  none configured (the gateway is open)\n");
    } else {
        let mut rows = vec![vec![
            "KEY".into(),
            "REQUESTS".into(),
            "FAILED".into(),
            "SUCCESS".into(),
            "SPEND".into(),
            "LIMITS".into(),
        ]];
        for k in &keys {
            let limits = if k["source"] == "managed" {
                "(managed: llm-relay keys show)".into()
            } else if k["configured"] == false {
                "(no longer configured)".into()
            } else {
                limits_text(&k["limits"])
            };
            rows.push(vec![
                k["id"].as_str().unwrap_or("?").into(),
                num(&k["total"]).to_string(),
                num(&k["failed"]).to_string(),
                format!("{:.1}%", num(&k["success_rate"]) * 100.0),
                format!("${:.4}", num(&k["spend_usd"])),
                limits,
            ]);
        }
        table(&mut out, &rows);
    }
    out.push('\n');

    let c = &o["cascade"];
    let _ = writeln!(
        out,
        "CASCADE  {}{} of {} entries, {} bytes, hits {}, misses {}, hit rate {:.2}, vision calls {} ok / {} failed\n",
        if c["configured"] == true { "" } else { "(not configured) " },
        num(&c["entries"]),
        num(&c["max_entries"]),
        num(&c["bytes"]),
        num(&c["hits"]),
        num(&c["misses"]),
        num(&c["hit_rate"]),
        num(&c["vision_calls"]["ok"]),
        num(&c["vision_calls"]["error"]),
    );

    let firing = o["alerts"]["firing"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if firing.is_empty() {
        let _ = writeln!(
            out,
            "ALERTS   none firing ({} rules)\n",
            num(&o["alerts"]["rules"])
        );
    } else {
        let mut rows = vec![vec!["ALERT".into(), "SINCE".into(), "MESSAGE".into()]];
        for a in &firing {
            rows.push(vec![
                a["name"].as_str().unwrap_or("?").into(),
                a["since"].as_str().unwrap_or("-").into(),
                a["message"].as_str().unwrap_or("").into(),
            ]);
        }
        table(&mut out, &rows);
        out.push('\n');
    }

    let mut rows = vec![vec!["MODEL".into(), "REQUESTS".into()]];
    for m in o["models"].as_array().into_iter().flatten().take(10) {
        rows.push(vec![
            m["model"].as_str().unwrap_or("?").into(),
            num(&m["requests"]).to_string(),
        ]);
    }
    if rows.len() == 1 {
        out.push_str("MODELS   no requests yet\n");
    } else {
        table(&mut out, &rows);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_answers_are_told_by_their_message() {
        let body = r#"{"error":{"message":"Unknown request URL: /admin/keys/x","type":"invalid_request_error"}}"#;
        assert_eq!(error_message(body), "Unknown request URL: /admin/keys/x");
        assert_eq!(error_message("bad\ngateway"), "bad gateway");
    }

    #[test]
    fn wildcard_listeners_are_reached_on_loopback() {
        assert_eq!(reachable("0.0.0.0:9091"), "127.0.0.1:9091");
        assert_eq!(reachable("[::]:9091"), "[::1]:9091");
        assert_eq!(reachable("10.0.0.5:9091"), "10.0.0.5:9091");
    }

    #[test]
    fn renders_pools_keys_and_models() {
        let o = json!({
            "status": "healthy",
            "requests": {"total": 6.0, "by_status": {"2xx": 5.0, "4xx": 1.0}, "in_flight": 0},
            "latency": {"p50": 0.0012, "p99": null},
            "overhead": {},
            "pools": [{"name": "main", "status": "healthy",
                       "members": [{"address": "127.0.0.1:9000", "healthy": true}]}],
            "keys": [{"id": "alice", "total": 6, "failed": 1, "success_rate": 0.8333,
                      "spend_usd": 0.5, "limits": {"rpm": 60, "budget_usd": {"amount": 5.0, "period": "month"}}}],
            "cascade": {"configured": false},
            "alerts": {"rules": 0, "firing": []},
            "models": [{"model": "hunyuan-turbos-latest", "requests": 6.0}],
        });
        let text = render("127.0.0.1:9091", &o);
        assert!(text.contains("127.0.0.1:9000 up"), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("alice")
                && l.contains(" 6 ")
                && l.contains("83.3%")
                && l.contains("rpm 60, budget $5/month")),
            "{text}"
        );
        assert!(text.contains("p50 1.2 ms p99 -"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("hunyuan-turbos-latest") && l.ends_with(" 6")),
            "{text}"
        );
    }
}
