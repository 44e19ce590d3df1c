//! Filled by the generate tests.
