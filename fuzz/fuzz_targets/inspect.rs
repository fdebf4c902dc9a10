//! Fuzz target: the document inspector on arbitrary bytes, in process (the server runs it in
//! a limited worker process; here any panic that escapes it, abort, overflow, leak or hang is a
//! finding). Findings so far are kept in `fuzz/regressions` and replayed by the tests.
#![no_main]

use accredo::documents::inspect::{Limits, inspect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Whatever the bytes, inspection answers: a report or a refusal with a code.
    match inspect(data, Limits::default()) {
        Ok(report) => assert!(report.problems.iter().all(|p| !p.code.is_empty())),
        Err(problem) => assert!(!problem.code.is_empty()),
    }
});
