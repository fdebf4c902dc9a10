#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a failing test should stop loudly"
)]

//! The one integration-test binary. Every test gets a fresh database (SQLite, or PostgreSQL
//! when ACCREDO_TEST_DATABASE_URL is set) and a real server on port 0.

mod access;
mod audit;
mod calendar;
mod cases;
mod cli;
mod clock_skew;
mod concurrency;
mod consent;
mod deadlines;
mod delivery;
mod documents;
mod help_desk;
mod http_api;
mod intake;
mod login;
mod metrics;
mod migrations;
mod notifications;
mod outage;
mod pki;
mod registry;
mod registry_api;
mod registry_check;
mod review;
mod rogue_idp;
mod signing;
mod std_idp;
mod support;
mod timers;
mod workflows;
