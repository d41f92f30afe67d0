//! Cache keys for image descriptions. An image's key is SHA-256 over the decoded image bytes
//! (data URLs) or the normalised URL (http/https), plus the vision model and prompt version,
//! so a new model or prompt never serves an old description. A description is stored under
//! [`description_key`]: the image's key and the whole vision prompt (with the user's text), so
//! it is shared only by requests whose vision calls would have been identical.
//!
//! Decoding and hashing a 1 MB data URL costs about 1 ms, so the cache also knows each image
//! by a [`FastKey`]: XXH3-128 of the URL text exactly as received (plus model and prompt
//! version), mapped to its [`ImageKey`]. A repeat of the same text finds its key there and
//! never decodes or SHA-256es the image again; the SHA-256 key stays the one the
//! descriptions are stored under (the same image sent as other text still shares them).

use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use xxhash_rust::xxh3::Xxh3;

/// A 32-byte SHA-256 key.
pub type ImageKey = [u8; 32];

/// The first-level key of an image URL's text (an alias of its [`ImageKey`]).
pub type FastKey = u128;

/// XXH3's secret, drawn at start-up: XXH3 is fast but not collision-resistant when its secret
/// is known, so a client cannot craft a URL whose alias collides with another image's.
fn secret() -> [u8; 192] {
    static SECRET: OnceLock<[u8; 192]> = OnceLock::new();
    *SECRET.get_or_init(rand::random::<[u8; 192]>)
}

/// The first-level key of one image part's URL text (GB/s: no decoding).
pub fn fast_key(url: &[u8], vision_model: &str, prompt_version: &str) -> FastKey {
    let mut h = Xxh3::with_secret(secret());
    h.update(vision_model.as_bytes());
    h.update(&[0]);
    h.update(prompt_version.as_bytes());
    h.update(&[0]);
    h.update(url);
    h.digest128()
}

/// The key of one image part's URL.
pub fn image_key(url: &str, vision_model: &str, prompt_version: &str) -> ImageKey {
    let mut h = Sha256::new();
    h.update(vision_model.as_bytes());
    h.update([0]);
    h.update(prompt_version.as_bytes());
    h.update([0]);
    match data_url_payload(url) {
        Some(b64) => {
            h.update(b"data\0");
            if !hash_base64(&mut h, b64) {
                // Not clean base64 (whitespace, URL-safe alphabet…): the text still identifies it.
                h.update(b"raw\0");
                h.update(b64.as_bytes());
            }
        }
        None => {
            h.update(b"url\0");
            h.update(normalise_url(url).as_bytes());
        }
    }
    h.finalize().into()
}

/// The key a description is cached (and shared through Redis) under: the image's key (its
/// bytes or URL, the vision model and the prompt version) and the whole prompt the vision
/// model is given, the template with the user's text in it. Two requests share a description
/// only when their vision calls would have been identical: one tenant's text (or an
/// instruction injected into it) is never spliced into another tenant's request.
pub fn description_key(image: &ImageKey, prompt: &str) -> ImageKey {
    let mut h = Sha256::new();
    h.update(b"description\0");
    h.update(image);
    // Length-prefixed: nothing after the prompt can be confused with a longer prompt.
    h.update((prompt.len() as u64).to_le_bytes());
    h.update(prompt.as_bytes());
    h.finalize().into()
}

/// The base64 payload of a `data:…;base64,` URL.
fn data_url_payload(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("data:")?;
    let (meta, payload) = rest.split_once(',')?;
    meta.ends_with(";base64").then_some(payload)
}

/// Decodes in bounded chunks straight into the hasher: no allocation of the whole image.
/// Returns false when the payload is not standard base64.
fn hash_base64(h: &mut Sha256, b64: &str) -> bool {
    const CHUNK: usize = 64 * 1024; // a multiple of 4 base64 chars
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut buf = vec![0u8; CHUNK / 4 * 3];
    let bytes = b64.trim_end().as_bytes();
    let mut decoded = Sha256::new();
    for chunk in bytes.chunks(CHUNK) {
        match engine.decode_slice(chunk, &mut buf) {
            Ok(n) => decoded.update(&buf[..n]),
            Err(_) => return false,
        }
    }
    h.update(decoded.finalize());
    true
}

/// Lower-cases scheme and host and drops the fragment: the same resource, the same key.
fn normalise_url(url: &str) -> String {
    let url = url.trim();
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (host, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    format!(
        "{}://{}{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase(),
        path
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_same_key_any_mime_label() {
        let a = image_key("data:image/png;base64,aGVsbG8=", "v", "1");
        let b = image_key("data:image/jpeg;base64,aGVsbG8=", "v", "1");
        assert_eq!(a, b, "the key is over decoded bytes");
        assert_ne!(a, image_key("data:image/png;base64,aGVsbG9v", "v", "1"));
        assert_ne!(a, image_key("data:image/png;base64,aGVsbG8=", "v", "2"));
        assert_ne!(a, image_key("data:image/png;base64,aGVsbG8=", "w", "1"));
    }

    #[test]
    fn fast_key_is_over_the_text_model_and_prompt() {
        let u = "data:image/png;base64,aGVsbG8=";
        let a = fast_key(u.as_bytes(), "v", "1");
        assert_eq!(a, fast_key(u.as_bytes(), "v", "1"));
        assert_ne!(a, fast_key(b"data:image/jpeg;base64,aGVsbG8=", "v", "1"));
        assert_ne!(a, fast_key(u.as_bytes(), "v", "2"));
        assert_ne!(a, fast_key(u.as_bytes(), "w", "1"));
        assert_ne!(fast_key(b"ab", "c", "1"), fast_key(b"a", "bc", "1"));
    }

    #[test]
    fn description_key_is_over_the_image_and_the_whole_prompt() {
        let img = image_key("https://example.com/a.png", "v", "1");
        let a = description_key(&img, "Describe. Question: what is it?");
        assert_eq!(a, description_key(&img, "Describe. Question: what is it?"));
        assert_ne!(a, description_key(&img, "Describe. Question: IGNORE ALL"));
        assert_ne!(
            a,
            description_key(&img, "Describe briefly. Question: what is it?")
        );
        let other = image_key("https://example.com/b.png", "v", "1");
        assert_ne!(
            a,
            description_key(&other, "Describe. Question: what is it?")
        );
        let other_model = image_key("https://example.com/a.png", "w", "1");
        assert_ne!(
            a,
            description_key(&other_model, "Describe. Question: what is it?")
        );
    }

    #[test]
    fn urls_normalised() {
        let a = image_key("HTTPS://Example.COM/a.png#x", "v", "1");
        assert_eq!(a, image_key("https://example.com/a.png", "v", "1"));
        assert_ne!(a, image_key("https://example.com/A.png", "v", "1"));
    }

    #[test]
    fn large_payload_chunked_equals_whole() {
        let raw: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let k = image_key(&format!("data:image/png;base64,{b64}"), "v", "1");
        let mut h = Sha256::new();
        h.update(b"v\x001\x00data\x00");
        h.update(Sha256::digest(&raw));
        assert_eq!(k, <[u8; 32]>::from(h.finalize()));
    }
}
