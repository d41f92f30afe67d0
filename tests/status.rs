//! The operator views through the real gateway: `llm-relay status` (tables and `--json`) after
//! known traffic, its refusals (no admin key, a wrong one, nothing listening), and the status
//! page at `GET /` in headless Chromium (its DOM after the page's own polls, and a screenshot).

mod common;

use common::gateway::{demo_config, free_port, scratch, wait_until, Gateway};
use common::mock::Mock;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::time::Duration;

const KEY_ALICE: &str = "sk-status-alice";
const KEY_BOB: &str = "sk-status-bob";
const KEY_ADMIN: &str = "sk-status-admin";

fn gateway(mock: &Mock) -> Gateway {
    let auth = format!(
        r#"auth:
  admin_key_sha256: "{admin}"
  keys:
    - id: alice
      sha256: "{a}"
      rpm: 100
      rpd: 5000
      budget_usd: {{amount: 5, period: month}}
    - id: bob
      sha256: "{b}"
"#,
        admin = hex::encode(hash_key(KEY_ADMIN)),
        a = hex::encode(hash_key(KEY_ALICE)),
        b = hex::encode(hash_key(KEY_BOB)),
    );
    let cfg = demo_config(&format!("http://{}", mock.addr), "hunyuan");
    Gateway::start(&format!("{auth}{cfg}"))
}

/// Known traffic: 5 chat requests with alice's key, the last one failed by the upstream (400),
/// then waits until the statistics show all 5 (each is recorded after its response ended).
async fn traffic(gw: &Gateway) {
    let c = reqwest::Client::new();
    for i in 0..5 {
        let mut req = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(KEY_ALICE)
            .json(&json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": "hello"}]}));
        if i == 4 {
            req = req.header("x-mock-status", "400");
        }
        let status = req.send().await.unwrap().status();
        assert_eq!(status, if i == 4 { 400 } else { 200 });
    }
    let admin = gw.admin_url("/admin/stats");
    let seen = wait_until(Duration::from_secs(10), || {
        let (c, admin) = (c.clone(), admin.clone());
        async move {
            let Ok(r) = c.get(admin).bearer_auth(KEY_ADMIN).send().await else {
                return false;
            };
            let v: Value = r.json().await.unwrap_or_default();
            v["keys"]["alice"]["total"] == 5
        }
    })
    .await;
    assert!(seen, "alice's 5 requests never showed in /admin/stats");
}

/// Runs `llm-relay status` with `args`, the admin key from `key` when given.
fn status(args: &[&str], key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llm-relay"));
    cmd.arg("status")
        .args(args)
        .env_remove("LLM_RELAY_ADMIN_KEY")
        .env_remove("LLM_RELAY_CONFIG");
    if let Some(k) = key {
        cmd.env("LLM_RELAY_ADMIN_KEY", k);
    }
    cmd.output().expect("run llm-relay status")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn status_cli_shows_the_traffic() {
    let mock = Mock::start(true);
    let gw = gateway(&mock);
    traffic(&gw).await;

    // The admin address from the config's server.admin_listen.
    let cfg = gw.dir.join("relay.yaml");
    let out = status(
        &["--config", cfg.to_str().unwrap_or_default()],
        Some(KEY_ADMIN),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    println!("{stdout}");
    let line = |start: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting with {start:?}:\n{stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let main = line("main ");
    assert_eq!(main[1], "healthy", "{stdout}");
    assert!(stdout.contains(&format!("{} up", mock.addr)), "{stdout}");
    // KEY REQUESTS FAILED SUCCESS SPEND LIMITS
    let alice = line("alice ");
    assert_eq!(&alice[1..4], ["5", "1", "80.0%"], "{stdout}");
    assert!(
        stdout.contains("rpm 100, rpd 5000, budget $5/month"),
        "{stdout}"
    );
    assert_eq!(&line("bob ")[1..3], ["0", "0"], "{stdout}");
    assert_eq!(line("hunyuan-turbos-latest ")[1], "5", "{stdout}");
    assert!(stdout.contains("ALERTS   none firing"), "{stdout}");

    // The same through --admin, as JSON.
    let out = status(&["--admin", &gw.admin, "--json"], Some(KEY_ADMIN));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let o: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let keys = o["keys"].as_array().expect("keys");
    let alice = keys.iter().find(|k| k["id"] == "alice").expect("alice");
    assert_eq!(alice["total"], 5, "{alice}");
    assert_eq!(alice["succeeded"], 4, "{alice}");
    assert_eq!(alice["failed"], 1, "{alice}");
    assert_eq!(alice["success_rate"], 0.8, "{alice}");
    assert_eq!(
        alice["limits"],
        json!({"rpm": 100, "rpd": 5000, "budget_usd": {"amount": 5.0, "period": "month"}})
    );
    let pools = o["pools"].as_array().expect("pools");
    let main = pools.iter().find(|p| p["name"] == "main").expect("main");
    assert_eq!(main["status"], "healthy", "{main}");
    assert_eq!(main["members"][0]["healthy"], true, "{main}");
    assert_eq!(o["models"][0]["model"], "hunyuan-turbos-latest", "{o}");
    assert_eq!(o["models"][0]["requests"], 5.0, "{o}");
    assert_eq!(o["requests"]["by_status"]["2xx"], 4.0, "{o}");
    assert_eq!(o["requests"]["by_status"]["4xx"], 1.0, "{o}");
    assert_eq!(o["latency"]["count"], 5.0, "{o}");
    assert!(o["latency"]["p99"].as_f64().is_some(), "{o}");

    // /admin/stats lists each key's limits too.
    let stats: Value = reqwest::Client::new()
        .get(gw.admin_url("/admin/stats"))
        .bearer_auth(KEY_ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["keys"]["alice"]["limits"]["rpm"], 100, "{stats}");
    assert_eq!(stats["keys"]["bob"]["limits"], json!({}), "{stats}");
}

#[tokio::test]
async fn status_cli_refusals_are_clear() {
    let mock = Mock::start(true);
    let gw = gateway(&mock);
    let out = status(&["--admin", &gw.admin], None);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        err.contains("answered 401") && err.contains("set LLM_RELAY_ADMIN_KEY"),
        "{err}"
    );
    let out = status(&["--admin", &gw.admin], Some("sk-wrong"));
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("401") && err.contains("is wrong"), "{err}");
    // The page's data needs the key too; the page itself does not.
    let c = reqwest::Client::new();
    let r = c.get(gw.admin_url("/admin/overview")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = c.get(gw.admin_url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("/admin/overview"));

    let nobody = format!("127.0.0.1:{}", free_port());
    let out = status(&["--admin", &nobody], Some(KEY_ADMIN));
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("admin listener at {nobody} is unreachable")),
        "{err}"
    );
}

fn has_chromium() -> bool {
    Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

const HEADLESS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// Headless Chromium on `url` with `extra` flags (a fresh profile each time), stopped after
/// 90 s at the latest.
fn chromium(url: &str, extra: &[&str]) -> Output {
    let profile = scratch("chromium");
    let out = Command::new("timeout")
        .args(["90", "chromium"])
        .args(HEADLESS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(profile);
    out
}

#[tokio::test]
async fn status_page_shows_the_traffic_in_a_browser() {
    assert!(
        has_chromium(),
        "headless Chromium is needed: apt-get install -y chromium"
    );
    let mock = Mock::start(true);
    let gw = gateway(&mock);
    traffic(&gw).await;
    // The key reaches the page through the fragment (never sent to the server), as a browser
    // without a keyboard cannot type it into the form.
    let url = gw.admin_url(&format!("/#key={KEY_ADMIN}"));

    let out = chromium(&url, &["--dump-dom", "--virtual-time-budget=8000"]);
    let dom = text(&out.stdout);
    assert!(
        dom.contains("<td>alice</td>"),
        "{dom}\n{}",
        text(&out.stderr)
    );
    // alice: 5 requests, 1 failed, 80 % success; the pool and its member up.
    assert!(
        dom.contains(
            r#"<td>alice</td><td class="n">5</td><td class="n">1</td><td class="n">80.0%</td>"#
        ),
        "{dom}"
    );
    assert!(dom.contains("<td>main</td>"), "{dom}");
    assert!(
        dom.contains(&format!(
            r#"<td>{}/v1</td><td><span class="badge up">up</span></td>"#,
            mock.addr
        )) || dom.contains(&format!(
            r#"<td>{}</td><td><span class="badge up">up</span></td>"#,
            mock.addr
        )),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<td>hunyuan-turbos-latest</td><td class="n">5</td>"#),
        "{dom}"
    );
    assert!(!dom.contains(KEY_ADMIN), "the key stays out of the DOM");

    // Without the key: the login form, no data.
    let out = chromium(
        &gw.admin_url("/"),
        &["--dump-dom", "--virtual-time-budget=4000"],
    );
    let dom = text(&out.stdout);
    assert!(dom.contains(r#"<section id="login">"#), "{dom}");
    assert!(dom.contains(r#"<main id="dash" hidden="">"#), "{dom}");
    assert!(!dom.contains("<td>alice</td>"), "{dom}");

    // A screenshot after 14 s of polls in real time with traffic in between, so the charts have
    // lines (virtual time would run the polls back to back); kept at $STATUS_PAGE_SCREENSHOT
    // when set (docs/status-page.png).
    let load = {
        let url = gw.url("/v1/chat/completions");
        tokio::spawn(async move {
            let c = reqwest::Client::new();
            for i in 0u32.. {
                let _ = c
                    .post(&url)
                    .bearer_auth(if i % 3 == 0 { KEY_BOB } else { KEY_ALICE })
                    .header("x-mock-delay-ms", (20 + (i * 37) % 180).to_string())
                    .json(&json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": "hello there, how are you"}]}))
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        })
    };
    let png = screenshot_after(&url, Duration::from_secs(14)).await;
    load.abort();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    if let Ok(keep) = std::env::var("STATUS_PAGE_SCREENSHOT") {
        std::fs::write(&keep, &png).expect("write the screenshot");
    }
}

/// Opens `url` in headless Chromium at 1280×900 and after `wait` (real time) takes a screenshot
/// through the DevTools protocol (`Page.captureScreenshot` over the page's WebSocket).
async fn screenshot_after(url: &str, wait: Duration) -> Vec<u8> {
    use base64::Engine;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let profile = scratch("chromium");
    let mut child = tokio::process::Command::new("chromium")
        .args(HEADLESS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--remote-debugging-port=0", "--window-size=1280,900"])
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromium");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let port = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("DevTools listening on ws://127.0.0.1:").nth(1) {
                return rest.split('/').next().and_then(|p| p.parse::<u16>().ok());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("chromium's DevTools port");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    tokio::time::sleep(wait).await;

    let targets: Value = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ws = targets
        .as_array()
        .and_then(|t| t.iter().find(|t| t["type"] == "page"))
        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        .expect("a page target")
        .to_string();
    let path = ws.splitn(4, '/').nth(3).expect("ws path");
    // A minimal WebSocket client: the handshake, one masked text frame out, frames in until
    // the answer to id 1.
    let mut sock = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    sock.write_all(
        format!(
            "GET /{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(sock.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", text(&head));
    let msg = br#"{"id":1,"method":"Page.captureScreenshot","params":{"format":"png"}}"#;
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | 126];
    frame.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    frame.extend_from_slice(&mask);
    frame.extend(msg.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    sock.write_all(&frame).await.unwrap();
    let mut message = Vec::new();
    let answer: Value = loop {
        let b0 = sock.read_u8().await.unwrap();
        let len = match sock.read_u8().await.unwrap() & 0x7f {
            126 => u64::from(sock.read_u16().await.unwrap()),
            127 => sock.read_u64().await.unwrap(),
            n => u64::from(n),
        };
        let mut payload = vec![0; len as usize];
        sock.read_exact(&mut payload).await.unwrap();
        message.extend_from_slice(&payload);
        if b0 & 0x80 == 0 {
            continue; // more fragments follow
        }
        let v: Value = serde_json::from_slice(&message).unwrap_or_default();
        message.clear();
        if v["id"] == 1 {
            break v;
        }
    };
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(profile);
    let data = answer["result"]["data"].as_str().expect("screenshot data");
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64 PNG")
}
