//! Security: translate (see docs/security.md).

#[allow(unused_imports)]
use crate::common;
