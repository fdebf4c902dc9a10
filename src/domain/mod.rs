//! Pure domain types and rules: identifiers, roles, SNILS/INN, form field rules.
//! Nothing here touches the web framework, the database or the wall clock.

pub mod backoff;
pub mod calendar;
pub mod clock;
pub mod ids;
pub mod inn;
pub mod ogrn;
pub mod person;
pub mod person_name;
pub mod phone;
pub mod role;
pub mod snils;
