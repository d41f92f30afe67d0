//! The client's protocol as a label: bounded, so metrics, stats and the access log can use it.

/// The protocol the client spoke: a bounded label for metrics, stats and the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    #[default]
    Chat,
    Responses,
    Messages,
    Completions,
    Gemini,
}

impl Protocol {
    pub const ALL: [Protocol; 5] = [
        Protocol::Chat,
        Protocol::Responses,
        Protocol::Messages,
        Protocol::Completions,
        Protocol::Gemini,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Protocol::Chat => "chat",
            Protocol::Responses => "responses",
            Protocol::Messages => "messages",
            Protocol::Completions => "completions",
            Protocol::Gemini => "gemini",
        }
    }
}
