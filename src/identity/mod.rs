//! Identity: login through an OpenID provider, session tokens and server-side sessions, and
//! the built-in demo provider.

pub mod account;
pub mod claims;
pub mod demo_idp;
pub mod keys;
pub mod login;
pub mod oidc;
pub mod provider;
pub mod session;
pub mod token;
