//! Synchronous 9P2000.L client over a connected Unix stream socket to the gofer.
//!
//! API contract shared by the gofer/p9 work (which implements the bodies) and the vfs p9fs
//! filesystem (which calls them). The bodies below are placeholders until the p9 work lands.

use std::os::unix::net::UnixStream;
use std::sync::Arc;

use abi::{Errno, SysResult};
use p9::{Attr, DirEntry, Qid, StatFs};

/// A connection to one 9P server. Thread-safe: concurrent calls are allowed (tagged requests).
#[derive(Debug)]
pub struct Client {
    _sock: UnixStream,
}

/// An open fid on the server; clunked (Tclunk) when dropped.
#[derive(Debug)]
pub struct Fid {
    pub client: Arc<Client>,
    pub fid: u32,
}

impl Client {
    /// Negotiates the version (Tversion "9P2000.L", msize) over `sock`.
    pub fn new(sock: UnixStream) -> SysResult<Arc<Client>> {
        Ok(Arc::new(Client { _sock: sock }))
    }
    /// Tattach to the export root.
    pub fn attach(self: &Arc<Self>, _aname: &[u8]) -> SysResult<(Fid, Qid)> {
        Err(Errno::ENOSYS)
    }
}

impl Fid {
    /// Twalk: a new fid for `names` walked from this one (empty `names` clones the fid).
    /// Fails with the walk error if not all components exist.
    pub fn walk(&self, _names: &[&[u8]]) -> SysResult<(Fid, Vec<Qid>)> {
        Err(Errno::ENOSYS)
    }
    /// Walk one name and getattr the result (two pipelined requests, one round trip when the
    /// server supports it).
    pub fn walk_getattr(&self, _name: &[u8]) -> SysResult<(Fid, Attr)> {
        Err(Errno::ENOSYS)
    }
    /// Tgetattr with P9_GETATTR_BASIC.
    pub fn getattr(&self) -> SysResult<Attr> {
        Err(Errno::ENOSYS)
    }
    /// Tlopen with Linux open flags (O_RDONLY etc.); returns the qid and iounit.
    pub fn lopen(&self, _flags: u32) -> SysResult<(Qid, u32)> {
        Err(Errno::ENOSYS)
    }
    /// Tread at `offset` into `buf`; splits into msize-sized requests; returns bytes read
    /// (short only at EOF).
    pub fn read(&self, _offset: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::ENOSYS)
    }
    /// Treaddir from `offset` with a `count`-byte reply budget. Empty vec at end.
    pub fn readdir(&self, _offset: u64, _count: u32) -> SysResult<Vec<DirEntry>> {
        Err(Errno::ENOSYS)
    }
    /// Treadlink.
    pub fn readlink(&self) -> SysResult<Vec<u8>> {
        Err(Errno::ENOSYS)
    }
    /// Tstatfs.
    pub fn statfs(&self) -> SysResult<StatFs> {
        Err(Errno::ENOSYS)
    }
}
