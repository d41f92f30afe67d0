//! Built-in guardrails (issue 21): pure functions over text that later stages of the request
//! pipeline apply to what goes upstream (and, optionally, to what is logged).
//!
//! [`pii`]: personal data and secrets found by shape and confirmed by their checksums where
//! they have one (a card number by Luhn, a mainland China resident ID by its ISO 7064 check
//! character), so that an order number or a timestamp is not taken for one.
pub mod pii;
