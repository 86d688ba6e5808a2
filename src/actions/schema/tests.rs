//! Input validation tests.
