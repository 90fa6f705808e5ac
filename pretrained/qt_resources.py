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
