//! The closed sets the file sections name, parsed by serde. They live here, with the
//! sections, so that `config::file` needs nothing from the layers that act on them: the
//! Redis failure policy (`crate::state::redis`), the cascade's (`crate::cascade`) and a
//! route's response cache mode (`crate::upstream::route`).

/// Where keys managed at run time are kept (`auth.store.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// One embedded SQLite file (`auth.store.path`).
    Sqlite,
    /// The shared `redis:`.
    Redis,
}

/// What requests that need shared state do while Redis is away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisOnFailure {
    /// Per-instance counters (limits divided by `instances`) and the in-process caches.
    #[default]
    Local,
    /// 503 in the client's protocol.
    Refuse,
}

/// What to do when an image cannot be described.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CascadeOnFailure {
    /// Refuse the request with a 502 that names the vision failure.
    #[default]
    Fail,
    /// Go on with a marked placeholder text.
    Placeholder,
}

/// Which answers of a route the exact response cache keeps (`routes[].cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    /// Embeddings, and chat at `temperature: 0` or with `x-llm-relay-cache: on`.
    #[default]
    Auto,
    /// Every chat too.
    Always,
    Never,
}
