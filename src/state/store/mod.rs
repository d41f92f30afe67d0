//! Stored Responses: what a `previous_response_id` names (its conversation and the response),
//! and what `GET`/`DELETE /v1/responses/{id}` serve.
//!
//! - **Owned.** An entry belongs to the key that stored it (its id; `None` when the gateway
//!   runs without keys, so keyless requests share: the single-tenant case). Every lookup
//!   takes the owner, and another owner's entry answers exactly as an unknown id.
//! - **Shared.** A follow-up's conversation is its new items after the stored one
//!   ([`History`]): turns share their history instead of copying it.
//! - **Bounded in bytes.** An entry weighs its whole conversation and response (so the total
//!   bounds memory even though turns share it), the store holds `responses.max_bytes`, and an
//!   entry over `responses.max_entry_bytes` is not kept: a small marker says why, and a
//!   follow-up gets a 400 naming the cap instead of a silent 404.
//!
//! In-process by default ([`MemoryStore`]), in Redis with it ([`RedisStore`]); the trait is
//! async so the request path does not care which.

pub mod history;
mod memory;
mod shared;

pub use memory::MemoryStore;
pub use shared::RedisStore;

use crate::core::error::GatewayError;
use crate::state::store::history::{weigh, History};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Who an entry belongs to: the id of the key that stored it, `None` without keys.
pub type Owner<'a> = Option<&'a str>;

/// One stored response.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    /// The id of the key that stored it (`None`: stored by a keyless request).
    pub owner: Option<String>,
    /// The conversation up to this response's input (`input_items`).
    pub input: Arc<History>,
    /// `input`, then this response's output: what a follow-up continues.
    pub history: Arc<History>,
    /// The response object as the client received it.
    pub response: Arc<Value>,
    /// The estimated memory of the entry ([`weigh`]): its whole conversation and the response.
    pub bytes: u64,
}

impl Stored {
    pub fn new(id: String, owner: Option<String>, input: Arc<History>, response: Value) -> Stored {
        let output = response
            .get("output")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let history = History::after(Some(&input), output);
        let bytes = (history.bytes() + weigh(&response) + id.len()) as u64;
        Stored {
            id,
            owner,
            input,
            history,
            response: Arc::new(response),
            bytes,
        }
    }
}

/// Why a lookup found nothing for this owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// Unknown, expired, deleted, or another key's (indistinguishable on purpose).
    Missing,
    /// The response was answered but not kept: its entry (`bytes`) was over the cap (`max`).
    TooLarge { bytes: u64, max: u64 },
}

impl NotStored {
    /// The client's error for `id`: the 404 of an unknown id, or a 400 naming the cap (`param`:
    /// the request field that named the id, if any).
    pub fn error(self, id: &str, param: Option<&str>) -> GatewayError {
        match self {
            NotStored::Missing => GatewayError::ResponseNotFound { id: id.to_string() },
            NotStored::TooLarge { bytes, max } => GatewayError::BadRequest {
                message: format!(
                    "The response '{id}' was answered but not stored: its conversation \
                     ({bytes} bytes) is over what this gateway keeps for one response \
                     ({max} bytes, `responses.max_entry_bytes`). Send the conversation in \
                     `input` instead of naming it."
                ),
                param: param.map(str::to_string),
                code: Some("response_not_stored"),
            },
        }
    }
}

/// Where stored responses live. Every lookup names the owner, so no caller can forget it.
#[async_trait]
pub trait ResponseStore: Send + Sync {
    /// The response `id` if `owner` stored it.
    async fn get(&self, id: &str, owner: Owner<'_>) -> Result<Stored, NotStored>;
    /// Called when a response has ended (from a response filter: must not block; a store that
    /// does I/O spawns it). An entry over the entry cap is kept as a marker only.
    fn put(&self, s: Stored);
    /// Deletes `id` if `owner` stored it; whether it did.
    async fn delete(&self, id: &str, owner: Owner<'_>) -> bool;
}

/// The store's bounds (`responses:`; start-up settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// At most this many entries: every entry weighs at least `max_bytes / max_entries`.
    pub max_entries: usize,
    pub ttl: Duration,
    /// The estimated bytes of all entries.
    pub max_bytes: u64,
    /// One entry (its whole conversation and the response); more is not stored.
    pub max_entry_bytes: u64,
}

impl Default for Sizing {
    fn default() -> Self {
        Sizing {
            max_entries: 10_000,
            ttl: Duration::from_secs(3600),
            max_bytes: 256 << 20,
            max_entry_bytes: 32 << 20,
        }
    }
}
