//! ELF loader (owned by the mm work).
