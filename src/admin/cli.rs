//! `llm-relay keys …` and `llm-relay teams …` (issue 22): the command line for keys and teams
//! managed at run time, a thin client of a running gateway's admin API (`/admin/keys`,
//! `/admin/teams`). The gateway is the authority: it validates, stores and audits; this side
//! only turns flags into JSON bodies and answers into text, so the two can never disagree on a
//! rule. Where to connect and the admin key come as for `llm-relay status` (`--admin`, the
//! config's `server.admin_listen`, `LLM_RELAY_ADMIN_KEY`), and every command takes `--json`.

use crate::admin::status::{self, StatusError};
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where to connect and how to print; `global` so they may also follow the subcommand
/// (`llm-relay keys list --json`).
#[derive(Args, Debug, Clone, Default)]
pub struct Target {
    /// The admin listener, host:port. Default: `server.admin_listen` of --config, else
    /// 127.0.0.1:9091.
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub admin: Option<String>,
    /// Print the gateway's JSON answer (pretty) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `llm-relay keys …`.
#[derive(Subcommand, Debug, Clone)]
pub enum KeysCommand {
    /// Create a key. Its secret is printed this once: only its hash is kept.
    Create {
        /// The key's id (1-64 letters, digits, `-`, `_`, `.`): what logs and metrics show.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        options: KeyOptions,
    },
    /// List the managed keys and the config file's (read-only).
    List,
    /// Show one key.
    Show { id: String },
    /// Change the options given (the others stay); `none` clears a value.
    Update {
        id: String,
        #[command(flatten)]
        options: KeyOptions,
    },
    /// Give a key a new secret (printed this once); the old one works for the grace period.
    Rotate {
        id: String,
        /// How long the old secret keeps working (default 0: refused at once).
        #[arg(long, value_name = "N")]
        grace_seconds: Option<u64>,
    },
    /// Revoke a key: refused from its next request on (the record stays, for the audit).
    Revoke { id: String },
}

/// `llm-relay teams …`.
#[derive(Subcommand, Debug, Clone)]
pub enum TeamsCommand {
    /// Create a team; its limits and budget cap the total of all its keys.
    Create {
        /// The team's id (1-64 letters, digits, `-`, `_`, `.`).
        #[arg(long)]
        id: String,
        #[command(flatten)]
        limits: LimitOptions,
    },
    /// List the teams.
    List,
    /// Show one team.
    Show { id: String },
    /// Change the limits given (the others stay); `none` clears one.
    Update {
        id: String,
        #[command(flatten)]
        limits: LimitOptions,
    },
    /// Delete a team (refused while live keys belong to it).
    Delete { id: String },
}

/// A flag value that may be `none`: on the server, JSON `null`, which clears it.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting<T> {
    Clear,
    Set(T),
}

impl<T: Clone + Into<Value>> Setting<T> {
    fn to_json(&self) -> Value {
        match self {
            Setting::Clear => Value::Null,
            Setting::Set(v) => v.clone().into(),
        }
    }
}

/// `none`, or a `T` (clap reports the parse error with the flag's name).
fn setting<T: FromStr>(s: &str) -> Result<Setting<T>, String>
where
    T::Err: std::fmt::Display,
{
    if s == "none" {
        return Ok(Setting::Clear);
    }
    s.parse().map(Setting::Set).map_err(|e| format!("{e}"))
}

/// A dollar amount: a finite number (a NaN would travel as JSON `null` and clear the budget).
fn dollars(s: &str) -> Result<Setting<f64>, String> {
    match setting::<f64>(s)? {
        Setting::Set(v) if !v.is_finite() => Err("not a finite number".into()),
        other => Ok(other),
    }
}

/// `GLOB,GLOB` as a list (blanks dropped), or `none`.
fn globs(s: &str) -> Result<Setting<Vec<String>>, String> {
    if s == "none" {
        return Ok(Setting::Clear);
    }
    Ok(Setting::Set(
        s.split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(String::from)
            .collect(),
    ))
}

/// A JSON object (the server would refuse anything else; said here with the flag's name).
fn json_object(s: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(s) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Over what a budget runs.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq)]
pub enum Period {
    Day,
    Month,
}

/// Limits shared by keys and teams. Absent: unchanged (or none, on create).
#[derive(Args, Debug, Clone, Default)]
pub struct LimitOptions {
    /// Requests per minute (`none` clears it).
    #[arg(long, value_name = "N", value_parser = setting::<u32>)]
    pub rpm: Option<Setting<u32>>,
    /// Requests per day (`none` clears it).
    #[arg(long, value_name = "N", value_parser = setting::<u32>)]
    pub rpd: Option<Setting<u32>>,
    /// Tokens per minute (`none` clears it).
    #[arg(long, value_name = "N", value_parser = setting::<u64>)]
    pub tpm: Option<Setting<u64>>,
    /// Tokens per day (`none` clears it).
    #[arg(long, value_name = "N", value_parser = setting::<u64>)]
    pub tpd: Option<Setting<u64>>,
    /// Requests in flight at once (`none` clears it).
    #[arg(long, value_name = "N", value_parser = setting::<u32>)]
    pub max_concurrency: Option<Setting<u32>>,
    /// Budget in US dollars per period (`none` clears it).
    #[arg(long, value_name = "USD", value_parser = dollars)]
    pub budget_usd: Option<Setting<f64>>,
    /// The budget's period (the gateway's default: day).
    #[arg(long, value_enum)]
    pub budget_period: Option<Period>,
    /// Free-form metadata, a JSON object (replaces the stored one).
    #[arg(long, value_name = "JSON", value_parser = json_object)]
    pub metadata: Option<Value>,
}

impl LimitOptions {
    /// The members to send: only the flags given, so an update leaves the rest alone.
    fn write(&self, body: &mut Map<String, Value>) {
        let mut put = |name: &str, v: Option<Value>| {
            if let Some(v) = v {
                body.insert(name.into(), v);
            }
        };
        put("rpm", self.rpm.as_ref().map(Setting::to_json));
        put("rpd", self.rpd.as_ref().map(Setting::to_json));
        put("tpm", self.tpm.as_ref().map(Setting::to_json));
        put("tpd", self.tpd.as_ref().map(Setting::to_json));
        let conc = self.max_concurrency.as_ref().map(Setting::to_json);
        put("max_concurrency", conc);
        put("budget_usd", self.budget_usd.as_ref().map(Setting::to_json));
        let period = self.budget_period.map(|p| match p {
            Period::Day => Value::from("day"),
            Period::Month => Value::from("month"),
        });
        put("budget_period", period);
        put("metadata", self.metadata.clone());
    }
}

/// A key's options: its team, models and expiry, and the limits.
#[derive(Args, Debug, Clone, Default)]
pub struct KeyOptions {
    /// The team the key belongs to (it must exist; `none` takes the key out of its team).
    #[arg(long, value_parser = setting::<String>)]
    pub team: Option<Setting<String>>,
    /// The models it may use, globs (`hunyuan-*,gpt-4o`); `none`: every model.
    #[arg(long, value_name = "GLOB,GLOB", value_parser = globs)]
    pub models: Option<Setting<Vec<String>>>,
    /// When it stops working, RFC 3339 (`2027-06-30T00:00:00Z`); `none`: never.
    #[arg(long, value_name = "RFC3339", value_parser = setting::<String>)]
    pub expires: Option<Setting<String>>,
    #[command(flatten)]
    pub limits: LimitOptions,
}

impl KeyOptions {
    fn write(&self, body: &mut Map<String, Value>) {
        for (name, v) in [
            ("team", self.team.as_ref().map(Setting::to_json)),
            ("models", self.models.as_ref().map(Setting::to_json)),
            ("expires", self.expires.as_ref().map(Setting::to_json)),
        ] {
            if let Some(v) = v {
                body.insert(name.into(), v);
            }
        }
        self.limits.write(body);
    }
}

/// How an answer is shown as text.
type Render = fn(&Value) -> String;

/// One admin API call: what to send, and how to show the answer.
struct Call {
    /// `keys create`, for the error line.
    name: &'static str,
    method: Method,
    path: Vec<String>,
    body: Option<Value>,
    render: Render,
}

impl Call {
    fn new(name: &'static str, method: Method, path: &[&str], render: Render) -> Call {
        Call {
            name,
            method,
            path: path.iter().map(|s| s.to_string()).collect(),
            body: None,
            render,
        }
    }

    fn with_body(mut self, body: Map<String, Value>) -> Call {
        self.body = Some(Value::Object(body));
        self
    }

    fn send(&self, admin: &str, key: Option<&str>) -> Result<Value, StatusError> {
        let path: Vec<&str> = self.path.iter().map(String::as_str).collect();
        status::request(admin, key, self.method.clone(), &path, self.body.as_ref())
    }
}

/// The call a `keys` command makes.
fn keys_call(cmd: &KeysCommand) -> Call {
    match cmd {
        KeysCommand::Create { id, options } => {
            let mut body = Map::new();
            body.insert("id".into(), Value::from(id.as_str()));
            options.write(&mut body);
            Call::new("keys create", Method::POST, &["admin", "keys"], created_key).with_body(body)
        }
        KeysCommand::List => Call::new("keys list", Method::GET, &["admin", "keys"], key_list),
        KeysCommand::Show { id } => {
            Call::new("keys show", Method::GET, &["admin", "keys", id], details)
        }
        KeysCommand::Update { id, options } => {
            let mut body = Map::new();
            options.write(&mut body);
            let path = ["admin", "keys", id.as_str()];
            Call::new("keys update", Method::PATCH, &path, details).with_body(body)
        }
        KeysCommand::Rotate { id, grace_seconds } => {
            let mut body = Map::new();
            if let Some(g) = grace_seconds {
                body.insert("grace_seconds".into(), Value::from(*g));
            }
            let path = ["admin", "keys", id.as_str(), "rotate"];
            Call::new("keys rotate", Method::POST, &path, rotated_key).with_body(body)
        }
        KeysCommand::Revoke { id } => {
            let path = ["admin", "keys", id.as_str()];
            Call::new("keys revoke", Method::DELETE, &path, revoked_key)
        }
    }
}

/// The call a `teams` command makes.
fn teams_call(cmd: &TeamsCommand) -> Call {
    match cmd {
        TeamsCommand::Create { id, limits } => {
            let mut body = Map::new();
            body.insert("id".into(), Value::from(id.as_str()));
            limits.write(&mut body);
            let path = ["admin", "teams"];
            Call::new("teams create", Method::POST, &path, created_team).with_body(body)
        }
        TeamsCommand::List => Call::new("teams list", Method::GET, &["admin", "teams"], team_list),
        TeamsCommand::Show { id } => {
            Call::new("teams show", Method::GET, &["admin", "teams", id], details)
        }
        TeamsCommand::Update { id, limits } => {
            let mut body = Map::new();
            limits.write(&mut body);
            let path = ["admin", "teams", id.as_str()];
            Call::new("teams update", Method::PATCH, &path, details).with_body(body)
        }
        TeamsCommand::Delete { id } => {
            let path = ["admin", "teams", id.as_str()];
            Call::new("teams delete", Method::DELETE, &path, deleted_team)
        }
    }
}

/// Runs `llm-relay keys …`: 0 when the gateway did it, 1 with a one-line reason on stderr.
pub fn keys(cmd: &KeysCommand, target: &Target, config: Option<&str>) -> i32 {
    execute(&keys_call(cmd), target, config)
}

/// Runs `llm-relay teams …`: 0 when the gateway did it, 1 with a one-line reason on stderr.
pub fn teams(cmd: &TeamsCommand, target: &Target, config: Option<&str>) -> i32 {
    execute(&teams_call(cmd), target, config)
}

/// Sends the call and prints the answer (stdout) or why it failed (stderr). The admin key is
/// only ever a header: no message here or in `StatusError` contains it.
fn execute(call: &Call, target: &Target, config: Option<&str>) -> i32 {
    let key = status::admin_key();
    let answer = status::admin_address(target.admin.clone(), config)
        .and_then(|admin| call.send(&admin, key.as_deref()));
    match answer {
        Ok(v) if target.json => {
            println!("{v:#}");
            0
        }
        Ok(v) => {
            print!("{}", (call.render)(&v));
            0
        }
        Err(e) => {
            eprintln!("llm-relay {}: {e}", call.name);
            1
        }
    }
}

/// A member as text: `-` for none, lists joined, times of day for the Unix-seconds fields.
fn text(name: &str, v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) if is_time(name) => n.as_u64().map_or(n.to_string(), unix_time),
        Value::Number(n) => n.to_string(),
        Value::Array(a) if a.is_empty() && name == "models" => "all".into(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(|x| text("", x)).collect::<Vec<_>>().join(", "),
        Value::Object(o) if o.is_empty() => "-".into(),
        Value::Object(_) => v.to_string(),
    }
}

fn is_time(name: &str) -> bool {
    matches!(name, "created" | "updated" | "previous_valid_until")
}

/// Unix seconds as RFC 3339 (UTC), as `--expires` takes them.
fn unix_time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// Usage members in the order the limits are listed.
const LIMITS: [&str; 6] = ["rpm", "rpd", "tpm", "tpd", "max_concurrency", "budget_usd"];

/// A key's or team's limits: `rpm 60, conc 4, budget $5/day`; `none` when it has none.
fn limits_text(o: &Value) -> String {
    let mut parts = Vec::new();
    for name in LIMITS {
        let v = &o[name];
        if v.is_null() {
            continue;
        }
        parts.push(match name {
            "max_concurrency" => format!("conc {v}"),
            "budget_usd" => format!(
                "budget ${}/{}",
                dollar(v),
                o["budget_period"].as_str().unwrap_or("day")
            ),
            _ => format!("{name} {v}"),
        });
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// Usage against the limits: `rpm 3/60, budget $0.12/$5`; `-` when nothing is limited.
fn usage_text(usage: &Value) -> String {
    let mut parts = Vec::new();
    for name in LIMITS {
        let u = &usage[name];
        if u.is_null() {
            continue;
        }
        parts.push(match name {
            "max_concurrency" => format!("conc {}/{}", num(&u["in_flight_here"]), num(&u["limit"])),
            "budget_usd" => format!("budget ${:.2}/${}", f(&u["used"]), dollar(&u["limit"])),
            _ => format!("{name} {}/{}", num(&u["used"]), num(&u["limit"])),
        });
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// One usage member in words: `3 of 60, resets in 42 s`.
fn usage_line(name: &str, u: &Value) -> String {
    let used = if name == "max_concurrency" {
        num(&u["in_flight_here"])
    } else if name == "budget_usd" {
        format!("${:.4}", f(&u["used"]))
    } else {
        num(&u["used"])
    };
    let limit = if name == "budget_usd" {
        format!("${}", dollar(&u["limit"]))
    } else {
        num(&u["limit"])
    };
    let mut line = format!("{used} of {limit}");
    if let Some(s) = u["resets_in_seconds"].as_u64() {
        let _ = write!(line, ", resets in {s} s");
    }
    if name == "max_concurrency" {
        line.push_str(" in flight here");
    }
    line
}

fn num(v: &Value) -> String {
    text("", v)
}

/// A dollar amount as short as it goes (`5`, `2.5`), where JSON would say `5.0`.
fn dollar(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |d| d.to_string())
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn spend_text(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |s| format!("${s:.4}"))
}

/// A key's state: revoked, expired, read-only (from the config file) or active.
fn state(k: &Value) -> &'static str {
    if k["revoked"] == true {
        return "revoked";
    }
    if k["source"] == "config" {
        return "read-only";
    }
    let expired = k["expires"]
        .as_str()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .is_some_and(|t| t <= SystemTime::now());
    if expired {
        "expired"
    } else {
        "active"
    }
}

/// `GET /admin/keys` as a table; the usage and spend columns only when the gateway sent them.
fn key_list(v: &Value) -> String {
    let keys = v["keys"].as_array().cloned().unwrap_or_default();
    if keys.is_empty() {
        return "no keys\n".into();
    }
    let with_usage = keys.iter().any(|k| k.get("usage").is_some());
    let with_spend = keys.iter().any(|k| k.get("spend_today_usd").is_some());
    let mut head = vec!["ID", "TEAM", "SOURCE", "LIMITS"];
    head.extend(with_usage.then_some("USAGE"));
    head.extend(with_spend.then_some("SPEND TODAY"));
    head.push("STATE");
    let mut rows = vec![head.into_iter().map(String::from).collect::<Vec<_>>()];
    for k in &keys {
        let limits = if k["source"] == "config" {
            "(config file)".into()
        } else {
            limits_text(k)
        };
        let mut row = vec![
            text("", &k["id"]),
            text("", &k["team"]),
            text("", &k["source"]),
        ];
        row.push(limits);
        row.extend(with_usage.then(|| usage_text(&k["usage"])));
        row.extend(with_spend.then(|| spend_text(&k["spend_today_usd"])));
        row.push(state(k).into());
        rows.push(row);
    }
    let mut out = String::new();
    status::table(&mut out, &rows);
    out
}

/// `GET /admin/teams` as a table.
fn team_list(v: &Value) -> String {
    let teams = v["teams"].as_array().cloned().unwrap_or_default();
    if teams.is_empty() {
        return "no teams\n".into();
    }
    let with_usage = teams.iter().any(|t| t.get("usage").is_some());
    let with_spend = teams.iter().any(|t| t.get("spend_today_usd").is_some());
    let mut head = vec!["ID", "KEYS", "LIMITS"];
    head.extend(with_usage.then_some("USAGE"));
    head.extend(with_spend.then_some("SPEND TODAY"));
    let mut rows = vec![head.into_iter().map(String::from).collect::<Vec<_>>()];
    for t in &teams {
        let keys = t["keys"].as_array().map_or(0, Vec::len);
        let mut row = vec![text("", &t["id"]), keys.to_string(), limits_text(t)];
        row.extend(with_usage.then(|| usage_text(&t["usage"])));
        row.extend(with_spend.then(|| spend_text(&t["spend_today_usd"])));
        rows.push(row);
    }
    let mut out = String::new();
    status::table(&mut out, &rows);
    out
}

/// The members shown first by `show`, in this order; the rest follow alphabetically.
const FIRST: [&str; 19] = [
    "id",
    "source",
    "read_only",
    "team",
    "keys",
    "models",
    "rpm",
    "rpd",
    "tpm",
    "tpd",
    "max_concurrency",
    "budget_usd",
    "budget_period",
    "expires",
    "revoked",
    "previous_valid_until",
    "spend_today_usd",
    "created",
    "updated",
];

/// One key or team as `name: value` lines (usage expanded, the secret never: `create` and
/// `rotate` show it apart, with the warning it needs).
fn details(v: &Value) -> String {
    let Some(o) = v.as_object() else {
        return format!("{v}\n");
    };
    let mut lines: Vec<(String, String)> = Vec::new();
    let rest = o.keys().filter(|k| !FIRST.contains(&k.as_str()));
    for name in FIRST.iter().copied().chain(rest.map(String::as_str)) {
        let value = match (name, o.get(name)) {
            (_, None) | ("secret" | "usage", _) => continue,
            ("spend_today_usd", Some(s)) => spend_text(s),
            ("budget_usd", Some(b)) => dollar(b),
            (_, Some(x)) => text(name, x),
        };
        lines.push((name.to_string(), value));
    }
    for limit in LIMITS {
        if let Some(u) = o.get("usage").and_then(|u| u.get(limit)) {
            lines.push((format!("usage {limit}"), usage_line(limit, u)));
        }
    }
    let width = lines.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (name, value) in lines {
        let _ = writeln!(out, "{:<w$}  {value}", format!("{name}:"), w = width + 1);
    }
    out
}

/// The secret with the warning that it is shown this once.
fn secret_lines(v: &Value) -> String {
    format!(
        "secret: {}\nThis secret is shown once: store it now (the gateway keeps only its hash).\n",
        v["secret"].as_str().unwrap_or("(none in the answer)")
    )
}

fn created_key(v: &Value) -> String {
    let team = v["team"]
        .as_str()
        .map_or(String::new(), |t| format!(" in team {t}"));
    format!(
        "Created key {}{team}.\n{}",
        text("", &v["id"]),
        secret_lines(v)
    )
}

fn rotated_key(v: &Value) -> String {
    let old = match v["previous_valid_until"].as_u64() {
        Some(t) => format!("The previous secret works until {}.\n", unix_time(t)),
        None => "The previous secret is refused from now on.\n".into(),
    };
    format!(
        "Rotated key {}.\n{}{old}",
        text("", &v["id"]),
        secret_lines(v)
    )
}

fn revoked_key(v: &Value) -> String {
    format!(
        "Revoked key {}: refused from its next request on.\n",
        text("", &v["id"])
    )
}

fn created_team(v: &Value) -> String {
    format!("Created team {}.\n{}", text("", &v["id"]), details(v))
}

fn deleted_team(v: &Value) -> String {
    format!("Deleted team {}.\n", text("", &v["id"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: Top,
    }

    #[derive(Subcommand)]
    enum Top {
        #[command(subcommand)]
        Keys(KeysCommand),
        #[command(subcommand)]
        Teams(TeamsCommand),
    }

    fn call(args: &[&str]) -> Call {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{e}"));
        match cli.cmd {
            Top::Keys(k) => keys_call(&k),
            Top::Teams(t) => teams_call(&t),
        }
    }

    #[test]
    fn create_sends_only_the_flags_given() {
        let c = call(&[
            "keys",
            "create",
            "--id",
            "alice",
            "--team",
            "research",
            "--models",
            "a-*, b",
            "--rpm",
            "60",
            "--budget-usd",
            "2.5",
            "--budget-period",
            "month",
        ]);
        assert_eq!(
            (c.method, c.path.join("/")),
            (Method::POST, "admin/keys".into())
        );
        assert_eq!(
            c.body,
            Some(
                json!({"id": "alice", "team": "research", "models": ["a-*", "b"], "rpm": 60,
                        "budget_usd": 2.5, "budget_period": "month"})
            )
        );
    }

    #[test]
    fn none_clears_on_update() {
        let c = call(&[
            "keys", "update", "alice", "--rpm", "none", "--models", "none", "--team", "none",
            "--tpd", "7",
        ]);
        assert_eq!(
            (c.method, c.path.join("/")),
            (Method::PATCH, "admin/keys/alice".into())
        );
        assert_eq!(
            c.body,
            Some(json!({"rpm": null, "models": null, "team": null, "tpd": 7}))
        );
        let c = call(&["teams", "update", "research", "--budget-usd", "none"]);
        assert_eq!(c.body, Some(json!({"budget_usd": null})));
    }

    #[test]
    fn numbers_are_checked_by_clap() {
        for bad in [
            &["keys", "create", "--id", "a", "--rpm", "-1"][..],
            &["keys", "create", "--id", "a", "--rpm", "many"],
            &["keys", "create", "--id", "a", "--budget-usd", "NaN"],
            &["keys", "update", "a", "--metadata", "[1]"],
            &["keys", "rotate", "a", "--grace-seconds", "soon"],
        ] {
            let args = std::iter::once("x").chain(bad.iter().copied());
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_and_admin_may_follow_the_subcommand() {
        let cli = Cli::try_parse_from(["x", "keys", "list", "--json", "--admin", "h:1"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(cli.target.json);
        assert_eq!(cli.target.admin.as_deref(), Some("h:1"));
    }

    #[test]
    fn ids_are_one_path_segment() {
        let c = call(&["keys", "rotate", "a/b", "--grace-seconds", "60"]);
        assert_eq!(c.path, ["admin", "keys", "a/b", "rotate"]);
        assert_eq!(c.body, Some(json!({"grace_seconds": 60})));
        let c = call(&["teams", "delete", "t"]);
        assert_eq!((c.method, c.body), (Method::DELETE, None));
    }

    #[test]
    fn the_list_is_a_table_with_usage_when_sent() {
        let v = json!({"keys": [
            {"id": "alice", "team": "research", "source": "managed", "rpm": 60,
             "budget_usd": 5.0, "budget_period": "month", "revoked": false,
             "usage": {"rpm": {"limit": 60, "used": 3, "resets_in_seconds": 20},
                       "budget_usd": {"limit": 5.0, "used": 0.125, "resets_in_seconds": 9}},
             "spend_today_usd": 0.125},
            {"id": "old", "source": "managed", "revoked": true},
            {"id": "cfg", "source": "config", "read_only": true},
        ]});
        let out = key_list(&v);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("ID") && lines[0].contains("USAGE"),
            "{out}"
        );
        assert!(
            lines[1].starts_with("alice")
                && lines[1].contains("rpm 60, budget $5/month")
                && lines[1].contains("rpm 3/60, budget $0.12/$5")
                && lines[1].contains("$0.1250")
                && lines[1].ends_with("active"),
            "{out}"
        );
        assert!(lines[2].ends_with("revoked"), "{out}");
        assert!(lines[3].ends_with("read-only"), "{out}");
        let plain = key_list(&json!({"keys": [{"id": "a", "source": "managed"}]}));
        assert!(!plain.contains("USAGE"), "{plain}");
    }

    #[test]
    fn show_is_name_value_lines_without_the_secret() {
        let v = json!({"id": "alice", "source": "managed", "models": [], "rpm": 60,
                       "created": 0, "revoked": false, "secret": "sk-relay-x",
                       "usage": {"rpm": {"limit": 60, "used": 3, "resets_in_seconds": 20}}});
        let out = details(&v);
        assert!(out.starts_with("id:"), "{out}");
        for want in [
            "models:     all",
            "rpm:        60",
            "revoked:    no",
            "created:    1970-01-01T00:00:00Z",
            "usage rpm:  3 of 60, resets in 20 s",
        ] {
            assert!(out.contains(want), "{want}\n{out}");
        }
        assert!(!out.contains("sk-relay-x"), "{out}");
        let created = created_key(&v);
        assert!(created.contains("secret: sk-relay-x") && created.contains("shown once"));
    }
}
