//! Checked little-endian readers and writers for 9P fields.
//!
//! 9P encodes integers little-endian and strings as `len[2] bytes[len]` (intro(5) of the Plan 9
//! manual; 9P2000.L keeps the same framing). `Reader` never panics: every read is bounds-checked
//! and a short buffer is `P9Error::Truncated`, the smoltcp "checked parsing" habit.

use crate::{P9Error, Qid};

/// A cursor over one message body. Reads fail with `Truncated` past the end.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], P9Error> {
        if n > self.buf.len() {
            return Err(P9Error::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], P9Error> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, P9Error> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, P9Error> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, P9Error> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, P9Error> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A `len[2] bytes` string. Names are kept as bytes: Linux file names need not be UTF-8.
    pub(crate) fn string(&mut self) -> Result<Vec<u8>, P9Error> {
        let len = self.u16()?;
        Ok(self.bytes(usize::from(len))?.to_vec())
    }

    pub(crate) fn qid(&mut self) -> Result<Qid, P9Error> {
        Ok(Qid {
            ty: self.u8()?,
            version: self.u32()?,
            path: self.u64()?,
        })
    }

    /// Fails unless the whole body was consumed: trailing bytes mean a framing bug or garbage.
    pub(crate) fn finish(self) -> Result<(), P9Error> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(P9Error::TrailingBytes(self.buf.len()))
        }
    }
}

/// Appends fields to a message buffer. Infallible except for strings longer than `u16::MAX`,
/// which `put_string` reports so a caller never sends a length prefix that lies.
pub(crate) struct Writer<'a> {
    pub(crate) buf: &'a mut Vec<u8>,
}

impl Writer<'_> {
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn string(&mut self, s: &[u8]) -> Result<(), P9Error> {
        let len = u16::try_from(s.len()).map_err(|_| P9Error::StringTooLong(s.len()))?;
        self.u16(len);
        self.buf.extend_from_slice(s);
        Ok(())
    }
    pub(crate) fn qid(&mut self, q: &Qid) {
        self.u8(q.ty);
        self.u32(q.version);
        self.u64(q.path);
    }
    /// `count[4] data[count]`.
    pub(crate) fn data(&mut self, d: &[u8]) -> Result<(), P9Error> {
        let len = u32::try_from(d.len()).map_err(|_| P9Error::TooLarge {
            size: usize::MAX,
            msize: u32::MAX,
        })?;
        self.u32(len);
        self.buf.extend_from_slice(d);
        Ok(())
    }
}
