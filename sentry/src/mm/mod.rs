//! Memory management (owned by the mm work).
