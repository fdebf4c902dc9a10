//! Identity: session tokens and server-side sessions. (Login through the OpenID provider
//! builds on this.)

pub mod session;
pub mod token;
