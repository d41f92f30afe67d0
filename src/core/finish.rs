//! Finish reasons: the one place a provider's own reason becomes OpenAI's. Hunyuan ends an
//! answer its moderation stopped with `sensitive`; OpenAI's name is `content_filter`, which
//! typed clients accept and every client protocol maps (Anthropic `refusal`, Gemini `SAFETY`,
//! Responses `incomplete`). The proxy rewrites it in Hunyuan's answers as they stream
//! (`proxy::scan::FinishReasonMap`); the translators read reasons through [`normalize`], so an
//! answer that reaches them unmapped (another pool speaking Hunyuan's dialect) ends the same.

/// `reason` as OpenAI names it.
pub fn normalize(reason: &str) -> &str {
    match reason {
        "sensitive" => "content_filter",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hunyuans_sensitive_is_content_filter() {
        assert_eq!(super::normalize("sensitive"), "content_filter");
        assert_eq!(super::normalize("stop"), "stop");
        assert_eq!(super::normalize("length"), "length");
    }
}
