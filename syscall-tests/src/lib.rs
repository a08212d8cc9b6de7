//! Conformance tests (owned by the tests work).
