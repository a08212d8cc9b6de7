//! Which access a fault was, decoded from the faulting instruction, for platforms that cannot
//! say (ptrace reports SIGSEGV with the address only).
//!
//! The decision is a pure function, [`classify`], of the instruction bytes at `rip`, the
//! registers and the fault address, so it is tested with hand-assembled bytes. The memory
//! manager reads the bytes through the MemoryFile (`MemoryManager::peek_locked`, which never
//! allocates) and calls it on the fault path; decoding one instruction with iced-x86 costs well
//! under a microsecond, against ~20 µs for a ptrace fault round trip, and a correct answer
//! saves a second fault (a read of untouched memory maps the zero page instead of allocating;
//! a write to a COW page copies it at once instead of mapping it read-only first).
//!
//! Rules (page granular, because faults are):
//! 1. A memory operand the instruction writes (iced `OpAccess::Write`, `CondWrite`,
//!    `ReadWrite`, `ReadCondWrite`) covers the fault page → `Write`. Write wins when a read and
//!    a write operand both cover it (`movs` within one page).
//! 2. Otherwise, the fault page holds the instruction's own bytes → `Exec` (a fetch fault: the
//!    data accesses cannot have run).
//! 3. Otherwise, a memory operand it reads covers the fault page → `Read`.
//! 4. Anything else → `Unknown` (undecodable bytes, 32-bit code, an operand address that
//!    depends on vector registers, or no operand covering the address: an implicit access
//!    iced does not model). `Unknown` keeps ptrace's old behaviour, which allocates.
//!
//! Rep-prefixed string instructions may fault ahead of `rdi`/`rsi` (fast-string microcode
//! works in larger chunks, in either direction with DF), so their operands cover one page
//! either side as well. The manager treats the answer as a hint: a wrong one costs at most one
//! extra fault, because a second fault of the same instruction (`rip` and `rsp`) on the same
//! page is not decoded again but handled as `Unknown`, and a decoded kind the mapping does not
//! allow is handled as `Unknown` instead of raising a signal.

use iced_x86::{Decoder, DecoderOptions, InstructionInfoFactory, OpAccess, Register};
use platform::Regs;

use abi::mm::{PAGE_SIZE, page_align_down};

use super::FaultAccess;

/// The longest x86 instruction.
pub(super) const MAX_INSN_LEN: usize = 15;

/// The user code segment selector of 64-bit code (`__USER_CS`); anything else (0x23, 32-bit
/// compat code) is not decoded.
const USER_CS_64: u64 = 0x33;

/// Classifies a fault at `addr` by the instruction whose bytes start `code` (read at
/// `regs.rip`; may be shorter than the instruction if the rest is not backed).
pub(super) fn classify(code: &[u8], regs: &Regs, addr: u64) -> FaultAccess {
    let fault_page = page_align_down(addr);
    let rip = regs.rip;
    // The page just past the readable bytes: a fetch there faulted if decoding runs short.
    let fetch_page_after = rip
        .checked_add(code.len() as u64)
        .map(page_align_down)
        .filter(|_| code.len() < MAX_INSN_LEN);
    if regs.cs != USER_CS_64 {
        return FaultAccess::Unknown;
    }
    let Ok(mut decoder) = Decoder::try_with_ip(64, code, rip, DecoderOptions::NONE) else {
        return FaultAccess::Unknown;
    };
    let insn = decoder.decode();
    if insn.is_invalid() {
        // Out of bytes: the rest of the instruction is on the fault page.
        return if fetch_page_after == Some(fault_page) {
            FaultAccess::Exec
        } else {
            FaultAccess::Unknown
        };
    }
    let rep = insn.has_rep_prefix() || insn.has_repe_prefix() || insn.has_repne_prefix();
    let slack = if rep { PAGE_SIZE } else { 0 };
    let mut factory = InstructionInfoFactory::new();
    let info = factory.info(&insn);
    let (mut read, mut write, mut unsure) = (false, false, false);
    for mem in info.used_memory() {
        let writes = match mem.access() {
            OpAccess::Write
            | OpAccess::CondWrite
            | OpAccess::ReadWrite
            | OpAccess::ReadCondWrite => true,
            OpAccess::Read | OpAccess::CondRead => false,
            OpAccess::None | OpAccess::NoMemAccess => continue,
        };
        // Gathers and scatters (VSIB): one address per vector element; not worth decoding.
        let ea = if mem.vsib_size() != 0 {
            None
        } else {
            mem.virtual_address(0, |reg, _, _| register_value(regs, reg))
        };
        let Some(ea) = ea else {
            unsure |= writes;
            continue;
        };
        let size = mem.memory_size().size().max(1) as u64;
        let first = page_align_down(ea).wrapping_sub(slack);
        let last = page_align_down(ea.wrapping_add(size - 1)).wrapping_add(slack);
        let covers = if first <= last {
            (first..=last).contains(&fault_page)
        } else {
            // The operand wraps around the top of the address space.
            fault_page >= first || fault_page <= last
        };
        if covers {
            if writes {
                write = true;
            } else {
                read = true;
            }
        }
    }
    let insn_end = rip.wrapping_add(insn.len().saturating_sub(1) as u64);
    let in_insn = fault_page == page_align_down(rip) || fault_page == page_align_down(insn_end);
    if write {
        FaultAccess::Write
    } else if unsure {
        FaultAccess::Unknown
    } else if in_insn {
        FaultAccess::Exec
    } else if read {
        FaultAccess::Read
    } else {
        FaultAccess::Unknown
    }
}

/// The value of `reg` for effective-address computation; `None` for registers that cannot
/// appear in an x86-64 address (vector registers) or that we do not track.
fn register_value(regs: &Regs, reg: Register) -> Option<u64> {
    if reg.is_segment_register() {
        return Some(match reg {
            Register::FS => regs.fs_base,
            Register::GS => regs.gs_base,
            // ES, CS, SS, DS have base 0 in 64-bit mode.
            _ => 0,
        });
    }
    if !reg.is_gpr() {
        return match reg {
            Register::RIP => Some(regs.rip),
            _ => None,
        };
    }
    let full = match reg.full_register() {
        Register::RAX => regs.rax,
        Register::RBX => regs.rbx,
        Register::RCX => regs.rcx,
        Register::RDX => regs.rdx,
        Register::RSI => regs.rsi,
        Register::RDI => regs.rdi,
        Register::RBP => regs.rbp,
        Register::RSP => regs.rsp,
        Register::R8 => regs.r8,
        Register::R9 => regs.r9,
        Register::R10 => regs.r10,
        Register::R11 => regs.r11,
        Register::R12 => regs.r12,
        Register::R13 => regs.r13,
        Register::R14 => regs.r14,
        Register::R15 => regs.r15,
        _ => return None,
    };
    Some(match reg {
        // The high-byte registers.
        Register::AH | Register::BH | Register::CH | Register::DH => (full >> 8) & 0xff,
        _ => match reg.size() {
            1 => full & 0xff,
            2 => full & 0xffff,
            4 => full & 0xffff_ffff,
            _ => full,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RIP: u64 = 0x40_1000;

    fn regs() -> Regs {
        Regs {
            rax: 0x60_0010,
            rbx: 0x70_0020,
            rsi: 0x80_0000,
            rdi: 0x90_0000,
            rsp: 0x7ff_f000,
            fs_base: 0xa0_0000,
            ..Regs::new_user(RIP, 0x7ff_f000)
        }
    }

    fn at(code: &[u8], addr: u64) -> FaultAccess {
        classify(code, &regs(), addr)
    }

    #[test]
    fn store_through_a_register_is_a_write() {
        // mov dword [rax], 1
        assert_eq!(at(&[0xc7, 0x00, 1, 0, 0, 0], 0x60_0010), FaultAccess::Write);
        // The same page, another byte: faults are page granular.
        assert_eq!(at(&[0xc7, 0x00, 1, 0, 0, 0], 0x60_0ff0), FaultAccess::Write);
    }

    #[test]
    fn load_is_a_read_and_read_modify_write_is_a_write() {
        // mov eax, [rbx]
        assert_eq!(at(&[0x8b, 0x03], 0x70_0020), FaultAccess::Read);
        // add [rax], ecx
        assert_eq!(at(&[0x01, 0x08], 0x60_0010), FaultAccess::Write);
        // lock cmpxchg [rdi], ecx
        assert_eq!(at(&[0xf0, 0x0f, 0xb1, 0x0f], 0x90_0000), FaultAccess::Write);
    }

    #[test]
    fn movs_reads_the_source_and_writes_the_destination() {
        // movsb
        assert_eq!(at(&[0xa4], 0x80_0000), FaultAccess::Read);
        assert_eq!(at(&[0xa4], 0x90_0000), FaultAccess::Write);
        // rep stosb may fault a page ahead of rdi.
        assert_eq!(at(&[0xf3, 0xaa], 0x90_1000), FaultAccess::Write);
    }

    #[test]
    fn implicit_stack_rip_relative_and_fs_operands() {
        // push rax: writes [rsp - 8], on the page below.
        assert_eq!(at(&[0x50], 0x7ff_eff8), FaultAccess::Write);
        // mov eax, [rip + 0x2000]: relative to the next instruction.
        assert_eq!(
            at(&[0x8b, 0x05, 0x00, 0x20, 0, 0], RIP + 6 + 0x2000),
            FaultAccess::Read
        );
        // mov rax, fs:[0x28]
        assert_eq!(
            at(&[0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0], 0xa0_0028),
            FaultAccess::Read
        );
        // mov [eax], ecx with a 32-bit address: the upper half of rax is ignored.
        let mut r = regs();
        r.rax = 0xdead_0000_0060_0010;
        assert_eq!(
            classify(&[0x67, 0x89, 0x08], &r, 0x60_0010),
            FaultAccess::Write
        );
    }

    #[test]
    fn fetch_faults_are_exec() {
        // The instruction's own page.
        assert_eq!(at(&[0x8b, 0x03], RIP), FaultAccess::Exec);
        // Bytes run out at a page end: the rest is on the faulting page.
        let mut r = regs();
        r.rip = 0x40_1ffe;
        assert_eq!(classify(&[0xc7, 0x00], &r, 0x40_2000), FaultAccess::Exec);
        // Nothing readable at rip.
        assert_eq!(at(&[], RIP), FaultAccess::Exec);
    }

    #[test]
    fn undecidable_faults_are_unknown() {
        // lea rax, [rbx]: no memory access.
        assert_eq!(at(&[0x48, 0x8d, 0x03], 0x70_0020), FaultAccess::Unknown);
        // An operand elsewhere than the fault.
        assert_eq!(at(&[0x8b, 0x03], 0x12_3000), FaultAccess::Unknown);
        // Invalid in 64-bit mode (push es).
        assert_eq!(at(&[0x06], 0x70_0020), FaultAccess::Unknown);
        // 32-bit code.
        let mut r = regs();
        r.cs = 0x23;
        assert_eq!(classify(&[0x8b, 0x03], &r, 0x70_0020), FaultAccess::Unknown);
    }
}
