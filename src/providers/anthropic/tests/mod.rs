//! Unit tests of the Anthropic provider, one file per concern.

mod decode;
mod errors;
mod fields;
mod props;
mod render;
mod roundtrip;
mod stream;
