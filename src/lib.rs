//! accredo: the workflow engine behind the medical worker accreditation cabinet.
//!
//! Layers point one way: `http` → `service` → `engine` → `domain`, with `store` (diesel),
//! `audit` and `identity` as side capabilities. See `README.md` for how to run it.

pub mod accreditation;
pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod config_check;
pub mod config_file;
pub mod documents;
pub mod domain;
pub mod engine;
pub mod http;
pub mod identity;
pub mod mail_intake;
pub mod metrics;
pub mod notify;
pub mod pdf_text;
pub mod receipt;
pub mod registry;
pub mod reports;
pub mod service;
pub mod signature;
pub mod store;
pub mod workers;
