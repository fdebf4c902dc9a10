//! Documents of a case: safe inspection of untrusted PDF/JPEG/PNG files in a worker process.
//! (Upload, storage, lifecycle and the readiness report are still to come.)

pub mod inspect;
pub mod worker;
