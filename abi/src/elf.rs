//! ELF64 file structures the loader parses: the file header (`Elf64_Ehdr`) and the program
//! header (`Elf64_Phdr`), with the constants it checks; and the dynamic-section structures
//! (`Elf64_Dyn`, `Elf64_Sym`, symbol versions) a dynamic linker reads from the vDSO, which
//! the sentry's tests check its own vDSO image against.
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

/// `d_tag`: end of the dynamic section.
pub const DT_NULL: i64 = 0;
/// `d_tag`: the SysV symbol hash table.
pub const DT_HASH: i64 = 4;
/// `d_tag`: the dynamic string table.
pub const DT_STRTAB: i64 = 5;
/// `d_tag`: the dynamic symbol table.
pub const DT_SYMTAB: i64 = 6;
/// `d_tag`: relocations with addends.
pub const DT_RELA: i64 = 7;
/// `d_tag`: size of the string table.
pub const DT_STRSZ: i64 = 10;
/// `d_tag`: offset of the shared object's name in the string table.
pub const DT_SONAME: i64 = 14;
/// `d_tag`: relocations without addends.
pub const DT_REL: i64 = 17;
/// `d_tag`: relocations may modify a non-writable segment.
pub const DT_TEXTREL: i64 = 22;
/// `d_tag`: PLT relocations.
pub const DT_JMPREL: i64 = 23;
/// `d_tag`: the GNU-style symbol hash table.
pub const DT_GNU_HASH: i64 = 0x6fff_fef5;
/// `d_tag`: the symbol version table (one `Elf64_Versym` per dynamic symbol).
pub const DT_VERSYM: i64 = 0x6fff_fff0;
/// `d_tag`: count of relative relocations (`DT_RELACOUNT`).
pub const DT_RELACOUNT: i64 = 0x6fff_fff9;
/// `d_tag`: the version definition table.
pub const DT_VERDEF: i64 = 0x6fff_fffc;
/// `d_tag`: number of version definitions.
pub const DT_VERDEFNUM: i64 = 0x6fff_fffd;

/// `Elf64_Dyn`: one dynamic-section entry (16 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Elf64Dyn {
    pub d_tag: i64,
    pub d_val: u64,
}
const _: () = assert!(size_of::<Elf64Dyn>() == 16);

/// `st_info` type: a function.
pub const STT_FUNC: u8 = 2;
/// `st_info` binding: global.
pub const STB_GLOBAL: u8 = 1;
/// `st_info` binding: weak.
pub const STB_WEAK: u8 = 2;
/// `st_shndx`: undefined symbol.
pub const SHN_UNDEF: u16 = 0;

/// `Elf64_Sym`: one symbol (24 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Elf64Sym {
    pub st_name: u32,
    pub st_info: u8,
    pub st_other: u8,
    pub st_shndx: u16,
    pub st_value: u64,
    pub st_size: u64,
}
const _: () = assert!(size_of::<Elf64Sym>() == 24);

/// `Elf64_Verdef`: one version definition (20 bytes); `vd_aux` and `vd_next` are byte offsets
/// to its first `Elf64_Verdaux` and to the next definition.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Elf64Verdef {
    pub vd_version: u16,
    pub vd_flags: u16,
    pub vd_ndx: u16,
    pub vd_cnt: u16,
    pub vd_hash: u32,
    pub vd_aux: u32,
    pub vd_next: u32,
}
const _: () = assert!(size_of::<Elf64Verdef>() == 20);

/// `Elf64_Verdaux`: the name of a version definition (8 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Elf64Verdaux {
    pub vda_name: u32,
    pub vda_next: u32,
}
const _: () = assert!(size_of::<Elf64Verdaux>() == 8);

/// `vd_flags`: the version definition of the file itself.
pub const VER_FLG_BASE: u16 = 1;
/// The `Elf64_Versym` bit that hides a symbol from unversioned lookups.
pub const VERSYM_HIDDEN: u16 = 0x8000;
