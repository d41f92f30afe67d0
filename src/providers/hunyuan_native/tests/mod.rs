//! Unit tests of the native Hunyuan provider, one file per concern.

mod decode;
mod errors;
mod render;
mod stream;
