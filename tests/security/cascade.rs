//! Security: cascade (see docs/security.md).

#[allow(unused_imports)]
use crate::common;
