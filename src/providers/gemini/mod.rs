//! Gemini `generateContent` as an upstream: chat → Gemini request, Gemini answer → chat.
