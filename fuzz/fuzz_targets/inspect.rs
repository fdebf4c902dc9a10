//! Fuzz target: the document inspector on arbitrary bytes, in process (the server runs it in
//! a limited worker process). A finding is a panic that escapes the inspector, an abort, a
//! stack overflow, a leak, excessive memory or a hang. Panics the inspector catches itself
//! (third-party parsers panic on some malformed files; the inspector names them `corrupt_pdf`)
//! are not findings: libfuzzer-sys aborts on every panic by default, so the default hook is put
//! back. Findings so far are kept in `fuzz/regressions` and replayed by the tests.
#![no_main]

use accredo::documents::inspect::{Limits, inspect};
use libfuzzer_sys::fuzz_target;
use std::sync::Once;

static QUIET_CAUGHT_PANICS: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET_CAUGHT_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    // Whatever the bytes, inspection answers: a report or a refusal with a code.
    match inspect(data, Limits::default()) {
        Ok(report) => assert!(report.problems.iter().all(|p| !p.code.is_empty())),
        Err(problem) => assert!(!problem.code.is_empty()),
    }
});
