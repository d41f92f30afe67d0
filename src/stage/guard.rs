//! The built-in guardrails as request stages: personal data redacted or refused, deny lists,
//! an enforced system prompt and input limits. Each takes the chat request (every client
//! protocol reaches here translated) and says what it did; none of them ever puts the text it
//! matched in a refusal, a log line or a metric (only kinds and counts).

use super::text::{any_message_text, any_request_text, each_request_text};
use super::Outcome;
use crate::chat::guard::pii;
use crate::config::stages::{
    DenySection, InputLimitSection, PiiAction, RedactSection, SystemPromptMode, SystemPromptSection,
};
use crate::core::error::GatewayError;
use regex::Regex;
use serde_json::{json, Value};

/// A refusal by the stage `name` with `status` and `message`.
pub fn refusal(name: &str, status: u16, message: String) -> GatewayError {
    GatewayError::Refused {
        status,
        message,
        code: "content_policy_violation",
        stage: name.into(),
    }
}

/// `stages.<n>: {type: redact}`.
#[derive(Debug)]
pub struct Redact {
    pub kinds: Vec<pii::Kind>,
    pub action: PiiAction,
    pub status: u16,
    pub window: usize,
}

impl Redact {
    pub fn new(s: &RedactSection) -> Redact {
        Redact {
            kinds: s.patterns.clone(),
            action: s.action,
            status: s.status.unwrap_or(400),
            window: s.window_bytes,
        }
    }

    pub fn request(&self, name: &str, chat: &mut Value) -> Outcome {
        match self.action {
            PiiAction::Redact => {
                let kinds = &self.kinds;
                let changed = each_request_text(chat, &mut |s| match pii::redact(s, kinds) {
                    Some((out, _)) => {
                        *s = out;
                        true
                    }
                    None => false,
                });
                if changed {
                    Outcome::Modified
                } else {
                    Outcome::Pass
                }
            }
            PiiAction::Refuse => {
                let mut found: Option<pii::Kind> = None;
                any_request_text(chat, &mut |s| {
                    found = pii::find(s, &self.kinds).first().map(|f| f.kind);
                    found.is_some()
                });
                match found {
                    Some(kind) => Outcome::Refused(refusal(
                        name,
                        self.status,
                        format!(
                            "The request was refused by the gateway's `{name}` stage: it \
                             contains personal data or a secret ({}). Remove it and send \
                             the request again.",
                            kind.label()
                        ),
                    )),
                    None => Outcome::Pass,
                }
            }
        }
    }

    /// One text of an answer, redacted (`None`: nothing found).
    pub fn text(&self, s: &str) -> Option<String> {
        pii::redact(s, &self.kinds).map(|(out, _)| out)
    }
}

/// `stages.<n>: {type: deny}`: one regex of every word and pattern (linear time).
#[derive(Debug)]
pub struct Deny {
    pub re: Regex,
    pub message: Option<String>,
    pub status: u16,
}

impl Deny {
    pub fn new(s: &DenySection) -> Result<Deny, String> {
        let mut alts: Vec<String> = s
            .words
            .iter()
            .filter(|w| !w.trim().is_empty())
            .map(|w| word_pattern(w.trim()))
            .collect();
        for (i, r) in s.regex.iter().enumerate() {
            Regex::new(r).map_err(|e| format!("regex[{i}]: {e}"))?;
            alts.push(format!("(?:{r})"));
        }
        if alts.is_empty() {
            return Err("a deny stage needs `words` or `regex`".into());
        }
        let flags = if s.case_sensitive { "" } else { "(?i)" };
        let re = regex::RegexBuilder::new(&format!("{flags}{}", alts.join("|")))
            .size_limit(32 << 20)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Deny {
            re,
            message: s.message.clone(),
            status: s.status.unwrap_or(400),
        })
    }

    pub fn request(&self, name: &str, chat: &Value) -> Outcome {
        if any_request_text(chat, &mut |s| self.re.is_match(s)) {
            let message = self.message.clone().unwrap_or_else(|| {
                format!("The request was refused by the gateway's `{name}` stage (denied content).")
            });
            return Outcome::Refused(refusal(name, self.status, message));
        }
        Outcome::Pass
    }
}

/// A word or phrase matched whole: word boundaries where the word starts or ends with a word
/// character (a phrase like "c++" or "鸡" has no boundary to ask for).
fn word_pattern(w: &str) -> String {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let head = if is_word(w.chars().next()) { r"\b" } else { "" };
    let tail = if is_word(w.chars().last()) { r"\b" } else { "" };
    format!("{head}{}{tail}", regex::escape(w))
}

/// `stages.<n>: {type: system_prompt}`.
#[derive(Debug)]
pub struct SystemPrompt {
    pub mode: SystemPromptMode,
    pub text: String,
    pub message: Option<String>,
}

impl SystemPrompt {
    pub fn new(s: &SystemPromptSection) -> Result<SystemPrompt, String> {
        let text = s.text.clone().unwrap_or_default();
        if s.mode != SystemPromptMode::Require && text.trim().is_empty() {
            return Err("`text` is required with mode `prepend` or `replace`".into());
        }
        Ok(SystemPrompt {
            mode: s.mode,
            text,
            message: s.message.clone(),
        })
    }

    pub fn request(&self, name: &str, chat: &mut Value) -> Outcome {
        let Some(messages) = chat.get_mut("messages").and_then(Value::as_array_mut) else {
            return Outcome::Pass;
        };
        let is_system = |m: &Value| {
            matches!(
                m.get("role").and_then(Value::as_str),
                Some("system" | "developer")
            )
        };
        match self.mode {
            SystemPromptMode::Require => {
                let has = messages
                    .iter()
                    .any(|m| is_system(m) && any_message_text(m, &mut |s| !s.trim().is_empty()));
                if has {
                    return Outcome::Pass;
                }
                let message = self.message.clone().unwrap_or_else(|| {
                    format!(
                        "The request was refused by the gateway's `{name}` stage: it needs a \
                         system prompt."
                    )
                });
                Outcome::Refused(refusal(name, 400, message))
            }
            SystemPromptMode::Prepend => {
                let first_is_ours = messages.first().is_some_and(|m| {
                    is_system(m) && m.get("content").and_then(Value::as_str) == Some(&self.text)
                });
                if first_is_ours {
                    return Outcome::Pass;
                }
                messages.insert(0, json!({"role": "system", "content": self.text}));
                Outcome::Modified
            }
            SystemPromptMode::Replace => {
                let only_ours = messages.iter().filter(|m| is_system(m)).count() == 1
                    && messages.first().is_some_and(|m| {
                        is_system(m) && m.get("content").and_then(Value::as_str) == Some(&self.text)
                    });
                if only_ours {
                    return Outcome::Pass;
                }
                messages.retain(|m| !is_system(m));
                messages.insert(0, json!({"role": "system", "content": self.text}));
                Outcome::Modified
            }
        }
    }
}

/// `stages.<n>: {type: input_limit}`.
#[derive(Debug)]
pub struct InputLimit(pub InputLimitSection);

impl InputLimit {
    pub fn request(&self, name: &str, chat: &Value) -> Outcome {
        let messages = chat
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let refuse = |what: String| {
            Outcome::Refused(GatewayError::Refused {
                status: 400,
                message: format!(
                    "The request was refused by the gateway's `{name}` stage: {what}."
                ),
                code: "input_too_large",
                stage: name.into(),
            })
        };
        if let Some(max) = self.0.max_messages {
            if messages.len() > max {
                return refuse(format!(
                    "it has {} messages, more than the limit of {max}",
                    messages.len()
                ));
            }
        }
        let mut total = 0usize;
        for (i, m) in messages.iter().enumerate() {
            let mut chars = 0usize;
            any_message_text(m, &mut |s| {
                chars += s.chars().count();
                false
            });
            if let Some(max) = self.0.max_message_chars {
                if chars > max {
                    return refuse(format!(
                        "messages[{i}] has {chars} characters of text, more than the limit \
                         of {max}"
                    ));
                }
            }
            total += chars;
        }
        if let Some(max) = self.0.max_chars {
            if total > max {
                return refuse(format!(
                    "its messages have {total} characters of text, more than the limit of {max}"
                ));
            }
        }
        Outcome::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(text: &str) -> Value {
        json!({"model": "m", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": text}]})
    }

    #[test]
    fn redacts_or_refuses() {
        let r = Redact::new(&RedactSection {
            patterns: pii::Kind::ALL.to_vec(),
            action: PiiAction::Redact,
            on: vec![],
            window_bytes: 128,
            status: None,
        });
        let mut v = chat("mail me at jane.doe@example.com");
        assert!(matches!(r.request("pii", &mut v), Outcome::Modified));
        assert_eq!(v["messages"][1]["content"], "mail me at [REDACTED:email]");
        let mut clean = chat("nothing here");
        assert!(matches!(r.request("pii", &mut clean), Outcome::Pass));
        let refuse = Redact {
            action: PiiAction::Refuse,
            ..r
        };
        let mut v = chat("card 4111 1111 1111 1111");
        match refuse.request("pii", &mut v) {
            Outcome::Refused(e) => {
                assert_eq!(e.status(), 400);
                assert!(e.message().contains("card"), "{}", e.message());
                assert!(!e.message().contains("4111"));
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn deny_words_are_whole_and_case_blind() {
        let d = Deny::new(&DenySection {
            words: vec!["Project Falcon".into(), "c++".into()],
            regex: vec![r"\bssn:\s*\d{3}".into()],
            case_sensitive: false,
            message: None,
            status: Some(403),
        })
        .unwrap();
        for t in ["about project falcon", "I like C++ a lot", "SSN: 123-45"] {
            match d.request("topics", &chat(t)) {
                Outcome::Refused(e) => assert_eq!(e.status(), 403),
                o => panic!("{t}: {o:?}"),
            }
        }
        for t in ["project falconry", "plain text"] {
            assert!(
                matches!(d.request("topics", &chat(t)), Outcome::Pass),
                "{t}"
            );
        }
        let bad = DenySection {
            words: vec![],
            regex: vec!["(".into()],
            case_sensitive: false,
            message: None,
            status: None,
        };
        assert!(Deny::new(&bad).unwrap_err().contains("regex[0]"));
    }

    #[test]
    fn system_prompt_modes() {
        let s = |mode, text: &str| {
            SystemPrompt::new(&SystemPromptSection {
                mode,
                text: Some(text.into()),
                message: None,
            })
            .unwrap()
        };
        let mut v = chat("hi");
        assert!(matches!(
            s(SystemPromptMode::Prepend, "house rules").request("sp", &mut v),
            Outcome::Modified
        ));
        assert_eq!(v["messages"][0]["content"], "house rules");
        assert_eq!(v["messages"][1]["content"], "be brief");
        // Idempotent: a second pass changes nothing.
        assert!(matches!(
            s(SystemPromptMode::Prepend, "house rules").request("sp", &mut v),
            Outcome::Pass
        ));
        let mut v = chat("hi");
        s(SystemPromptMode::Replace, "only these").request("sp", &mut v);
        assert_eq!(v["messages"].as_array().unwrap().len(), 2);
        assert_eq!(v["messages"][0]["content"], "only these");
        let mut none = json!({"messages": [{"role": "user", "content": "x"}]});
        assert!(matches!(
            s(SystemPromptMode::Require, "").request("sp", &mut none),
            Outcome::Refused(_)
        ));
        let mut v = chat("x");
        assert!(matches!(
            s(SystemPromptMode::Require, "").request("sp", &mut v),
            Outcome::Pass
        ));
    }

    #[test]
    fn input_limits() {
        let l = InputLimit(InputLimitSection {
            max_chars: Some(20),
            max_messages: Some(2),
            max_message_chars: Some(12),
        });
        assert!(matches!(l.request("size", &chat("short")), Outcome::Pass));
        match l.request("size", &chat("a message that is too long")) {
            Outcome::Refused(e) => assert!(e.message().contains("messages[1]"), "{}", e.message()),
            o => panic!("{o:?}"),
        }
        let three = json!({"messages": [{"role":"user","content":"a"},
            {"role":"assistant","content":"b"},{"role":"user","content":"c"}]});
        assert!(matches!(l.request("size", &three), Outcome::Refused(_)));
        // Characters, not bytes: 12 Chinese characters are 36 bytes.
        assert!(matches!(
            l.request("size", &chat("你好你好你好你好你好你好")),
            Outcome::Pass
        ));
    }
}
