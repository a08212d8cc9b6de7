//! ELF64 file structures the loader parses: the file header (`Elf64_Ehdr`) and the program
//! header (`Elf64_Phdr`), with the constants it checks.
//!
//! Layouts and values follow include/uapi/linux/elf.h and the System V gABI. The structs are
//! `zerocopy::FromBytes`, so parsing a header out of untrusted bytes never panics; the loader
//! (sentry/src/loader) does all validation.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `\x7fELF`.
pub const ELFMAG: [u8; 4] = [0x7f, b'E', b'L', b'F'];
/// `e_ident[EI_CLASS]`: 64-bit objects.
pub const ELFCLASS64: u8 = 2;
/// `e_ident[EI_DATA]`: little-endian.
pub const ELFDATA2LSB: u8 = 1;
/// `e_ident[EI_VERSION]` / `e_version`: current version.
pub const EV_CURRENT: u8 = 1;
/// Index of the class byte in `e_ident`.
pub const EI_CLASS: usize = 4;
/// Index of the data-encoding byte in `e_ident`.
pub const EI_DATA: usize = 5;
/// Index of the version byte in `e_ident`.
pub const EI_VERSION: usize = 6;

/// `e_type`: executable file.
pub const ET_EXEC: u16 = 2;
/// `e_type`: shared object (also PIE and static-pie executables).
pub const ET_DYN: u16 = 3;
/// `e_machine`: AMD x86-64.
pub const EM_X86_64: u16 = 62;

/// `p_type`: loadable segment.
pub const PT_LOAD: u32 = 1;
/// `p_type`: dynamic linking information.
pub const PT_DYNAMIC: u32 = 2;
/// `p_type`: path of the program interpreter.
pub const PT_INTERP: u32 = 3;
/// `p_type`: auxiliary information.
pub const PT_NOTE: u32 = 4;
/// `p_type`: the program header table itself.
pub const PT_PHDR: u32 = 6;
/// `p_type`: thread-local storage template.
pub const PT_TLS: u32 = 7;
/// `p_type`: GNU stack permissions (executable stack if PF_X).
pub const PT_GNU_STACK: u32 = 0x6474_e551;
/// `p_type`: GNU read-only-after-relocation range.
pub const PT_GNU_RELRO: u32 = 0x6474_e552;
/// `p_type`: GNU property notes.
pub const PT_GNU_PROPERTY: u32 = 0x6474_e553;

/// `p_flags`: executable.
pub const PF_X: u32 = 1;
/// `p_flags`: writable.
pub const PF_W: u32 = 2;
/// `p_flags`: readable.
pub const PF_R: u32 = 4;

/// `Elf64_Ehdr`: the ELF file header (64 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Elf64Ehdr {
    pub e_ident: [u8; 16],
    pub e_type: u16,
    pub e_machine: u16,
    pub e_version: u32,
    pub e_entry: u64,
    pub e_phoff: u64,
    pub e_shoff: u64,
    pub e_flags: u32,
    pub e_ehsize: u16,
    pub e_phentsize: u16,
    pub e_phnum: u16,
    pub e_shentsize: u16,
    pub e_shnum: u16,
    pub e_shstrndx: u16,
}
const _: () = assert!(size_of::<Elf64Ehdr>() == 64);

/// `Elf64_Phdr`: one program header (56 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Elf64Phdr {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_paddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    pub p_align: u64,
}
const _: () = assert!(size_of::<Elf64Phdr>() == 56);
