//! Request kinds: what the client asked for, decided from the method and path alone.

use crate::error::GatewayError;

/// The OpenAI endpoints the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Chat,
    Embeddings,
    ImagesGenerations,
    ImagesEdits,
    ImagesVariations,
    AudioTranscriptions,
    AudioTranslations,
    AudioSpeech,
    Models,
}

/// The routing family of an endpoint: what `routes[].kinds` and `defaults` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Chat,
    Embeddings,
    Images,
    Transcriptions,
    Translations,
    Speech,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Chat,
        Kind::Embeddings,
        Kind::Images,
        Kind::Transcriptions,
        Kind::Translations,
        Kind::Speech,
    ];

    /// The name used in config, logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::Embeddings => "embeddings",
            Kind::Images => "images",
            Kind::Transcriptions => "transcriptions",
            Kind::Translations => "translations",
            Kind::Speech => "speech",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// How a request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Multipart,
    None,
}

impl Endpoint {
    /// Classifies a request by method and path (query string already removed).
    pub fn classify(method: &str, path: &str) -> Result<Endpoint, GatewayError> {
        let path = path.strip_suffix('/').unwrap_or(path);
        let (endpoint, want) = match path {
            "/v1/chat/completions" => (Endpoint::Chat, "POST"),
            "/v1/embeddings" => (Endpoint::Embeddings, "POST"),
            "/v1/images/generations" => (Endpoint::ImagesGenerations, "POST"),
            "/v1/images/edits" => (Endpoint::ImagesEdits, "POST"),
            "/v1/images/variations" => (Endpoint::ImagesVariations, "POST"),
            "/v1/audio/transcriptions" => (Endpoint::AudioTranscriptions, "POST"),
            "/v1/audio/translations" => (Endpoint::AudioTranslations, "POST"),
            "/v1/audio/speech" => (Endpoint::AudioSpeech, "POST"),
            "/v1/models" => (Endpoint::Models, "GET"),
            _ => {
                return Err(GatewayError::NotFound {
                    path: path.to_string(),
                })
            }
        };
        if method == want || (want == "GET" && method == "HEAD") {
            Ok(endpoint)
        } else {
            Err(GatewayError::MethodNotAllowed {
                method: method.to_string(),
                path: path.to_string(),
            })
        }
    }

    /// The routing family, `None` for endpoints answered locally.
    pub fn kind(self) -> Option<Kind> {
        Some(match self {
            Endpoint::Chat => Kind::Chat,
            Endpoint::Embeddings => Kind::Embeddings,
            Endpoint::ImagesGenerations | Endpoint::ImagesEdits | Endpoint::ImagesVariations => {
                Kind::Images
            }
            Endpoint::AudioTranscriptions => Kind::Transcriptions,
            Endpoint::AudioTranslations => Kind::Translations,
            Endpoint::AudioSpeech => Kind::Speech,
            Endpoint::Models => return None,
        })
    }

    pub fn body_format(self) -> BodyFormat {
        match self {
            Endpoint::ImagesEdits
            | Endpoint::ImagesVariations
            | Endpoint::AudioTranscriptions
            | Endpoint::AudioTranslations => BodyFormat::Multipart,
            Endpoint::Models => BodyFormat::None,
            _ => BodyFormat::Json,
        }
    }

    /// The path below the provider's base URL (`/chat/completions` under `…/v1`).
    pub fn upstream_suffix(self) -> &'static str {
        match self {
            Endpoint::Chat => "/chat/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::ImagesGenerations => "/images/generations",
            Endpoint::ImagesEdits => "/images/edits",
            Endpoint::ImagesVariations => "/images/variations",
            Endpoint::AudioTranscriptions => "/audio/transcriptions",
            Endpoint::AudioTranslations => "/audio/translations",
            Endpoint::AudioSpeech => "/audio/speech",
            Endpoint::Models => "/models",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify() {
        assert_eq!(
            Endpoint::classify("POST", "/v1/chat/completions"),
            Ok(Endpoint::Chat)
        );
        assert_eq!(
            Endpoint::classify("GET", "/v1/models/"),
            Ok(Endpoint::Models)
        );
        assert_eq!(
            Endpoint::classify("GET", "/v1/chat/completions")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            Endpoint::classify("POST", "/v2/x").unwrap_err().status(),
            404
        );
    }
}
