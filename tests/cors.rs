//! CORS (`server.cors`) through the real gateway and the mock: in a real browser (headless
//! Chromium: a page on another loopback origin calls the gateway with `fetch`, reads a streamed
//! answer chunk by chunk and a rate-limit header; a page from an origin that is not allowed is
//! blocked), and the headers themselves over plain HTTP.

mod common;

use common::gateway::{demo_config, Gateway};
use common::mock::Mock;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const KEY: &str = "sk-test-browser";

/// The gateway with CORS for `origins` and a key with `rpm` (so `x-ratelimit-*` is sent).
fn setup(origins: &[String], extra_cors: &str) -> (Mock, Gateway) {
    let mock = Mock::start(false);
    let list = origins
        .iter()
        .map(|o| format!("\"{o}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let yaml = format!(
        "  cors:\n    allow_origins: [{list}]\n{extra_cors}auth:\n  keys:\n    - id: web\n      sha256: \"{}\"\n      rpm: 100\n{}",
        hex::encode(hash_key(KEY)),
        demo_config(&format!("http://{}", mock.addr), "hunyuan")
    );
    let gw = Gateway::start(&yaml);
    (mock, gw)
}

/// A static page server on `listener`: `GET` anything is `html`; the page `POST`s its result
/// to `/result` (its own origin), which goes to the returned channel. The threads live until
/// the test process ends.
fn serve_page(listener: TcpListener, html: String) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let (html, tx) = (html.clone(), tx.clone());
            std::thread::spawn(move || {
                let Ok(c) = s.try_clone() else { return };
                let mut reader = BufReader::new(c);
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" || line == "\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    line.clear();
                }
                if first.starts_with("POST /result") {
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body);
                    let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
                    let _ = write!(s, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                    return;
                }
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                    html.len()
                );
            });
        }
    });
    rx
}

fn page_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a page port");
    let port = l.local_addr().expect("page addr").port();
    (l, port)
}

/// The page: streams a chat answer from the gateway with `fetch` (an `Authorization` header,
/// so the browser sends a preflight first), counts the chunks and SSE events, reads
/// `x-ratelimit-remaining-requests`, and writes the result as JSON into `#out`.
fn page(gateway: &str) -> String {
    format!(
        r#"<!doctype html><html><head><title>cors</title></head><body><pre id="out">pending</pre>
<script>
(async () => {{
  const r = {{}};
  try {{
    const resp = await fetch("{gateway}/v1/chat/completions", {{
      method: "POST",
      headers: {{
        "Authorization": "Bearer {KEY}",
        "Content-Type": "application/json",
        "X-Stainless-OS": "Linux",
        "X-Stainless-Lang": "js",
        "x-mock-events": "6",
        "x-mock-interval-ms": "150"
      }},
      body: JSON.stringify({{model: "hunyuan-turbos-latest", stream: true,
                            messages: [{{role: "user", content: "hello"}}]}})
    }});
    r.status = resp.status;
    r.remaining = resp.headers.get("x-ratelimit-remaining-requests");
    r.request_id = resp.headers.get("x-request-id");
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let chunks = 0, raw = "";
    for (;;) {{
      const {{done, value}} = await reader.read();
      if (done) break;
      chunks++;
      raw += dec.decode(value, {{stream: true}});
    }}
    let text = "", events = 0;
    for (const line of raw.split("\n")) {{
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      events++;
      const d = JSON.parse(line.slice(6)).choices?.[0]?.delta;
      if (d && d.content) text += d.content;
    }}
    r.chunks = chunks; r.events = events; r.text = text;
  }} catch (e) {{
    r.error = e.name + ": " + e.message;
  }}
  document.getElementById("out").textContent = JSON.stringify(r);
  await fetch("/result", {{method: "POST", body: JSON.stringify(r)}});
}})();
</script></body></html>"#
    )
}

/// Loads `url` in headless Chromium and returns the result the page posted to `results`.
fn browse(url: &str, results: &mpsc::Receiver<String>) -> Value {
    let profile = common::gateway::scratch("chromium");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium is needed for the browser test: scripts/test.sh installs it");
    let got = results.recv_timeout(Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&profile);
    let json = got.expect("the page posted no result within 60 s");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// The header budget a preflight needs: allowed SDK headers and the mock's knobs.
const BROWSER_HEADERS: &str =
    "    allow_headers: [authorization, content-type, \"x-stainless-*\", \"x-mock-*\"]\n";

#[test]
fn a_browser_page_streams_from_an_allowed_origin_and_is_blocked_from_another() {
    // Two loopback origins serve the same page; only the first is allowed.
    let (allowed, allowed_port) = page_listener();
    let (other, other_port) = page_listener();
    let origin = format!("http://127.0.0.1:{allowed_port}");
    let (_mock, gw) = setup(std::slice::from_ref(&origin), BROWSER_HEADERS);
    let html = page(&format!("http://{}", gw.addr));
    let allowed_results = serve_page(allowed, html.clone());
    let other_results = serve_page(other, html);

    let ok = browse(&format!("{origin}/page.html"), &allowed_results);
    assert_eq!(ok["status"], 200, "{ok}");
    assert!(ok.get("error").is_none(), "{ok}");
    assert_eq!(ok["text"], "tok0 tok1 tok2 tok3 tok4 ", "{ok}");
    assert!(ok["chunks"].as_u64().unwrap_or(0) > 1, "{ok}");
    assert!(ok["events"].as_u64().unwrap_or(0) >= 6, "{ok}");
    assert_eq!(ok["remaining"], "99", "{ok}");
    assert!(
        ok["request_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{ok}"
    );

    // Another origin: the browser blocks the answer, and fetch throws a TypeError.
    let blocked = browse(
        &format!("http://127.0.0.1:{other_port}/page.html"),
        &other_results,
    );
    assert!(
        blocked["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("TypeError")),
        "{blocked}"
    );
    assert!(blocked.get("status").is_none(), "{blocked}");
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn preflight_and_headers_over_http() {
    let origin = "https://app.example".to_string();
    let (_mock, gw) = setup(std::slice::from_ref(&origin), "");
    let c = client();

    // Preflight: 204 before authentication, with the allowed subset of the requested headers.
    let r = c
        .request(reqwest::Method::OPTIONS, gw.url("/v1/chat/completions"))
        .header("origin", &origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-stainless-os,x-stainless-retry-count,x-evil",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(r.status(), 204);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        header(&r, "access-control-allow-headers"),
        Some("authorization, content-type, x-stainless-os, x-stainless-retry-count")
    );
    assert!(header(&r, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    assert_eq!(header(&r, "access-control-max-age"), Some("600"));
    assert_eq!(header(&r, "vary"), Some("Origin"));

    // A disallowed origin's preflight: no CORS headers (the browser blocks).
    let r = c
        .request(reqwest::Method::OPTIONS, gw.url("/v1/embeddings"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert_eq!(r.status(), 204);
    assert!(header(&r, "access-control-allow-origin").is_none());

    // An error (401) and a local answer carry the headers too.
    let r = c
        .get(gw.url("/v1/models"))
        .header("origin", &origin)
        .send()
        .await
        .expect("401");
    assert_eq!(r.status(), 401);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example")
    );
    let expose = header(&r, "access-control-expose-headers")
        .unwrap_or_default()
        .to_string();
    for h in [
        "x-ratelimit-remaining-requests",
        "retry-after",
        "x-request-id",
        "x-llm-relay-dropped-tools",
    ] {
        assert!(expose.contains(h), "{expose}");
    }
    let r = c
        .get(gw.url("/v1/models"))
        .bearer_auth(KEY)
        .header("origin", &origin)
        .send()
        .await
        .expect("models");
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example")
    );
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("origin", &origin)
        .json(&json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .expect("404");
    assert_eq!(r.status(), 404);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example")
    );

    // Proxied JSON and SSE answers.
    for stream in [false, true] {
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(KEY)
            .header("origin", &origin)
            .json(&json!({"model": "hunyuan-turbos-latest", "stream": stream,
                          "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("chat");
        assert_eq!(r.status(), 200);
        assert_eq!(
            header(&r, "access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(header(&r, "vary"), Some("Origin"));
        assert!(header(&r, "access-control-expose-headers").is_some());
        assert!(header(&r, "x-ratelimit-remaining-requests").is_some());
        let _ = r.bytes().await;
    }

    // A disallowed origin's real request: answered, without CORS headers.
    let r = c
        .get(gw.url("/v1/models"))
        .bearer_auth(KEY)
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("models");
    assert_eq!(r.status(), 200);
    assert!(header(&r, "access-control-allow-origin").is_none());
}

#[tokio::test]
async fn any_origin_off_and_on_by_reload() {
    let (_mock, gw) = setup(&["*".to_string()], "");
    let r = client()
        .get(gw.url("/v1/models"))
        .bearer_auth(KEY)
        .header("origin", "http://anything.example:3000")
        .send()
        .await
        .expect("models");
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    assert!(header(&r, "vary").is_none());
    drop(gw);

    // Off (no server.cors): no headers, and OPTIONS is an ordinary 405.
    let mock = Mock::start(false);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "openai"));
    let r = client()
        .request(reqwest::Method::OPTIONS, gw.url("/v1/chat/completions"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("options");
    assert_eq!(r.status(), 405);
    assert!(header(&r, "access-control-allow-origin").is_none());

    // A reload switches it on (the module reads the config per request).
    let path = gw.dir.join("relay.yaml");
    let old = std::fs::read_to_string(&path).expect("relay.yaml");
    let head: String = old.lines().take(3).map(|l| format!("{l}\n")).collect();
    let rest: String = old.lines().skip(3).map(|l| format!("{l}\n")).collect();
    let cors = "  cors:\n    allow_origins: [\"https://app.example\"]\n";
    std::fs::write(&path, format!("{head}{cors}{rest}")).expect("rewrite relay.yaml");
    gw.signal("HUP");
    let g = &gw;
    let on = common::gateway::wait_until(Duration::from_secs(10), || async move {
        client()
            .request(reqwest::Method::OPTIONS, g.url("/v1/chat/completions"))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .is_ok_and(|r| {
                r.status() == 204
                    && header(&r, "access-control-allow-origin") == Some("https://app.example")
            })
    })
    .await;
    assert!(on, "CORS on after a reload: {}", gw.log_text());
}
