//! `llm-relay keys …` and `llm-relay teams …` (issue 22) through the real binaries: the CLI
//! against a real gateway (with `auth.store`, an admin key and the mock upstream), its answers
//! checked by using the secrets it prints, teams with their keys, and its refusals (an unknown
//! id, a wrong or missing admin key, nothing listening, a team in use) each one line on stderr
//! with exit status 1.

mod common;

use common::gateway::{free_port, scratch, Gateway};
use common::managed;
use common::mock::Mock;
use serde_json::{json, Value};
use std::process::{Command, Output};

const ADMIN: &str = "sk-keys-cli-admin-0001";
const CONFIG_KEY: &str = "sk-keys-cli-config-0001";

fn config(mock: &Mock) -> String {
    let store = scratch("keys-cli").join("keys.db");
    let store = format!("{{path: \"{}\"}}", store.display());
    let auth = managed::auth(ADMIN, Some((CONFIG_KEY, "")), Some(&store));
    managed::config(mock, "", &auth, None)
}

/// Runs `llm-relay ARGS` with `key` as LLM_RELAY_ADMIN_KEY (none: unset).
fn relay_as(key: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llm-relay"));
    cmd.args(args)
        .env_remove("LLM_RELAY_ADMIN_KEY")
        .env_remove("LLM_RELAY_CONFIG");
    if let Some(k) = key {
        cmd.env("LLM_RELAY_ADMIN_KEY", k);
    }
    let out = cmd.output().expect("run llm-relay");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains(ADMIN), "the admin key was printed: {all}");
    out
}

/// Runs `llm-relay ARGS --admin <gw>` with the admin key; asserts it succeeded; its stdout.
fn ok(gw: &Gateway, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--admin", gw.admin.as_str()]);
    let out = relay_as(Some(ADMIN), &all);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stdout)
}

/// `ok` with `--json`, parsed.
fn ok_json(gw: &Gateway, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = ok(gw, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// Runs a command expected to fail: exit status 1 and a one-line message; the message.
fn fails(key: Option<&str>, args: &[&str]) -> String {
    let out = relay_as(key, args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    err
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn chat(gw: &Gateway, key: &str) -> u16 {
    managed::chat(gw, key, "m").await.0
}

fn secret(v: &Value) -> String {
    v["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("no secret: {v}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_lifecycle_from_the_command_line() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    // Created with --json: at least the id and the secret, and the secret works.
    let created = ok_json(
        &gw,
        &[
            "keys",
            "create",
            "--id",
            "alice",
            "--models",
            "m,other-*",
            "--rpm",
            "100",
            "--max-concurrency",
            "4",
            "--expires",
            "2999-01-01T00:00:00Z",
        ],
    );
    assert_eq!(created["id"], "alice", "{created}");
    let first = secret(&created);
    assert!(first.starts_with("sk-relay-"), "{created}");
    assert_eq!(created["models"], json!(["m", "other-*"]), "{created}");
    assert_eq!(chat(&gw, &first).await, 200);
    // In text: the secret, said to be shown once.
    let out = ok(&gw, &["keys", "create", "--id", "bob", "--tpm", "5000"]);
    assert!(out.contains("Created key bob"), "{out}");
    let bob = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("no secret line: {out}"))
        .to_string();
    assert!(out.contains("shown once"), "{out}");
    assert_eq!(chat(&gw, &bob).await, 200);

    // The list: a table with the config file's key read-only; never a secret.
    let out = ok(&gw, &["keys", "list"]);
    let row = |id: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no row {id}: {out}"))
            .to_string()
    };
    assert!(out.starts_with("ID"), "{out}");
    let alice = row("alice");
    assert!(
        alice.contains("managed") && alice.contains("rpm 100, conc 4") && alice.ends_with("active"),
        "{out}"
    );
    assert!(row("bob").contains("tpm 5000"), "{out}");
    // Usage against the limits, and today's spend, as the gateway counts them.
    assert!(
        out.lines()
            .next()
            .is_some_and(|h| h.contains("USAGE") && h.contains("SPEND TODAY")),
        "{out}"
    );
    assert!(alice.contains("rpm 1/100"), "{out}");
    assert!(row("from-config").ends_with("read-only"), "{out}");
    assert!(!out.contains(&first) && !out.contains(&bob), "{out}");
    let list = ok_json(&gw, &["keys", "list"]);
    let ids: Vec<&str> = list["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect();
    assert_eq!(ids, ["alice", "bob", "from-config"], "{list}");

    // Show: `name: value` lines; --json the key object.
    let out = ok(&gw, &["keys", "show", "alice"]);
    for want in ["alice", "m, other-*", "100", "2999-01-01T00:00:00Z"] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name}: {out}"))
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("id"), "alice");
    assert_eq!(line("rpm"), "100");
    assert_eq!(line("revoked"), "no");
    assert!(!out.contains(&first), "{out}");
    let shown = ok_json(&gw, &["keys", "show", "alice"]);
    assert_eq!(shown["max_concurrency"], 4, "{shown}");

    // Update: a limit set, then cleared with `none`; the rest stays.
    let updated = ok_json(&gw, &["keys", "update", "alice", "--rpm", "7"]);
    assert_eq!(
        (updated["rpm"].as_u64(), updated["max_concurrency"].as_u64()),
        (Some(7), Some(4))
    );
    let out = ok(
        &gw,
        &[
            "keys", "update", "alice", "--rpm", "none", "--models", "none",
        ],
    );
    assert!(out.contains("models:") && out.contains("all"), "{out}");
    let shown = ok_json(&gw, &["keys", "show", "alice"]);
    assert!(shown["rpm"].is_null(), "{shown}");
    assert_eq!(shown["models"], json!([]), "{shown}");
    assert_eq!(shown["max_concurrency"], 4, "{shown}");
    // The server is the authority: its refusal, its words.
    let err = fails(
        Some(ADMIN),
        &[
            "keys", "update", "alice", "--rpm", "0", "--admin", &gw.admin,
        ],
    );
    assert!(
        err.contains("400") && err.contains("`rpm` must be > 0"),
        "{err}"
    );

    // Rotate with a grace: both work; with none (0) the old is refused at once.
    let out = ok(&gw, &["keys", "rotate", "alice", "--grace-seconds", "60"]);
    let second = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("no secret line: {out}"))
        .to_string();
    assert!(out.contains("previous secret works until"), "{out}");
    assert_eq!(chat(&gw, &first).await, 200);
    assert_eq!(chat(&gw, &second).await, 200);
    let rotated = ok_json(&gw, &["keys", "rotate", "alice", "--grace-seconds", "0"]);
    let third = secret(&rotated);
    assert_ne!(third, second);
    assert_eq!(chat(&gw, &third).await, 200);
    assert_eq!(chat(&gw, &second).await, 401);
    assert_eq!(chat(&gw, &first).await, 401);

    // Revoke: refused from then on; shown as revoked.
    let out = ok(&gw, &["keys", "revoke", "alice"]);
    assert!(out.contains("Revoked key alice"), "{out}");
    assert_eq!(chat(&gw, &third).await, 401);
    let revoked = ok_json(&gw, &["keys", "revoke", "bob"]);
    assert_eq!(revoked["revoked"], true, "{revoked}");
    assert_eq!(chat(&gw, &bob).await, 401);
    let out = ok(&gw, &["keys", "list"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("alice") && l.ends_with("revoked")),
        "{out}"
    );
    assert_eq!(chat(&gw, CONFIG_KEY).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_cli_refusals_are_one_line_and_exit_1() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let admin = gw.admin.as_str();
    // An unknown id: the server's message.
    let err = fails(Some(ADMIN), &["keys", "show", "nobody", "--admin", admin]);
    assert!(
        err.starts_with("llm-relay keys show: ") && err.contains("404") && err.contains("nobody"),
        "{err}"
    );
    fails(Some(ADMIN), &["keys", "revoke", "nobody", "--admin", admin]);
    // A wrong admin key, or none: 401 with the variable to set; the key never shown.
    let err = fails(Some("sk-wrong-admin"), &["keys", "list", "--admin", admin]);
    assert!(
        err.contains("401") && err.contains("LLM_RELAY_ADMIN_KEY") && !err.contains("sk-wrong"),
        "{err}"
    );
    let err = fails(None, &["keys", "list", "--admin", admin]);
    assert!(
        err.contains("401") && err.contains("set LLM_RELAY_ADMIN_KEY"),
        "{err}"
    );
    // Nothing listening.
    let nobody = format!("127.0.0.1:{}", free_port());
    let err = fails(Some(ADMIN), &["keys", "list", "--json", "--admin", &nobody]);
    assert!(
        err.contains(&format!("admin listener at {nobody} is unreachable")),
        "{err}"
    );
    // A number clap refuses: its usage error (exit 2), nothing sent.
    let out = relay_as(
        Some(ADMIN),
        &[
            "keys", "create", "--id", "x", "--rpm", "lots", "--admin", admin,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--rpm"), "{}", text(&out.stderr));
    // The admin address from the config's `server.admin_listen`, as `llm-relay status` finds it.
    let cfg = gw.dir.join("relay.yaml");
    let cfg = cfg.to_str().unwrap_or_default();
    let out = relay_as(Some(ADMIN), &["--config", cfg, "keys", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(list["keys"][0]["id"], "from-config", "{list}");
    // Nothing was created by any of it.
    assert_eq!(list["keys"].as_array().map(Vec::len), Some(1), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_from_the_command_line() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let admin = gw.admin.as_str();
    let research = ok_json(
        &gw,
        &[
            "teams",
            "create",
            "--id",
            "research",
            "--rpm",
            "50",
            "--budget-usd",
            "5",
            "--budget-period",
            "month",
            "--metadata",
            r#"{"owner":"lab"}"#,
        ],
    );
    assert_eq!(research["id"], "research", "{research}");
    assert_eq!(research["rpm"], 50, "{research}");
    assert_eq!(research["budget_period"], "month", "{research}");
    assert_eq!(research["metadata"]["owner"], "lab", "{research}");
    let out = ok(&gw, &["teams", "create", "--id", "ops"]);
    assert!(out.starts_with("Created team ops."), "{out}");

    // A key in a team: it must exist.
    let carol = ok_json(
        &gw,
        &["keys", "create", "--id", "carol", "--team", "research"],
    );
    assert_eq!(carol["team"], "research", "{carol}");
    assert_eq!(chat(&gw, &secret(&carol)).await, 200);
    let err = fails(
        Some(ADMIN),
        &[
            "keys", "create", "--id", "dave", "--team", "nosuch", "--admin", admin,
        ],
    );
    assert!(
        err.contains("400") && err.contains("no team `nosuch`"),
        "{err}"
    );
    let out = ok(&gw, &["keys", "list"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("carol") && l.contains("research")),
        "{out}"
    );

    // The list and one team: its keys, limits and usage.
    let out = ok(&gw, &["teams", "list"]);
    let row = |id: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no row {id}: {out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(out.starts_with("ID") && out.contains("KEYS"), "{out}");
    assert!(
        row("research").starts_with("research 1 rpm 50, budget $5/month"),
        "{out}"
    );
    assert!(row("research").contains("rpm 1/50"), "{out}");
    assert!(row("ops").starts_with("ops 0 none"), "{out}");
    let list = ok_json(&gw, &["teams", "list"]);
    let mut ids: Vec<&str> = list["teams"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["ops", "research"], "{list}");
    let out = ok(&gw, &["teams", "show", "research"]);
    for want in [
        "keys:",
        "carol",
        "budget_period:",
        "month",
        "usage rpm:",
        "1 of 50",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }

    // Update: set, then clear with `none`; the rest stays.
    let t = ok_json(&gw, &["teams", "update", "research", "--rpm", "60"]);
    assert_eq!(t["rpm"], 60, "{t}");
    ok(&gw, &["teams", "update", "research", "--rpm", "none"]);
    let t = ok_json(&gw, &["teams", "show", "research"]);
    assert!(t["rpm"].is_null(), "{t}");
    assert_eq!(t["budget_usd"].as_f64(), Some(5.0), "{t}");
    // Moving a key out of its team.
    let k = ok_json(&gw, &["keys", "update", "carol", "--team", "none"]);
    assert!(k["team"].is_null(), "{k}");
    ok(&gw, &["keys", "update", "carol", "--team", "research"]);

    // Delete: refused while a live key belongs to the team (409), done once it is revoked.
    let err = fails(
        Some(ADMIN),
        &["teams", "delete", "research", "--admin", admin],
    );
    assert!(err.contains("409") && err.contains("live keys"), "{err}");
    ok(&gw, &["keys", "revoke", "carol"]);
    let out = ok(&gw, &["teams", "delete", "research"]);
    assert!(out.contains("Deleted team research"), "{out}");
    let err = fails(
        Some(ADMIN),
        &["teams", "show", "research", "--admin", admin],
    );
    assert!(
        err.starts_with("llm-relay teams show: ") && err.contains("404"),
        "{err}"
    );
    let gone = ok_json(&gw, &["teams", "delete", "ops"]);
    assert_eq!(gone["id"], "ops", "{gone}");
    let out = ok(&gw, &["teams", "list"]);
    assert_eq!(out, "no teams\n");
}
