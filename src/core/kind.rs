//! Request kinds: what the client asked for, decided from the method and path alone.

use crate::core::error::GatewayError;
use crate::core::protocol::Protocol;

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
    /// `GET` / `HEAD /v1/models/{id}`: one model, answered locally.
    Model,
    /// `POST /v1/responses` (OpenAI Responses API, translated onto chat).
    Responses,
    /// `GET` / `DELETE /v1/responses/{id}`: a stored response, answered locally.
    StoredResponse,
    /// `GET /v1/responses/{id}/input_items`: a stored response's input, answered locally.
    ResponseInputItems,
    /// `POST /v1/responses/input_tokens`: an estimate, answered locally.
    ResponseInputTokens,
    /// `POST /v1/responses/{id}/cancel`: answered locally (no response here runs in the
    /// background, so none can be cancelled).
    ResponseCancel,
    /// `POST /v1/messages` (Anthropic Messages API, translated onto chat).
    Messages,
    /// `POST /v1/messages/count_tokens`: an estimate, answered locally.
    CountTokens,
    /// `POST /v1/completions` (legacy; passed through, or translated for chat-only pools).
    Completions,
    /// `GET` / `HEAD /`: a liveness answer for clients that probe the base URL first.
    Root,
    /// `POST /v1beta/models/{model}:generateContent` (Gemini API, translated onto chat).
    GeminiGenerate,
    /// `POST /v1beta/models/{model}:streamGenerateContent` (SSE with `alt=sse`, else a
    /// JSON array streamed element by element).
    GeminiStream,
    /// `POST /v1beta/models/{model}:countTokens`: an estimate, answered locally.
    GeminiCountTokens,
    /// `GET /v1beta/models`: the model list in Gemini's shape, answered locally.
    GeminiModels,
    /// `GET /v1beta/models/{model}`: one model in Gemini's shape, answered locally.
    GeminiModel,
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

    /// A dense index (the position in [`Kind::ALL`]) for per-kind arrays: adding a kind
    /// makes every such array one longer, so no kind can fall into another's slot.
    pub fn index(self) -> usize {
        match self {
            Kind::Chat => 0,
            Kind::Embeddings => 1,
            Kind::Images => 2,
            Kind::Transcriptions => 3,
            Kind::Translations => 4,
            Kind::Speech => 5,
        }
    }

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

    /// The kind a config or label name stands for.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Config spells kinds by [`Kind::name`]; an unknown one is a load error listing them.
impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Kind::parse(&s).ok_or_else(|| {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            serde::de::Error::custom(format!("unknown kind \"{s}\" ({})", names.join(", ")))
        })
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
        let path = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => path,
        };
        let (endpoint, allowed): (Endpoint, &[&str]) = match path {
            "/v1/chat/completions" => (Endpoint::Chat, &["POST"]),
            "/v1/embeddings" => (Endpoint::Embeddings, &["POST"]),
            "/v1/images/generations" => (Endpoint::ImagesGenerations, &["POST"]),
            "/v1/images/edits" => (Endpoint::ImagesEdits, &["POST"]),
            "/v1/images/variations" => (Endpoint::ImagesVariations, &["POST"]),
            "/v1/audio/transcriptions" => (Endpoint::AudioTranscriptions, &["POST"]),
            "/v1/audio/translations" => (Endpoint::AudioTranslations, &["POST"]),
            "/v1/audio/speech" => (Endpoint::AudioSpeech, &["POST"]),
            "/v1/models" => (Endpoint::Models, &["GET", "HEAD"]),
            "/v1/responses" => (Endpoint::Responses, &["POST"]),
            "/v1/messages" => (Endpoint::Messages, &["POST"]),
            "/v1/messages/count_tokens" => (Endpoint::CountTokens, &["POST"]),
            "/v1/completions" => (Endpoint::Completions, &["POST"]),
            "/v1/responses/input_tokens" => (Endpoint::ResponseInputTokens, &["POST"]),
            // Compaction returns provider-encrypted items: not something a gateway can make.
            // A 404 like any other unserved OpenAI path, not the 405 of a stored id.
            "/v1/responses/compact" => {
                return Err(GatewayError::NotFound {
                    path: path.to_string(),
                })
            }
            "/" => (Endpoint::Root, &["GET", "HEAD"]),
            "/v1beta/models" => (Endpoint::GeminiModels, &["GET", "HEAD"]),
            p if Self::gemini_call(p).is_some() => match Self::gemini_call(p) {
                Some((_, "generateContent")) => (Endpoint::GeminiGenerate, &["POST"]),
                Some((_, "streamGenerateContent")) => (Endpoint::GeminiStream, &["POST"]),
                Some((_, "countTokens")) => (Endpoint::GeminiCountTokens, &["POST"]),
                // embedContent, batchGenerateContent, …: not served.
                _ => {
                    return Err(GatewayError::NotFound {
                        path: path.to_string(),
                    })
                }
            },
            p if Self::gemini_model_id(p).is_some() => (Endpoint::GeminiModel, &["GET", "HEAD"]),
            p if Self::stored_response_id(p).is_some() => {
                (Endpoint::StoredResponse, &["GET", "DELETE"])
            }
            p if Self::model_id(p).is_some() => (Endpoint::Model, &["GET", "HEAD"]),
            p if Self::input_items_id(p).is_some() => (Endpoint::ResponseInputItems, &["GET"]),
            p if Self::cancel_id(p).is_some() => (Endpoint::ResponseCancel, &["POST"]),
            _ => {
                return Err(GatewayError::NotFound {
                    path: path.to_string(),
                })
            }
        };
        if allowed.contains(&method) {
            Ok(endpoint)
        } else {
            Err(GatewayError::MethodNotAllowed {
                method: method.to_string(),
                path: path.to_string(),
            })
        }
    }

    /// The id in `/v1/responses/{id}` (one path segment, no further slashes).
    pub fn stored_response_id(path: &str) -> Option<&str> {
        let id = path.strip_prefix("/v1/responses/")?;
        let id = id.strip_suffix('/').unwrap_or(id);
        (!id.is_empty() && !id.contains('/')).then_some(id)
    }

    /// The id in `/v1/responses/{id}/input_items`.
    pub fn input_items_id(path: &str) -> Option<&str> {
        Self::response_sub(path, "/input_items")
    }

    /// The id in `/v1/responses/{id}/cancel`.
    pub fn cancel_id(path: &str) -> Option<&str> {
        Self::response_sub(path, "/cancel")
    }

    fn response_sub<'a>(path: &'a str, sub: &str) -> Option<&'a str> {
        let id = path.strip_prefix("/v1/responses/")?.strip_suffix(sub)?;
        (!id.is_empty() && !id.contains('/')).then_some(id)
    }

    /// The id in `/v1/models/{id}`: the rest of the path, since model ids may hold a `/`
    /// (`org/model`), as the SDKs put them into the path.
    pub fn model_id(path: &str) -> Option<&str> {
        let id = path.strip_prefix("/v1/models/")?;
        let id = id.strip_suffix('/').unwrap_or(id);
        (!id.is_empty()).then_some(id)
    }

    /// Whether a path is the Gemini API's (`/v1beta/…`): its refusals take Google's shape,
    /// an unknown path or method included.
    /// The Gemini calls whose body carries no model (it is in the path).
    pub fn is_gemini(self) -> bool {
        matches!(
            self,
            Endpoint::GeminiGenerate | Endpoint::GeminiStream | Endpoint::GeminiCountTokens
        )
    }

    pub fn is_gemini_path(path: &str) -> bool {
        path == "/v1beta" || path.starts_with("/v1beta/")
    }

    /// The model and method of `/v1beta/models/{model}:{method}`, the model as it appears in
    /// the path (percent-encoded; see `protocol::gemini::decode_model`).
    pub fn gemini_call(path: &str) -> Option<(&str, &str)> {
        let rest = path.strip_prefix("/v1beta/models/")?;
        let (model, method) = rest.rsplit_once(':')?;
        (!model.is_empty()).then_some((model, method))
    }

    /// The model of `GET /v1beta/models/{model}` (no `:method`), as it appears in the path.
    pub fn gemini_model_id(path: &str) -> Option<&str> {
        let id = path.strip_prefix("/v1beta/models/")?;
        let id = id.strip_suffix('/').unwrap_or(id);
        (!id.is_empty() && !id.contains(':')).then_some(id)
    }

    /// The client protocol an endpoint speaks.
    pub fn protocol(self) -> Protocol {
        match self {
            Endpoint::Responses
            | Endpoint::StoredResponse
            | Endpoint::ResponseInputItems
            | Endpoint::ResponseInputTokens
            | Endpoint::ResponseCancel => Protocol::Responses,
            Endpoint::Messages | Endpoint::CountTokens => Protocol::Messages,
            Endpoint::Completions => Protocol::Completions,
            Endpoint::GeminiGenerate
            | Endpoint::GeminiStream
            | Endpoint::GeminiCountTokens
            | Endpoint::GeminiModels
            | Endpoint::GeminiModel => Protocol::Gemini,
            _ => Protocol::Chat,
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
            // Every chat route serves all four client protocols.
            Endpoint::Responses
            | Endpoint::Messages
            | Endpoint::Completions
            | Endpoint::CountTokens
            | Endpoint::ResponseInputTokens
            | Endpoint::GeminiGenerate
            | Endpoint::GeminiStream
            | Endpoint::GeminiCountTokens => Kind::Chat,
            Endpoint::Models
            | Endpoint::Model
            | Endpoint::GeminiModels
            | Endpoint::GeminiModel
            | Endpoint::StoredResponse
            | Endpoint::ResponseInputItems
            | Endpoint::ResponseCancel
            | Endpoint::Root => return None,
        })
    }

    pub fn body_format(self) -> BodyFormat {
        match self {
            Endpoint::ImagesEdits
            | Endpoint::ImagesVariations
            | Endpoint::AudioTranscriptions
            | Endpoint::AudioTranslations => BodyFormat::Multipart,
            Endpoint::Models
            | Endpoint::Model
            | Endpoint::StoredResponse
            | Endpoint::ResponseInputItems
            | Endpoint::ResponseCancel
            | Endpoint::Root
            | Endpoint::GeminiModels
            | Endpoint::GeminiModel => BodyFormat::None,
            _ => BodyFormat::Json,
        }
    }

    /// The path below the provider's base URL (`/chat/completions` under `…/v1`); translated
    /// protocols go to the chat path.
    pub fn upstream_suffix(self) -> &'static str {
        match self {
            Endpoint::Chat
            | Endpoint::Responses
            | Endpoint::Messages
            | Endpoint::CountTokens
            | Endpoint::ResponseInputTokens
            | Endpoint::GeminiGenerate
            | Endpoint::GeminiStream
            | Endpoint::GeminiCountTokens => "/chat/completions",
            Endpoint::Completions => "/completions",
            Endpoint::StoredResponse | Endpoint::ResponseInputItems | Endpoint::ResponseCancel => {
                "/responses"
            }
            Endpoint::Root => "/",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::ImagesGenerations => "/images/generations",
            Endpoint::ImagesEdits => "/images/edits",
            Endpoint::ImagesVariations => "/images/variations",
            Endpoint::AudioTranscriptions => "/audio/transcriptions",
            Endpoint::AudioTranslations => "/audio/translations",
            Endpoint::AudioSpeech => "/audio/speech",
            Endpoint::Models | Endpoint::Model | Endpoint::GeminiModels | Endpoint::GeminiModel => {
                "/models"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all() {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i);
        }
    }

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
        assert_eq!(
            Endpoint::classify("GET", "/v1/responses/resp_1/input_items"),
            Ok(Endpoint::ResponseInputItems)
        );
        assert_eq!(
            Endpoint::classify("POST", "/v1/responses/input_tokens"),
            Ok(Endpoint::ResponseInputTokens)
        );
        assert_eq!(
            Endpoint::classify("POST", "/v1/responses/resp_1/cancel"),
            Ok(Endpoint::ResponseCancel)
        );
        assert_eq!(
            Endpoint::classify("POST", "/v1/responses/compact")
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(
            Endpoint::classify("GET", "/v1/models/org/model-1"),
            Ok(Endpoint::Model)
        );
        assert_eq!(
            Endpoint::model_id("/v1/models/org/model-1/"),
            Some("org/model-1")
        );
        assert_eq!(Endpoint::model_id("/v1/models/"), None);
        assert_eq!(
            Endpoint::classify("POST", "/v1/models/m")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            Endpoint::classify("DELETE", "/v1/responses/resp_1"),
            Ok(Endpoint::StoredResponse)
        );
        assert_eq!(
            Endpoint::classify("POST", "/v1/messages/"),
            Ok(Endpoint::Messages)
        );
        assert_eq!(Endpoint::classify("HEAD", "/"), Ok(Endpoint::Root));
        assert!(Endpoint::classify("GET", "/v1/responses/a/b").is_err());
    }

    #[test]
    fn classify_gemini() {
        let c = |m, p| Endpoint::classify(m, p);
        assert_eq!(
            c("POST", "/v1beta/models/gemini-2.5-pro:generateContent"),
            Ok(Endpoint::GeminiGenerate)
        );
        assert_eq!(
            c("POST", "/v1beta/models/hy:streamGenerateContent"),
            Ok(Endpoint::GeminiStream)
        );
        assert_eq!(
            c("POST", "/v1beta/models/models/hy:countTokens"),
            Ok(Endpoint::GeminiCountTokens)
        );
        assert_eq!(c("GET", "/v1beta/models"), Ok(Endpoint::GeminiModels));
        assert_eq!(c("GET", "/v1beta/models/"), Ok(Endpoint::GeminiModels));
        assert_eq!(c("GET", "/v1beta/models/hy"), Ok(Endpoint::GeminiModel));
        assert_eq!(
            c("POST", "/v1beta/models/hy:embedContent")
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(
            c("POST", "/v1beta/models/:generateContent")
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(
            c("GET", "/v1beta/models/hy:generateContent")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            Endpoint::gemini_call("/v1beta/models/a%2Fb:countTokens"),
            Some(("a%2Fb", "countTokens"))
        );
        for e in [Endpoint::GeminiGenerate, Endpoint::GeminiModels] {
            assert_eq!(e.protocol(), Protocol::Gemini);
        }
        assert_eq!(Endpoint::GeminiStream.kind(), Some(Kind::Chat));
        assert_eq!(Endpoint::GeminiModel.kind(), None);
    }
}
