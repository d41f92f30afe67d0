//! Security (issue 18) through the real gateway: one module per area. `docs/security.md` maps
//! each item of the threat model to the test that covers it.

#[path = "../common/mod.rs"]
mod common;

mod admission;
mod cascade;
mod defaults;
mod store;
mod translate;
