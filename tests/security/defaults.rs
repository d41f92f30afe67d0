//! Security: defaults (see docs/security.md).

#[allow(unused_imports)]
use crate::common;
