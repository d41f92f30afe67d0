//! The request body before it is routed: read whole within its limits ([`read`]), the
//! counts a request may carry ([`caps`]), the cheap first look at a JSON body ([`validate`])
//! and the `model` of multipart uploads ([`multipart`]).
pub mod caps;
pub mod multipart;
pub mod read;
pub mod validate;
