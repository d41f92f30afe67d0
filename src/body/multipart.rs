//! Finding the `model` field of a multipart upload (audio transcription, image edits), so
//! uploads route by model like JSON requests do. The body is already in memory (capped); the
//! upload itself is forwarded unchanged.

use crate::core::error::GatewayError;
use bytes::Bytes;

/// What routing and validation need from a multipart form.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FormSummary {
    pub model: Option<String>,
    /// Names of the file parts (e.g. `file`, `image`).
    pub files: Vec<String>,
    /// Names of the text fields.
    pub fields: Vec<String>,
}

/// Parses the form enough to read its text `model` field and list its file parts.
pub async fn summarize(
    content_type: Option<&str>,
    body: Bytes,
) -> Result<FormSummary, GatewayError> {
    let ct = content_type.ok_or_else(|| {
        GatewayError::bad_request(
            "This endpoint takes multipart/form-data; Content-Type is missing.",
        )
    })?;
    let boundary = multer::parse_boundary(ct).map_err(|_| {
        GatewayError::bad_request(format!(
            "This endpoint takes multipart/form-data with a boundary; got Content-Type `{ct}`."
        ))
    })?;
    let stream = futures::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut out = FormSummary::default();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(GatewayError::bad_request(format!(
                    "Malformed multipart body: {e}"
                )))
            }
        };
        let name = field.name().unwrap_or("").to_string();
        if field.file_name().is_some() {
            if name == "model" {
                return Err(GatewayError::bad_param(
                    "The form's `model` must be a text field, not a file.",
                    "model",
                ));
            }
            out.files.push(name);
            continue;
        }
        out.fields.push(name.clone());
        if name == "model" {
            if out.model.is_some() {
                // The gateway routes and authorizes by one `model`; a provider may read the
                // other. Two are refused rather than guessed at.
                return Err(GatewayError::bad_param(
                    "The form has more than one `model` field; send exactly one.",
                    "model",
                ));
            }
            let text = field.text().await.map_err(|e| {
                GatewayError::bad_param(format!("Unreadable `model` field: {e}"), "model")
            })?;
            out.model = Some(text.trim().to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finds_model_and_files() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF....\r\n--XX\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--XX--\r\n";
        let s = summarize(Some("multipart/form-data; boundary=XX"), Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(s.model.as_deref(), Some("whisper-1"));
        assert_eq!(s.files, vec!["file".to_string()]);
        let twice = body.replace(
            "--XX--",
            "--XX\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-4o\r\n--XX--",
        );
        let e = summarize(Some("multipart/form-data; boundary=XX"), Bytes::from(twice))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(summarize(Some("application/json"), Bytes::new())
            .await
            .is_err());
    }
}
