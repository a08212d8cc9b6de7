//! Reading a vDSO image the way a dynamic linker does (glibc's `setup_vdso`, musl's
//! `__vdsosym`): through PT_DYNAMIC to the symbol, string, hash and version tables, with every
//! offset checked (the image is the kernel's, but a broken one must fail a test, not crash
//! the binary). The bytes come from [`crate::sys::vdso_image`].

use abi::elf::*;
use zerocopy::FromBytes;

/// A vDSO image and the dynamic tables found in it. Addresses in the dynamic section are
/// image offsets: a vDSO is linked at 0 and nobody relocates it.
#[derive(Debug)]
pub struct Image<'a> {
    bytes: &'a [u8],
    strtab: u64,
    symtab: u64,
    hash: Option<u64>,
    gnu_hash: Option<u64>,
    versym: Option<u64>,
    verdef: Option<(u64, u64)>,
    /// DT_SONAME's string.
    pub soname: Option<String>,
}

/// A symbol found by [`Image::lookup`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Offset of the symbol in the image.
    pub value: u64,
    /// `STT_FUNC`.
    pub is_function: bool,
    /// The name of the version it is defined with (DT_VERSYM → DT_VERDEF), if versioned.
    pub version: Option<String>,
}

fn read<T: FromBytes>(bytes: &[u8], off: u64) -> Result<T, String> {
    let start = usize::try_from(off).map_err(|_| format!("offset {off:#x}"))?;
    let end = start
        .checked_add(size_of::<T>())
        .ok_or_else(|| format!("offset {off:#x}"))?;
    let s = bytes
        .get(start..end)
        .ok_or_else(|| format!("offset {off:#x} is outside the {}-byte image", bytes.len()))?;
    T::read_from_bytes(s).map_err(|_| format!("unreadable at {off:#x}"))
}

impl<'a> Image<'a> {
    /// Finds the dynamic tables; `Err` says what is missing or out of bounds.
    pub fn parse(bytes: &'a [u8]) -> Result<Image<'a>, String> {
        let ehdr: Elf64Ehdr = read(bytes, 0)?;
        if ehdr.e_ident.get(..4) != Some(&ELFMAG[..]) {
            return Err("no ELF magic".into());
        }
        if ehdr.e_type != ET_DYN || ehdr.e_machine != EM_X86_64 {
            return Err(format!(
                "e_type {} e_machine {}: not an x86-64 shared object",
                ehdr.e_type, ehdr.e_machine
            ));
        }
        let mut dynamic = None;
        for i in 0..u64::from(ehdr.e_phnum) {
            let ph: Elf64Phdr = read(bytes, ehdr.e_phoff + i * size_of::<Elf64Phdr>() as u64)?;
            if ph.p_type == PT_DYNAMIC {
                dynamic = Some(ph);
            }
        }
        let dynamic = dynamic.ok_or("no PT_DYNAMIC")?;
        let mut image = Image {
            bytes,
            strtab: 0,
            symtab: 0,
            hash: None,
            gnu_hash: None,
            versym: None,
            verdef: None,
            soname: None,
        };
        let (mut strtab, mut symtab, mut soname, mut verdef, mut verdefnum) =
            (None, None, None, None, None);
        for i in 0..dynamic.p_filesz / size_of::<Elf64Dyn>() as u64 {
            let d: Elf64Dyn = read(bytes, dynamic.p_offset + i * size_of::<Elf64Dyn>() as u64)?;
            match d.d_tag {
                DT_NULL => break,
                DT_STRTAB => strtab = Some(d.d_val),
                DT_SYMTAB => symtab = Some(d.d_val),
                DT_HASH => image.hash = Some(d.d_val),
                DT_GNU_HASH => image.gnu_hash = Some(d.d_val),
                DT_VERSYM => image.versym = Some(d.d_val),
                DT_VERDEF => verdef = Some(d.d_val),
                DT_VERDEFNUM => verdefnum = Some(d.d_val),
                DT_SONAME => soname = Some(d.d_val),
                _ => {}
            }
        }
        image.strtab = strtab.ok_or("no DT_STRTAB")?;
        image.symtab = symtab.ok_or("no DT_SYMTAB")?;
        if image.hash.is_none() && image.gnu_hash.is_none() {
            return Err("neither DT_HASH nor DT_GNU_HASH".into());
        }
        image.verdef = verdef.zip(verdefnum);
        if let Some(s) = soname {
            image.soname = Some(image.string(u32::try_from(s).map_err(|_| "DT_SONAME")?)?);
        }
        Ok(image)
    }

    /// The NUL-terminated string at `name` in the string table.
    fn string(&self, name: u32) -> Result<String, String> {
        let start = usize::try_from(self.strtab + u64::from(name)).map_err(|_| "strtab")?;
        let rest = self.bytes.get(start..).ok_or("string outside the image")?;
        let len = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or("unterminated string")?;
        Ok(String::from_utf8_lossy(rest.get(..len).unwrap_or_default()).into_owned())
    }

    fn sym(&self, index: u32) -> Result<Elf64Sym, String> {
        read(
            self.bytes,
            self.symtab + u64::from(index) * size_of::<Elf64Sym>() as u64,
        )
    }

    fn u32_at(&self, off: u64) -> Result<u32, String> {
        read(self.bytes, off)
    }

    /// Looks `name` up as glibc does (DT_GNU_HASH if present, else DT_HASH, which musl
    /// uses): the defined symbol of that name, with its version.
    pub fn lookup(&self, name: &str) -> Result<Option<Symbol>, String> {
        let index = match self.gnu_hash {
            Some(t) => self.gnu_lookup(t, name)?,
            None => match self.hash {
                Some(t) => self.sysv_lookup(t, name)?,
                None => None,
            },
        };
        let Some(i) = index else {
            return Ok(None);
        };
        let s = self.sym(i)?;
        if s.st_shndx == SHN_UNDEF {
            return Ok(None);
        }
        Ok(Some(Symbol {
            value: s.st_value,
            is_function: s.st_info & 0xf == STT_FUNC,
            version: self.version_of(i)?,
        }))
    }

    /// DT_HASH (gABI "Hash Table"): buckets and chains of symbol indices.
    fn sysv_lookup(&self, table: u64, name: &str) -> Result<Option<u32>, String> {
        let mut h: u32 = 0;
        for b in name.bytes() {
            h = (h << 4).wrapping_add(u32::from(b));
            let g = h & 0xf000_0000;
            if g != 0 {
                h ^= g >> 24;
            }
            h &= !g;
        }
        let nbucket = self.u32_at(table)?;
        let nchain = self.u32_at(table + 4)?;
        if nbucket == 0 {
            return Ok(None);
        }
        let chains = table + 8 + u64::from(nbucket) * 4;
        let mut i = self.u32_at(table + 8 + u64::from(h % nbucket) * 4)?;
        let mut steps = 0;
        while i != 0 && steps <= nchain {
            if self.string(self.sym(i)?.st_name)? == name {
                return Ok(Some(i));
            }
            i = self.u32_at(chains + u64::from(i) * 4)?;
            steps += 1;
        }
        Ok(None)
    }

    /// DT_GNU_HASH: bloom filter, buckets, then chains of hashes whose low bit ends a chain.
    fn gnu_lookup(&self, table: u64, name: &str) -> Result<Option<u32>, String> {
        let h = name.bytes().fold(5381u32, |h, b| {
            h.wrapping_mul(33).wrapping_add(u32::from(b))
        });
        let nbuckets = self.u32_at(table)?;
        let symoffset = self.u32_at(table + 4)?;
        let bloom_size = self.u32_at(table + 8)?;
        let bloom_shift = self.u32_at(table + 12)?;
        if nbuckets == 0 || bloom_size == 0 {
            return Ok(None);
        }
        let bloom = table + 16;
        let word: u64 = read(self.bytes, bloom + u64::from((h / 64) % bloom_size) * 8)?;
        let mask = (1u64 << (h % 64)) | (1u64 << ((h >> (bloom_shift % 32)) % 64));
        if word & mask != mask {
            return Ok(None);
        }
        let buckets = bloom + u64::from(bloom_size) * 8;
        let chains = buckets + u64::from(nbuckets) * 4;
        let mut i = self.u32_at(buckets + u64::from(h % nbuckets) * 4)?;
        if i < symoffset {
            return Ok(None);
        }
        loop {
            let h2 = self.u32_at(chains + u64::from(i - symoffset) * 4)?;
            if (h | 1) == (h2 | 1) && self.string(self.sym(i)?.st_name)? == name {
                return Ok(Some(i));
            }
            if h2 & 1 != 0 {
                return Ok(None);
            }
            i = i.checked_add(1).ok_or("endless chain")?;
        }
    }

    /// The version symbol `index` is defined with.
    fn version_of(&self, index: u32) -> Result<Option<String>, String> {
        let (Some(versym), Some((mut at, count))) = (self.versym, self.verdef) else {
            return Ok(None);
        };
        let ndx = read::<u16>(self.bytes, versym + u64::from(index) * 2)? & !VERSYM_HIDDEN;
        for _ in 0..count {
            let vd: Elf64Verdef = read(self.bytes, at)?;
            if vd.vd_ndx == ndx {
                let aux: Elf64Verdaux = read(self.bytes, at + u64::from(vd.vd_aux))?;
                return self.string(aux.vda_name).map(Some);
            }
            if vd.vd_next == 0 {
                break;
            }
            at += u64::from(vd.vd_next);
        }
        Ok(None)
    }
}
