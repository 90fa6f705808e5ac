"""A writer of Qt resource files (.rcc), the layout pretrained/qt_resources.py reads: the tests pack pictures the
way GCompris ships its photographs, without Qt and without the Debian package."""
import struct
import zlib

from pretrained.qt_resources import DIRECTORY, ZLIB


def pack_qt_resources(files: dict[str, bytes], compress: bool = False) -> bytes:
    """A version-2 .rcc file holding files (path inside it -> bytes), the layout read_qt_resources reads."""
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
