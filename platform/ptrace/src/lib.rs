//! The platform using ptrace (owned by the ptrace work).
