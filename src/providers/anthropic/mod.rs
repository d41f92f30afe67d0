//! Anthropic Messages as an upstream: chat → Messages request, Messages answer → chat.
