//! Interim stand-ins for memory-manager calls the kernel needs (fork, futex keys, atomics)
//! while their real implementations land; see the module doc of `mm`.
//! TEMPORARY: removed when the copy-on-write and atomics work merges.

use abi::{Errno, SysResult};
use platform::AddressSpace;
use std::sync::Arc;

use super::MemoryManager;

/// A futex key as mm sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FutexKey {
    Private(u64),
    Shared(u64),
}

/// FUTEX_WAKE_OP operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicOp {
    Set,
    Add,
    Or,
    AndNot,
    Xor,
}

impl MemoryManager {
    pub fn fork(&self, _asp: Arc<dyn AddressSpace>) -> SysResult<MemoryManager> {
        Err(Errno::ENOMEM)
    }
    pub fn futex_key(&self, addr: u64, _private: bool) -> SysResult<FutexKey> {
        let _: u32 = self.copy_in_obj(addr)?;
        Ok(FutexKey::Private(addr))
    }
    pub fn load_u32(&self, addr: u64) -> SysResult<u32> {
        self.copy_in_obj(addr)
    }
    pub fn compare_exchange_u32(
        &self,
        addr: u64,
        old: u32,
        new: u32,
    ) -> SysResult<Result<u32, u32>> {
        let cur: u32 = self.copy_in_obj(addr)?;
        if cur != old {
            return Ok(Err(cur));
        }
        self.copy_out_obj(addr, &new)?;
        Ok(Ok(cur))
    }
    pub fn atomic_op_u32(&self, addr: u64, op: AtomicOp, arg: u32) -> SysResult<u32> {
        let cur: u32 = self.copy_in_obj(addr)?;
        let new = match op {
            AtomicOp::Set => arg,
            AtomicOp::Add => cur.wrapping_add(arg),
            AtomicOp::Or => cur | arg,
            AtomicOp::AndNot => cur & !arg,
            AtomicOp::Xor => cur ^ arg,
        };
        self.copy_out_obj(addr, &new)?;
        Ok(cur)
    }
}
