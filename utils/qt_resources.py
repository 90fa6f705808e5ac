"""Read the files packed in a Qt resource file (.rcc), such as GCompris' photographs, without Qt.

A .rcc file starts with b"qres", a version and three offsets: a tree of entries (directories and files), the
files' data and their names. Each tree entry is 14 bytes (version 1) or 22 (version 2 and 3: 8 more for the
modification time); a file's data is a 4-byte length and its bytes, zlib-compressed when flag 1 is set.
"""
import struct
import zlib
from pathlib import Path

from utils.errors import UserError

DIRECTORY, ZLIB, ZSTD = 2, 1, 4  # entry flags


def read_qt_resources(path: Path) -> dict[str, bytes]:
    """Every file packed in the .rcc file, by its path inside it ("folder/name.webp")."""
    data = path.read_bytes()
    if data[:4] != b"qres" or len(data) < 20:
        raise UserError(f"{path}: not a Qt resource file (it should start with 'qres')")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    entry_size = 14 if version == 1 else 22

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names + offset:names + offset + 2])
        start = names + offset + 6  # the length, then a 4-byte hash, then UTF-16 characters
        return data[start:start + 2 * length].decode("utf-16-be")

    files = {}
    pending = [(0, "")]  # (entry index, its path); entry 0 is the root directory
    while pending:
        index, entry_path = pending.pop()
        entry = tree + index * entry_size
        flags, = struct.unpack(">H", data[entry + 4:entry + 6])
        if flags & DIRECTORY:
            count, first = struct.unpack(">II", data[entry + 6:entry + 14])
            for child in range(first, first + count):
                (name_offset,) = struct.unpack(">I", data[tree + child * entry_size:tree + child * entry_size + 4])
                pending.append((child, f"{entry_path}/{name_at(name_offset)}".lstrip("/")))
            continue
        (offset,) = struct.unpack(">I", data[entry + 10:entry + 14])
        (size,) = struct.unpack(">I", data[payload + offset:payload + offset + 4])
        blob = data[payload + offset + 4:payload + offset + 4 + size]
        if flags & ZSTD:
            raise UserError(f"{path}: {entry_path} is zstd-compressed, which this reader does not unpack")
        files[entry_path] = zlib.decompress(blob[4:]) if flags & ZLIB else blob  # zlib data after its 4-byte size
    return files


def pack_qt_resources(files: dict[str, bytes], compress: bool = False) -> bytes:
    """A version-2 .rcc file holding files (path inside it -> bytes), the layout read_qt_resources reads; for
    tests and for packing pictures the way Qt applications ship them."""
    tree_dirs: dict[str, list[str]] = {"": []}  # directory -> its children's full paths
    for path in sorted(files):
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            parent, child = "/".join(parts[:depth - 1]), "/".join(parts[:depth])
            children = tree_dirs.setdefault(parent, [])
            if child not in children:
                children.append(child)
            if depth < len(parts):
                tree_dirs.setdefault(child, [])
    # Breadth-first numbering: a directory's children are consecutive entries.
    order, index = [""], 0
    while index < len(order):
        order.extend(tree_dirs.get(order[index], []))
        index += 1
    names, name_offsets = b"", {}
    for path in order[1:]:
        name = path.rsplit("/", 1)[-1]
        name_offsets[path] = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
    payload, entries = b"", b""
    for path in order:
        name_offset = name_offsets.get(path, 0)
        if path in tree_dirs:
            first = order.index(tree_dirs[path][0]) if tree_dirs[path] else 0
            entries += struct.pack(">IHII", name_offset, DIRECTORY, len(tree_dirs[path]), first) + bytes(8)
            continue
        blob = files[path]
        if compress:
            blob = struct.pack(">I", len(blob)) + zlib.compress(blob)
        entries += struct.pack(">IHHHI", name_offset, ZLIB if compress else 0, 0, 0, len(payload)) + bytes(8)
        payload += struct.pack(">I", len(blob)) + blob
    header_size = 24  # b"qres", version, three offsets, and version 2's flags word
    tree, data, names_at = header_size, header_size + len(entries), header_size + len(entries) + len(payload)
    return b"qres" + struct.pack(">IIIII", 2, tree, data, names_at, 0) + entries + payload + names
