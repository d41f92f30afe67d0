//! The status page's Keys view (issue 22) in headless Chromium, driven through the DevTools
//! protocol against the real gateway with `auth.store`: the admin key typed into the form,
//! a team and a key created, the key's secret read from the page once and used for a real
//! request, its usage shown after a refresh, limits edited (checked through the admin API),
//! errors shown with the server's message, the key revoked (its secret refused from then on),
//! the team deleted; and neither the admin key nor the secret stored anywhere: no storage, no
//! cookie, not in the URL, and in no file of the browser's profile once it is closed. Without
//! `auth.store` the view says keys are managed in the config file.

mod common;

use common::gateway::{scratch, Gateway};
use common::managed;
use common::mock::Mock;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const ADMIN: &str = "sk-page-admin-7f3a9c";
const CONFIG_KEY: &str = "sk-page-config-0001";
/// How long a condition on the page may take to hold (generous: a busy 2-core machine).
const DEADLINE: Duration = Duration::from_secs(40);

/// One browser at a time: Chromium is heavy for a small CI machine.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn config(mock: &Mock, store: Option<&Path>) -> String {
    let store = store.map(|s| format!("{{path: \"{}\"}}", s.display()));
    let auth = managed::auth(ADMIN, Some((CONFIG_KEY, "rpm: 50")), store.as_deref());
    let price = "{input_per_1m: 1000, output_per_1m: 1000}";
    managed::config(mock, "", &auth, Some(price))
}

async fn admin(gw: &Gateway, method: &str, path: &str) -> (u16, Value) {
    managed::admin(gw, ADMIN, method, path, Value::Null).await
}

async fn admin_post(gw: &Gateway, path: &str, body: Value) -> (u16, Value) {
    managed::admin(gw, ADMIN, "POST", path, body).await
}

async fn chat(gw: &Gateway, key: &str) -> u16 {
    managed::chat(gw, key, "m").await.0
}

fn has_chromium() -> bool {
    Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Headless Chromium with a fresh profile, driven over one DevTools WebSocket (the browser's,
/// attached to the page's target in flat mode). `confirm()` dialogs are accepted as they open
/// and their messages kept in `dialogs`.
struct Browser {
    child: tokio::process::Child,
    profile: PathBuf,
    sock: TcpStream,
    next: u64,
    session: String,
    dialogs: Vec<String>,
}

impl Browser {
    async fn open(url: &str) -> Browser {
        let profile = scratch("chromium-profile");
        let mut child = tokio::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                "--window-size=1280,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromium");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let ws = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("DevTools listening on ws://").nth(1) {
                    return Some(rest.trim().to_string());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("chromium's DevTools address");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        // 127.0.0.1:PORT/devtools/browser/ID
        let (host, path) = ws.split_once('/').expect("ws address");
        let mut sock = TcpStream::connect(host).await.expect("connect DevTools");
        sock.write_all(
            format!(
                "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(sock.read_u8().await.unwrap());
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        let mut b = Browser {
            child,
            profile,
            sock,
            next: 1,
            session: String::new(),
            dialogs: Vec::new(),
        };
        // The page's target (it may appear a little after DevTools listens).
        let t0 = Instant::now();
        let target = loop {
            let targets = b.call("Target.getTargets", json!({}), false).await;
            let page = targets["targetInfos"]
                .as_array()
                .and_then(|t| t.iter().find(|t| t["type"] == "page"))
                .and_then(|t| t["targetId"].as_str())
                .map(str::to_string);
            match page {
                Some(p) => break p,
                None if t0.elapsed() > DEADLINE => panic!("no page target: {targets}"),
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let attached = b
            .call(
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
                false,
            )
            .await;
        b.session = attached["sessionId"].as_str().expect("session").to_string();
        b.call("Page.enable", json!({}), true).await;
        b
    }

    async fn send(&mut self, msg: &Value) {
        let msg = msg.to_string().into_bytes();
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x81];
        match msg.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(msg.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.sock.write_all(&frame).await.expect("DevTools send");
    }

    /// The next whole message from the browser.
    async fn receive(&mut self) -> Value {
        let mut message = Vec::new();
        loop {
            let b0 = self.sock.read_u8().await.expect("DevTools closed");
            let len = match self.sock.read_u8().await.unwrap() & 0x7f {
                126 => u64::from(self.sock.read_u16().await.unwrap()),
                127 => self.sock.read_u64().await.unwrap(),
                n => u64::from(n),
            };
            let mut payload = vec![0; len as usize];
            self.sock.read_exact(&mut payload).await.unwrap();
            match b0 & 0x0f {
                0x8 => panic!("DevTools closed the connection"),
                0x9 | 0xa => continue, // ping, pong
                _ => message.extend_from_slice(&payload),
            }
            if b0 & 0x80 != 0 {
                return serde_json::from_slice(&message).unwrap_or_default();
            }
        }
    }

    /// Calls `method` (on the page's session when `page`) and waits for its answer.
    async fn call(&mut self, method: &str, params: Value, page: bool) -> Value {
        let id = self.next;
        self.next += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if page {
            msg["sessionId"] = Value::from(self.session.clone());
        }
        self.send(&msg).await;
        let answer = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let v = self.receive().await;
                if v["id"] == id {
                    return v;
                }
                if v["method"] == "Page.javascriptDialogOpening" {
                    self.dialogs
                        .push(v["params"]["message"].as_str().unwrap_or("").to_string());
                    let hid = self.next;
                    self.next += 1;
                    let accept = json!({"id": hid, "method": "Page.handleJavaScriptDialog",
                        "params": {"accept": true}, "sessionId": self.session});
                    self.send(&accept).await;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} in 60 s"));
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// The value of the JavaScript `expr` in the page (promises awaited).
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
                true,
            )
            .await;
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expr}\nthrew: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is truthy (not null, false, 0 or ""), then its value; panics
    /// with `what` and the page's text after `DEADLINE`. An exception (the page still
    /// loading) counts as not yet.
    async fn wait_for(&mut self, what: &str, expr: &str) -> Value {
        let t0 = Instant::now();
        let guarded = format!(
            "(async () => {{ try {{ return await ({expr}); }} catch (e) {{ return null; }} }})()"
        );
        loop {
            let v = self.eval(&guarded).await;
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if t0.elapsed() > DEADLINE {
                let text = self.eval("document.body.innerText").await;
                panic!(
                    "{what}: not within {DEADLINE:?} ({expr})\npage:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fills the form `form` (a CSS selector) with `fields` (name → text, or a checkbox's
    /// true/false) and submits it as the Enter key would.
    async fn submit(&mut self, form: &str, fields: Value) {
        let expr = format!(
            "(() => {{ const f = document.querySelector({form}); \
             for (const [n, v] of Object.entries({fields})) {{ \
               if (typeof v === 'boolean') f.elements[n].checked = v; else f.elements[n].value = v; }} \
             f.requestSubmit(); return true; }})()",
            form = json!(form),
        );
        self.eval(&expr).await;
    }

    async fn click(&mut self, selector: &str) {
        let expr = format!(
            "(() => {{ const b = document.querySelector({s}); if (!b) throw new Error('no ' + {s}); b.click(); return true; }})()",
            s = json!(selector)
        );
        self.eval(&expr).await;
    }

    /// The text of the element `selector` ("" when there is none).
    async fn text(&mut self, selector: &str) -> String {
        let expr = format!(
            "(document.querySelector({}) || {{}}).textContent || ''",
            json!(selector)
        );
        self.eval(&expr).await.as_str().unwrap_or("").to_string()
    }

    /// Waits until `selector`'s text contains `want`; that text.
    async fn wait_text(&mut self, selector: &str, want: &str) -> String {
        let expr = format!(
            "(() => {{ const e = document.querySelector({s}); const t = e ? e.textContent : ''; return t.includes({w}) ? t : ''; }})()",
            s = json!(selector),
            w = json!(want)
        );
        let v = self
            .wait_for(&format!("{selector} showing {want:?}"), &expr)
            .await;
        v.as_str().unwrap_or("").to_string()
    }

    async fn screenshot(&mut self, path: &str) {
        use base64::Engine;
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
                true,
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// Closes the browser (`Browser.close`, so it writes its profile as it does on quitting)
    /// and waits for it to exit; the profile directory, left for inspection.
    async fn close(mut self) -> PathBuf {
        let id = self.next;
        self.send(&json!({"id": id, "method": "Browser.close"}))
            .await;
        let exited = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
        if exited.is_err() {
            let _ = self.child.kill().await;
            panic!("chromium did not exit within 60 s of Browser.close");
        }
        self.profile.clone()
    }
}

/// Every file under `dir` that holds `needle` (as UTF-8 or UTF-16LE).
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let utf16: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let Ok(bytes) = std::fs::read(e.path()) else {
                    continue;
                };
                let holds = |n: &[u8]| bytes.windows(n.len()).any(|w| w == n);
                if holds(needle.as_bytes()) || holds(&utf16) {
                    found.push(e.path());
                }
            }
        }
    }
    found
}

/// The key row `id`'s cell showing `limit` (`rpm`, `budget_usd`, …).
fn key_limit(id: &str, limit: &str) -> String {
    format!("#kv-keys tr[data-key=\"{id}\"] [data-limit=\"{limit}\"]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_view_manages_keys_and_teams_and_stores_no_secret() {
    assert!(
        has_chromium(),
        "headless Chromium is needed: apt-get install -y chromium"
    );
    let _one = ONE_BROWSER.lock().await;
    let mock = Mock::start(false);
    let store = scratch("keys-page").join("keys.db");
    let gw = Gateway::start(&config(&mock, Some(&store)));
    let mut b = Browser::open(&gw.admin_url("/")).await;

    // The admin key typed into the form, as a person would.
    b.wait_for("the login form", "!document.getElementById('login').hidden")
        .await;
    b.submit("#loginform", json!({"key": ADMIN})).await;
    b.wait_for("the tabs", "!document.getElementById('tabs').hidden")
        .await;
    b.click("#tabs [data-view=keysview]").await;

    // The config file's key: listed, read-only, its limit shown.
    let row = b
        .wait_text("#kv-keys tr[data-key=\"from-config\"]", "read-only")
        .await;
    assert!(row.contains("config") && row.contains("50 rpm"), "{row}");
    let buttons = b
        .eval("document.querySelectorAll('#kv-keys tr[data-key=\"from-config\"] button').length")
        .await;
    assert_eq!(buttons, 0, "a config key has no actions");

    // A team, then a key in it; the secret shown once.
    b.submit(
        "#kv-team-create",
        json!({"id": "research", "rpm": "1000", "budget_usd": "20", "budget_period": "month"}),
    )
    .await;
    b.wait_for(
        "the team's row",
        "document.querySelector('#kv-teams tr[data-team=\"research\"]')",
    )
    .await;
    b.submit(
        "#kv-create",
        json!({"id": "alice", "team": "research", "models": "m, other-*", "rpm": "100",
               "tpm": "100000", "max_concurrency": "4", "budget_usd": "5",
               "expires": "2099-12-30T12:00"}),
    )
    .await;
    let secret = b
        .wait_for(
            "the secret box",
            "(document.getElementById('kv-secret-value') || {}).textContent",
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("sk-relay-"), "{secret}");
    assert!(b.text("#kv-secret-box").await.contains("shown this once"));
    // Dismissed: gone from the page for good.
    b.click("#kv-secret-dismiss").await;
    let html = b.eval("document.documentElement.outerHTML").await;
    assert!(!html.as_str().unwrap().contains(&secret), "dismissed");
    assert_eq!(
        b.eval("document.getElementById('kv-secret').hidden").await,
        true
    );
    let (_, shown) = admin(&gw, "GET", "/admin/keys/alice").await;
    assert_eq!(shown["team"], "research", "{shown}");
    assert_eq!(shown["models"], json!(["m", "other-*"]), "{shown}");
    assert_eq!(shown["tpm"], 100000, "{shown}");
    assert_eq!(shown["max_concurrency"], 4, "{shown}");
    assert_eq!(shown["budget_usd"], 5.0, "{shown}");
    assert!(
        shown["expires"]
            .as_str()
            .is_some_and(|e| e.starts_with("2099-12-")),
        "{shown}"
    );

    // The secret works through the gateway; the table shows the use after a refresh.
    assert_eq!(chat(&gw, &secret).await, 200);
    b.click("#kv-refresh").await;
    b.wait_text(&key_limit("alice", "rpm"), "1 / 100 rpm").await;
    // The spend is counted once the answer has ended: it may take a refresh more.
    let budget = format!(
        "(() => {{ const e = document.querySelector({}); const t = e ? e.textContent : ''; \
         return t.endsWith(' / $5.00 today') && !t.startsWith('$0.00 ') ? t : ''; }})()",
        json!(key_limit("alice", "budget_usd"))
    );
    b.wait_for("alice's spend against her budget", &budget)
        .await;
    b.wait_text(
        "#kv-teams tr[data-team=\"research\"] [data-limit=\"rpm\"]",
        "1 / 1000 rpm",
    )
    .await;
    b.wait_text("#kv-spend tbody", "alice $0.").await;

    // Errors come inline with the server's message: a taken id, a team still in use, a
    // limit of 0.
    let (status, taken) = admin_post(&gw, "/admin/keys", json!({"id": "alice"})).await;
    assert_eq!(status, 400, "{taken}");
    b.submit("#kv-create", json!({"id": "alice"})).await;
    b.wait_text(
        "#kv-create-err",
        taken["error"]["message"].as_str().unwrap(),
    )
    .await;
    let (status, in_use) = admin(&gw, "DELETE", "/admin/teams/research").await;
    assert_eq!(status, 409, "{in_use}");
    b.click("#kv-teams tr[data-team=\"research\"] [data-action=delete-team]")
        .await;
    let message = in_use["error"]["message"].as_str().unwrap().to_string();
    b.wait_text("#kv-teams-err", &message).await;
    assert!(
        b.dialogs.last().is_some_and(|d| d.contains("research")),
        "{:?}",
        b.dialogs
    );

    // Edit limits: a new rpm, the budget cleared, the rest unchanged.
    b.click("#kv-keys tr[data-key=\"alice\"] [data-action=edit]")
        .await;
    b.wait_for(
        "the edit form",
        "document.querySelector('form[data-edit=\"alice\"]')",
    )
    .await;
    b.submit("form[data-edit=\"alice\"]", json!({"rpm": "0"}))
        .await;
    b.wait_text("#kv-keys tr.editing .err", "must be > 0").await;
    b.submit(
        "form[data-edit=\"alice\"]",
        json!({"rpm": "7", "clear-budget_usd": true}),
    )
    .await;
    b.wait_text(&key_limit("alice", "rpm"), "/ 7 rpm").await;
    let (_, edited) = admin(&gw, "GET", "/admin/keys/alice").await;
    assert_eq!(edited["rpm"], 7, "{edited}");
    assert_eq!(edited["budget_usd"], Value::Null, "{edited}");
    assert_eq!(edited["tpm"], 100000, "{edited}");
    assert_eq!(edited["max_concurrency"], 4, "{edited}");
    assert_eq!(edited["team"], "research", "{edited}");
    assert_eq!(edited["models"], json!(["m", "other-*"]), "{edited}");
    assert_eq!(
        b.eval("document.querySelector('form[data-edit]') === null")
            .await,
        true,
        "the edit form closes once saved"
    );

    // The team's limits, the same way.
    b.click("#kv-teams tr[data-team=\"research\"] [data-action=edit-team]")
        .await;
    b.submit("form[data-edit=\"research\"]", json!({"tpm": "5000"}))
        .await;
    b.wait_text(
        "#kv-teams tr[data-team=\"research\"] [data-limit=\"tpm\"]",
        "5000 tpm",
    )
    .await;
    let (_, team) = admin(&gw, "GET", "/admin/teams/research").await;
    assert_eq!(team["tpm"], 5000, "{team}");
    assert_eq!(team["rpm"], 1000, "{team}");
    assert_eq!(team["budget_usd"], 20.0, "{team}");
    assert_eq!(team["budget_period"], "month", "{team}");

    // The view as the README shows it (docs/keys-page.png), when asked for.
    if let Ok(path) = std::env::var("KEYS_PAGE_SCREENSHOT") {
        b.screenshot(&path).await;
    }

    // Revoked (after a confirm()): refused from then on, no more actions.
    b.click("#kv-keys tr[data-key=\"alice\"] [data-action=revoke]")
        .await;
    b.wait_for(
        "alice revoked",
        "document.querySelector('#kv-keys tr[data-key=\"alice\"][data-state=revoked]')",
    )
    .await;
    assert!(
        b.dialogs.last().is_some_and(|d| d.contains("alice")),
        "{:?}",
        b.dialogs
    );
    assert_eq!(chat(&gw, &secret).await, 401);
    let buttons = b
        .eval("document.querySelectorAll('#kv-keys tr[data-key=\"alice\"] button').length")
        .await;
    assert_eq!(buttons, 0, "a revoked key has no actions");
    // Its team has no live key now: deleted.
    b.click("#kv-teams tr[data-team=\"research\"] [data-action=delete-team]")
        .await;
    b.wait_for(
        "the team gone",
        "document.querySelector('#kv-teams tr[data-team=\"research\"]') === null",
    )
    .await;
    assert_eq!(admin(&gw, "GET", "/admin/teams/research").await.0, 404);

    // Nothing kept but in memory: no storage, no cookie, not in the URL or the DOM.
    let kept = b
        .eval(
            "(async () => [localStorage.length, sessionStorage.length, document.cookie, \
             location.href, (await indexedDB.databases()).length])()",
        )
        .await;
    assert_eq!(kept[0], 0, "{kept}");
    assert_eq!(kept[1], 0, "{kept}");
    assert_eq!(kept[2], "", "{kept}");
    assert_eq!(kept[4], 0, "{kept}");
    let href = kept[3].as_str().unwrap();
    assert!(!href.contains(ADMIN) && !href.contains(&secret), "{href}");
    let html = b.eval("document.documentElement.outerHTML").await;
    let html = html.as_str().unwrap();
    assert!(!html.contains(ADMIN) && !html.contains(&secret));

    // Nor in any file of the browser's profile once it is closed.
    let profile = b.close().await;
    // What the browser did write is found (the page's address, in its history): the search
    // sees the profile's files.
    assert!(
        !files_holding(&profile, &gw.admin_url("/")).is_empty(),
        "the profile at {} holds no trace of the page at all",
        profile.display()
    );
    for needle in [ADMIN, secret.as_str()] {
        let found = files_holding(&profile, needle);
        assert!(found.is_empty(), "{needle:?} is in {found:?}");
    }
    let _ = std::fs::remove_dir_all(profile);
    drop(gw);
    if let Some(dir) = store.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_the_keys_view_points_to_the_config_file() {
    assert!(
        has_chromium(),
        "headless Chromium is needed: apt-get install -y chromium"
    );
    let _one = ONE_BROWSER.lock().await;
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock, None));
    let mut b = Browser::open(&gw.admin_url("/")).await;
    b.wait_for("the login form", "!document.getElementById('login').hidden")
        .await;
    b.submit("#loginform", json!({"key": ADMIN})).await;
    b.wait_for("the tabs", "!document.getElementById('tabs').hidden")
        .await;
    b.click("#tabs [data-view=keysview]").await;
    b.wait_text("#kv-off:not([hidden])", "managed in the config file")
        .await;
    let hidden = b
        .eval("[...document.querySelectorAll('#keysview section.store')].every((s) => s.hidden)")
        .await;
    assert_eq!(hidden, true, "no forms or tables without auth.store");
    // Back to the status view: the config key is there.
    b.click("#tabs [data-view=dash]").await;
    b.wait_text("#keys", "from-config").await;
    let profile = b.close().await;
    let _ = std::fs::remove_dir_all(profile);
}
