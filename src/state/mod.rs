//! State that outlives a request and may be shared between instances: the Redis connection
//! and its failure policy ([`redis`]), the stored Responses ([`store`]), the cascade's image
//! description caches ([`image_cache`] in process, [`shared_cache`] in Redis) and the exact
//! response cache ([`response_cache`]). Each sits behind its own small type with an
//! in-process form and a Redis form; nothing here knows about routing or the proxy.
pub mod image_cache;
pub mod redis;
pub mod response_cache;
pub mod shared_cache;
pub mod store;
