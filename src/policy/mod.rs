//! Who may ask for what, and how much: client keys, the limits (requests and tokens per
//! minute and day, requests in flight), in-process or shared through Redis.
pub mod auth;
pub mod cors;
pub mod limit;
pub mod local;
pub mod managed;
pub mod pool_slots;
pub mod quota;
pub mod shared_limits;
