//! Notifications: what a change tells people, written to the outbox (the `notifications`
//! table) in the change's own commit by the `notify` effect, one row per recipient and
//! channel. A change that rolls back tells nobody anything. Texts come from templates
//! (`templates/notifications/{event}.{channel}.j2`, in Russian), checked at load.
//!
//! Channels: `inapp`, the list in the personal cabinet, delivered by the commit itself; and
//! `email`, `sms`, `push`, each delivered by its dispatcher ([`dispatch`]) once configured.

pub mod dispatch;
pub mod email;
pub mod outbox;
pub mod reminders;
pub mod routes;
pub mod templates;
pub mod webhook;
