//! A tiny box walker for the tests: splits bytes into boxes, recursing into
//! the containers this writer produces, and checks that every size field
//! equals the box's extent and that children fill their parent exactly.

/// One box: its type, where it is, and its children if it is a container.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub kind: [u8; 4],
    /// Offset of the box's first byte in the walked data.
    pub start: usize,
    /// Offset just past the box.
    pub end: usize,
    /// Offset of the content after the 8-byte header.
    pub body: usize,
    pub children: Vec<Node>,
}

impl Node {
    /// The box's content (after the 8-byte header) in `data`.
    pub fn content<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        &data[self.body..self.end]
    }

    /// The only child of type `kind`; panics when there is not exactly one.
    pub fn child(&self, kind: &[u8; 4]) -> &Node {
        let found: Vec<&Node> = self.children.iter().filter(|c| &c.kind == kind).collect();
        assert_eq!(
            found.len(),
            1,
            "{} children of type {} in {}",
            found.len(),
            fourcc(kind),
            fourcc(&self.kind)
        );
        found[0]
    }

    /// The descendant at `path` (each step a unique child).
    pub fn at(&self, path: &[&[u8; 4]]) -> &Node {
        path.iter().fold(self, |n, k| n.child(k))
    }

    /// Children types, for layout assertions.
    pub fn kinds(&self) -> Vec<String> {
        self.children.iter().map(|c| fourcc(&c.kind)).collect()
    }
}

pub(super) fn fourcc(kind: &[u8; 4]) -> String {
    String::from_utf8_lossy(kind).into_owned()
}

/// Bytes of content before the children of a container, or `None` for a leaf.
fn children_offset(kind: &[u8; 4]) -> Option<usize> {
    match kind {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"dinf" | b"stbl" | b"mvex" | b"moof" | b"traf" => {
            Some(0)
        }
        // Full box header and entry_count (§8.5.2, §8.7.2).
        b"stsd" | b"dref" => Some(8),
        // VisualSampleEntry (§12.1.3) and AudioSampleEntry (§12.2.3) fields.
        b"avc1" => Some(78),
        b"mp4a" => Some(28),
        _ => None,
    }
}

/// Walks a sequence of top-level boxes that must fill `data` exactly.
pub(super) fn walk(data: &[u8]) -> Result<Vec<Node>, String> {
    walk_range(data, 0, data.len())
}

fn walk_range(data: &[u8], mut pos: usize, end: usize) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    while pos < end {
        if end - pos < 8 {
            return Err(format!("{} stray bytes at {pos}", end - pos));
        }
        let size = u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]);
        let kind = [data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]];
        let size = size as usize;
        if size < 8 || size > end - pos {
            return Err(format!(
                "box {} at {pos}: size {size} outside its parent ({} bytes left)",
                fourcc(&kind),
                end - pos
            ));
        }
        let box_end = pos + size;
        let body = pos + 8;
        let children = match children_offset(&kind) {
            Some(skip) if body + skip > box_end => {
                return Err(format!("{} too short for its fields", fourcc(&kind)));
            }
            Some(skip) => walk_range(data, body + skip, box_end)?,
            None => Vec::new(),
        };
        nodes.push(Node {
            kind,
            start: pos,
            end: box_end,
            body,
            children,
        });
        pos = box_end;
    }
    Ok(nodes)
}

/// Big-endian reads at offsets into a box's content.
pub(super) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(super) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) << 32 | u64::from(u32_at(b, at + 4))
}

/// One parsed `trun` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TrunEntry {
    pub duration: u32,
    pub size: u32,
    pub flags: u32,
    pub cts: i32,
}

/// A parsed `trun`: version, flags, data_offset and entries (only the
/// layouts this writer produces: data offset, duration, size, flags, and
/// optionally composition offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Trun {
    pub version: u8,
    pub flags: u32,
    pub data_offset: i32,
    pub entries: Vec<TrunEntry>,
}

pub(super) fn parse_trun(content: &[u8]) -> Trun {
    let version = content[0];
    let flags = u32_at(content, 0) & 0xff_ffff;
    assert_eq!(flags & !0x000f01, 0, "unexpected trun flags {flags:#x}");
    assert_eq!(flags & 0x000701, 0x000701, "trun flags {flags:#x}");
    let count = u32_at(content, 4) as usize;
    let data_offset = u32_at(content, 8) as i32;
    let cts = flags & 0x800 != 0;
    let entry_len = if cts { 16 } else { 12 };
    assert_eq!(content.len(), 12 + count * entry_len, "trun length");
    let entries = (0..count)
        .map(|i| {
            let at = 12 + i * entry_len;
            TrunEntry {
                duration: u32_at(content, at),
                size: u32_at(content, at + 4),
                flags: u32_at(content, at + 8),
                cts: if cts {
                    u32_at(content, at + 12) as i32
                } else {
                    0
                },
            }
        })
        .collect();
    Trun {
        version,
        flags,
        data_offset,
        entries,
    }
}
