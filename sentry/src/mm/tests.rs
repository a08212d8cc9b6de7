//! Unit tests of the memory manager (see mod.rs).
