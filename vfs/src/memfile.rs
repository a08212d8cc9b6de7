//! MemoryFile (owned by the mm work).
