//! Real Google clients through the gateway: placeholder, filled in below.
