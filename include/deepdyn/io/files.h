#pragma once
// Files that survive crashes and reveal damage: atomic writes, and the checksums of LibTorch's
// zip archives (checkpoints, torch.save files) checked before anything is loaded from them.
#include <cstdint>
#include <string>
#include <vector>

namespace deepdyn::io {

/// Writes `bytes` to `path` through a temporary file in the same directory (named after this
/// process, so concurrent writers do not share it) and a rename; a failed write removes it.
void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes);

/// Fails, naming `origin` and the damaged entry, unless every stored entry of the zip archive in
/// `bytes` matches the CRC-32 its central directory records (LibTorch's reader does not check them,
/// so a flipped byte inside a tensor would load as a different number).
void check_zip_checksums(const std::string& bytes, const std::string& origin);

}  // namespace deepdyn::io
