//! The gofer: 9P2000.L file server (owned by the p9 work).
